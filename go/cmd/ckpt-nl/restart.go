package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/ckpt-nl/ckpt-nl/go/image"
	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/plan"
	"github.com/ckpt-nl/ckpt-nl/go/restore"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot"
)

func init() {
	var (
		backend, reader string
		noPids, dryRun  bool
		inPlace, asJSON bool
	)
	register(&command{
		name:    "restart",
		summary: "bring an image's tree back, with the same pids at every level, and leave it running",
		usage:   "FILE",
		examples: []string{
			"ckpt-nl restart tree.img",
			"ckpt-nl restart --dry-run tree.img",
			"ckpt-nl restart --no-pids tree.img",
		},
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&backend, "backend", "auto", "validation: kmod (in-kernel restart context), userspace, or auto (kmod when loaded)")
			fs.StringVar(&reader, "reader", "auto", "backend that reads the restored tree back: auto, kmod, bpf or procfs")
			fs.BoolVar(&noPids, "no-pids", false, "let the kernel choose every pid and print the old-to-new mapping")
			fs.BoolVar(&dryRun, "dry-run", false, "print the plan (who creates whom, with which flags and pids) and stop")
			fs.BoolVar(&inPlace, "in-place", false, "restore a subtree image in this pid namespace (its pids must be free) rather than under a new init")
			fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
		},
		run: func(ctx *runContext, args []string) error {
			if len(args) != 1 {
				return &usageError{"want exactly one image file"}
			}
			s, err := image.ReadFile(args[0])
			if err != nil {
				return err
			}
			if dryRun {
				p, err := plan.MakeForest(s, plan.Options{NoPids: noPids, InPlace: inPlace})
				if err != nil {
					return err
				}
				if asJSON {
					enc := json.NewEncoder(ctx.stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(p)
				}
				return p.WriteText(ctx.stdout)
			}
			rd, _, err := pickBackend(reader)
			if err != nil {
				return err
			}
			v, err := pickValidator(backend)
			if err != nil {
				return err
			}
			opt := restore.Options{NoPids: noPids, InPlace: inPlace, Reader: rd, Validator: v}
			// A progress bar on a terminal, for trees big enough to wait for.
			var bar *progressbar.ProgressBar
			if f, ok := ctx.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) && !asJSON && len(s.Tasks) >= 500 {
				bar = progressbar.NewOptions(len(s.Tasks), progressbar.OptionSetWriter(f),
					progressbar.OptionSetDescription("restart: creating tasks"), progressbar.OptionClearOnFinish(),
					progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond))
				opt.Progress = func(stage string, done, total int) {
					bar.Describe("restart: " + stage)
					if done > 0 {
						bar.Set(min(done, len(s.Tasks)))
					}
				}
			}
			res, err := restore.Restore(s, opt)
			if bar != nil {
				bar.Finish()
			}
			if v != nil {
				v.Close()
			}
			if err != nil {
				return explain(err)
			}
			if asJSON {
				return json.NewEncoder(ctx.stdout).Encode(struct {
					Root       int               `json:"root"`
					Tasks      int               `json:"tasks"`
					Validation string            `json:"validation"`
					Stages     []restore.Stage   `json:"stages"`
					Map        []restore.Mapping `json:"mapping,omitempty"`
				}{res.Root, len(s.Tasks), res.Validation, res.Stages, res.Map})
			}
			var stages []string
			for _, st := range res.Stages {
				stages = append(stages, fmt.Sprintf("%s %.1f ms", st.Name, float64(st.Took.Microseconds())/1000))
			}
			fmt.Fprintf(ctx.stderr, "restart: %d tasks restored and validated: %s\nrestart: %s\n",
				len(s.Tasks), res.Validation, strings.Join(stages, ", "))
			for _, m := range res.Map {
				fmt.Fprintf(ctx.stdout, "%s %s -> %s\n", m.Comm, nums(m.Old), nums(m.New))
			}
			fmt.Fprintln(ctx.stdout, res.Root)
			return nil
		},
	})
	register(&command{
		name:     "verify",
		summary:  "compare a live tree with an image (exit 3 when they differ)",
		usage:    "--pid PID FILE",
		examples: []string{"ckpt-nl verify --pid 4242 tree.img"},
		flags: func(fs *pflag.FlagSet) {
			fs.IntVar(&verifyPid, "pid", 0, "root of the live tree")
			fs.StringVar(&verifyBackend, "backend", "auto", "backend that reads the live tree")
			fs.BoolVar(&verifyJSON, "json", false, "print the differences as a JSON list")
		},
		run: func(ctx *runContext, args []string) error {
			if len(args) != 1 {
				return &usageError{"want exactly one image file"}
			}
			if verifyPid <= 0 {
				return &usageError{"--pid is required"}
			}
			want, err := image.ReadFile(args[0])
			if err != nil {
				return err
			}
			be, _, err := pickBackend(verifyBackend)
			if err != nil {
				return err
			}
			got, err := be.Snapshot(snapshot.Request{Pid: verifyPid, Mode: want.Mode})
			if err != nil {
				return explain(err)
			}
			return reportDiff(ctx, model.Diff(want, got), args[0], fmt.Sprintf("live tree %d", verifyPid), verifyJSON)
		},
	})
}

var (
	verifyPid     int
	verifyBackend string
	verifyJSON    bool
)

func nums(n []int32) string {
	s := make([]string, len(n))
	for i, v := range n {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, "/")
}

// pickValidator returns the in-kernel validator for "kmod" (and for
// "auto" when the module is loaded), nil for userspace validation.
func pickValidator(name string) (restore.Validator, error) {
	switch name {
	case "userspace":
		return nil, nil
	case "kmod", "auto":
		v, err := newKernelValidator()
		if err != nil {
			if name == "auto" {
				return nil, nil
			}
			return nil, err
		}
		return v, nil
	}
	return nil, &usageError{fmt.Sprintf("unknown restart backend %q (want auto, kmod or userspace)", name)}
}
