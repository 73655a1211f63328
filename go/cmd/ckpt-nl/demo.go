package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/ckpt-nl/ckpt-nl/go/executor"
	"github.com/ckpt-nl/ckpt-nl/go/image"
	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/restore"
	"github.com/ckpt-nl/ckpt-nl/go/scenario"
	"github.com/ckpt-nl/ckpt-nl/go/sim"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot"
)

func init() {
	var (
		name, backend, dir string
		seed               uint64
		keep               bool
	)
	register(&command{
		name:    "demo",
		summary: "build an embedded example tree, checkpoint it, show it, kill it and restart it",
		examples: []string{
			"ckpt-nl demo",
			"ckpt-nl demo --scenario job-control --backend procfs --dir /tmp/demo",
		},
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&name, "scenario", "demo", fmt.Sprintf("tree to build, one of %v", scenario.Names()))
			fs.Uint64Var(&seed, "seed", 1, "seed of the tree's pid numbers (and shape, for random trees)")
			fs.StringVar(&backend, "backend", "auto", "checkpoint backend: auto, kmod, bpf or procfs")
			fs.StringVar(&dir, "dir", "", "directory for the image (default: a temporary one, removed)")
			fs.BoolVar(&keep, "keep", false, "leave the restored tree running at the end and print its root's pid")
		},
		run: func(ctx *runContext, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			sc, err := scenario.Get(name, seed)
			if err != nil {
				return &usageError{err.Error()}
			}
			res, err := sim.Run(sc.Plan, sim.Forward)
			if err != nil {
				return err
			}
			want, err := res.Snapshot(sc.Root, sc.Mode)
			if err != nil {
				return err
			}
			if dir == "" {
				if dir, err = os.MkdirTemp("", "ckpt-nl-demo-"); err != nil {
					return err
				}
				defer os.RemoveAll(dir)
			}

			fmt.Fprintf(ctx.stdout, "== building the %q tree (%d tasks) in a new pid namespace\n", name, len(want.Tasks))
			r, err := executor.Start(sc.Plan, executor.Options{})
			if err != nil {
				return err
			}
			defer r.Kill()
			if err := r.WaitBarrier(1, time.Minute); err != nil {
				r.Kill()
				return err
			}
			r.Open(1)
			if err := r.WaitSettled(time.Minute); err != nil {
				r.Kill()
				return err
			}
			root := r.Pid(sc.Root)

			be, why, err := pickBackend(backend)
			if err != nil {
				return err
			}
			fmt.Fprintf(ctx.stdout, "== checkpoint of pid %d with the %s backend (%s)\n", root, be.Name(), why)
			start := time.Now()
			s, err := be.Snapshot(snapshot.Request{Pid: root, Mode: sc.Mode})
			if err != nil {
				return explain(err)
			}
			took := time.Since(start)
			path := filepath.Join(dir, name+".img")
			if err := image.WriteFile(path, s, image.Options{}); err != nil {
				return err
			}
			fi, _ := os.Stat(path)
			fmt.Fprintf(ctx.stdout, "wrote %s (%d bytes) in %.1f ms\n\n", path, fi.Size(), float64(took.Microseconds())/1000)
			if err := s.WriteText(ctx.stdout); err != nil {
				return err
			}
			d := model.Diff(want, s)
			if len(d) > 0 {
				for _, l := range d {
					fmt.Fprintln(ctx.stdout, l)
				}
				return fmt.Errorf("the checkpoint differs from the tree that was built in %d ways", len(d))
			}
			fmt.Fprintf(ctx.stdout, "\n== the image matches the tree as built: every pid at every level, groups, sessions, states\n")

			// Restart it: the original dies first, as after a crash.
			r.Kill()
			v, err := pickValidator("auto")
			if err != nil {
				return err
			}

			rd, _, err := pickBackend(backend)
			if err != nil {
				return err
			}
			how := "userspace validation"
			if v != nil {
				how = "the kernel's restart context"
				defer v.Close()
			}
			fmt.Fprintf(ctx.stdout, "\n== restart of %s with %s\n", path, how)
			rres, err := restore.Restore(s, restore.Options{Reader: rd, Validator: v})
			if err != nil {
				return err
			}
			var stages []string
			for _, st := range rres.Stages {
				stages = append(stages, fmt.Sprintf("%s %.1f ms", st.Name, float64(st.Took.Microseconds())/1000))
			}
			fmt.Fprintf(ctx.stdout, "restored %d tasks, root pid %d: %s\n%s\n", len(s.Tasks), rres.Root,
				rres.Validation, strings.Join(stages, ", "))
			back, err := rd.Snapshot(snapshot.Request{Pid: rres.Root, Mode: sc.Mode})
			if err != nil {
				rres.Kill()
				return err
			}
			if d := model.Diff(s, back); len(d) > 0 {
				rres.Kill()
				return fmt.Errorf("the restored tree differs from the image: %v", d)
			}
			fmt.Fprintf(ctx.stdout, "== checkpoint of the restored tree equals the image (ckpt-nl diff would exit 0)\n")
			if keep {
				fmt.Fprintf(ctx.stdout, "the restored tree keeps running; its root is pid %d\n", rres.Root)
				return nil
			}
			return rres.Kill()
		},
	})
}
