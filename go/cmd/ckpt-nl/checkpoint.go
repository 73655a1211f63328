package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/ckpt-nl/ckpt-nl/go/image"
	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot/bpfsnap"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot/kmodsnap"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot/procfs"
)

// pickBackend returns the named backend, or for "auto" the first that
// works here: kmod, then bpf, then procfs. why explains the choice.
func pickBackend(name string) (b snapshot.Backend, why string, err error) {
	switch name {
	case "kmod":
		if ok, reason := kmodsnap.Available(); !ok {
			return nil, "", fmt.Errorf("kmod backend unavailable: %s", reason)
		}
		return kmodsnap.Backend{}, "as asked", nil
	case "bpf":
		if ok, reason := bpfsnap.Available(); !ok {
			return nil, "", fmt.Errorf("bpf backend unavailable: %s", reason)
		}
		return bpfsnap.Backend{}, "as asked", nil
	case "procfs":
		return procfs.Backend{}, "as asked", nil
	case "auto":
		var skipped []string
		if ok, reason := kmodsnap.Available(); ok {
			return kmodsnap.Backend{}, "auto: module loaded", nil
		} else {
			skipped = append(skipped, "kmod: "+reason)
		}
		if ok, reason := bpfsnap.Available(); ok {
			return bpfsnap.Backend{}, "auto: " + strings.Join(skipped, "; "), nil
		} else {
			skipped = append(skipped, "bpf: "+reason)
		}
		return procfs.Backend{}, "auto: " + strings.Join(skipped, "; "), nil
	}
	return nil, "", &usageError{fmt.Sprintf("unknown backend %q (want auto, kmod, bpf or procfs)", name)}
}

// detectMode is container when pid is the init of its pid namespace.
func detectMode(pid int) (model.Mode, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("pid %d: %w", pid, snapshot.ErrNoTask)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "NSpid:" {
			if f[len(f)-1] == "1" {
				return model.ModeContainer, nil
			}
			return model.ModeSubtree, nil
		}
	}
	return model.ModeSubtree, nil
}

func init() {
	var (
		pid            int
		mode, backend  string
		out            string
		noMeta, asJSON bool
		argv           bool
	)
	register(&command{
		name:    "checkpoint",
		summary: "snapshot a live tree's identity into an image",
		usage:   "--pid PID -o FILE",
		examples: []string{
			"ckpt-nl checkpoint --pid 4242 -o tree.img",
			"ckpt-nl checkpoint --pid 4242 --mode subtree --backend procfs -o tree.img",
		},
		flags: func(fs *pflag.FlagSet) {
			fs.IntVar(&pid, "pid", 0, "root of the tree, a process in this pid namespace")
			fs.StringVar(&mode, "mode", "auto", "container (the root is a namespace's init and all pids are inside), subtree, or auto")
			fs.StringVar(&backend, "backend", "auto", "kmod, bpf, procfs, or auto (the first of these that works)")
			fs.StringVarP(&out, "output", "o", "", "image file to write")
			fs.BoolVar(&noMeta, "no-meta", false, "leave out comm, argv, kernel and time: identity only")
			fs.BoolVar(&argv, "argv", false, "record every process's arguments too (reads /proc/PID/cmdline for each)")
			fs.BoolVar(&asJSON, "json", false, "print the summary as JSON")
		},
		run: func(ctx *runContext, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if pid <= 0 {
				return &usageError{"--pid is required"}
			}
			if out == "" {
				return &usageError{"-o FILE is required"}
			}
			var m model.Mode
			var err error
			if mode == "auto" {
				if m, err = detectMode(pid); err != nil {
					return err
				}
			} else if m, err = model.ParseMode(mode); err != nil {
				return &usageError{err.Error()}
			}
			be, why, err := pickBackend(backend)
			if err != nil {
				return err
			}
			if !asJSON {
				fmt.Fprintf(ctx.stderr, "checkpoint: %s backend (%s), %s mode\n", be.Name(), why, m)
			}
			start := time.Now()
			s, err := be.Snapshot(snapshot.Request{Pid: pid, Mode: m, Argv: argv && !noMeta})
			if err != nil {
				return explain(err)
			}
			took := time.Since(start)
			if err := image.WriteFile(out, s, image.Options{NoMeta: noMeta}); err != nil {
				return err
			}
			sum := summary{File: out, Backend: be.Name(), Mode: m.String(), Tasks: len(s.Tasks), Pids: len(s.Pids),
				Vpids: s.NrVpids(), Namespaces: len(s.Namespaces), Ghosts: len(s.Ghosts()), Millis: float64(took.Microseconds()) / 1000}
			if asJSON {
				return json.NewEncoder(ctx.stdout).Encode(sum)
			}
			fmt.Fprintf(ctx.stdout, "wrote %s: %d tasks, %d pid objects (%d ghosts-to-be), %d pid namespaces in %.1f ms\n",
				out, sum.Tasks, sum.Pids, sum.Ghosts, sum.Namespaces, sum.Millis)
			return nil
		},
	})
}

type summary struct {
	File       string  `json:"file"`
	Backend    string  `json:"backend"`
	Mode       string  `json:"mode"`
	Tasks      int     `json:"tasks"`
	Pids       int     `json:"pid_objects"`
	Vpids      int     `json:"nr_vpids"`
	Namespaces int     `json:"pid_namespaces"`
	Ghosts     int     `json:"ghosts"`
	Millis     float64 `json:"milliseconds"`
}

// explain adds what to do next to the errors users meet most.
func explain(err error) error {
	var oe *model.OutsideError
	switch {
	case errors.As(err, &oe):
		return err
	case errors.Is(err, unix.EBUSY) && strings.Contains(err.Error(), "outside"):
		return fmt.Errorf("%w (checkpoint it with --mode subtree)", err)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w (run as root, or with CAP_CHECKPOINT_RESTORE and CAP_SYS_PTRACE)", err)
	}
	return err
}
