package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ckpt-nl/ckpt-nl/go/executor"
	"github.com/ckpt-nl/ckpt-nl/go/image"
	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/restore"
	"github.com/ckpt-nl/ckpt-nl/go/restore/kctx"
	"github.com/ckpt-nl/ckpt-nl/go/scenario"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot"
)

// CRIU compares ckpt-nl with Debian's criu on one single-level container
// of sleeping (parked) tasks, in the same run: criu dump against ckpt-nl
// checkpoint, criu restore against ckpt-nl restart. CRIU saves and
// restores far more than identity (memory, files, signals, registers);
// the comparison says what the identity layer costs beside it.
type CRIU struct {
	Tasks          int    `json:"tasks"`
	Version        string `json:"criu_version"`
	Date           string `json:"date"`
	Backend        string `json:"ckpt_nl_backend"`
	Dump           Stat   `json:"criu_dump"`
	Restore        Stat   `json:"criu_restore"`
	Checkpoint     Stat   `json:"ckpt_nl_checkpoint"`
	Restart        Stat   `json:"ckpt_nl_restart"`
	DumpBytes      int64  `json:"criu_image_bytes"`
	ImageBytes     int    `json:"ckpt_nl_image_bytes"`
	RestoredEqual  bool   `json:"criu_restored_identity_equal"`
	RestartedEqual bool   `json:"ckpt_nl_restarted_identity_equal"`
}

// criuCompare measures n tasks, runs times each.
func criuCompare(n, runs int) (*CRIU, error) {
	criu, err := exec.LookPath("criu")
	if err != nil {
		return nil, fmt.Errorf("criu is not installed: %w", err)
	}
	if out, err := exec.Command(criu, "check").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("criu check: %v: %s", err, strings.TrimSpace(string(out)))
	}
	c := &CRIU{Tasks: n, Date: time.Now().UTC().Format(time.RFC3339)}
	if v, err := exec.Command(criu, "--version").Output(); err == nil {
		line, _, _ := strings.Cut(string(v), "\n") // "Version: 3.17.1"
		c.Version = strings.TrimSpace(strings.TrimPrefix(line, "Version:"))
	}
	dir, err := os.MkdirTemp("", "bench-criu-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	// CRIU 3.17 cannot restore a memfd-backed executable.
	exe := filepath.Join(dir, "ckpt-nl-executor")
	if err := executor.WriteExecutable(exe); err != nil {
		return nil, err
	}

	sc := scenario.Wide(n, 1)
	var dumps, restores, ckpts, restarts []time.Duration
	c.RestoredEqual, c.RestartedEqual = true, true
	for i := 0; i < runs; i++ {
		logf("criu comparison, %d tasks: run %d of %d", n, i+1, runs)
		run, err := buildWith(sc, executor.Options{ExecutorPath: exe})
		if err != nil {
			return nil, err
		}
		root := run.Pid(sc.Root)
		be := backends()[0]
		c.Backend = be.Name()

		t0 := time.Now()
		before, err := be.Snapshot(snapshot.Request{Pid: root, Mode: model.ModeContainer})
		if err != nil {
			run.Kill()
			return nil, fmt.Errorf("%s checkpoint: %w", be.Name(), err)
		}
		ckpts = append(ckpts, time.Since(t0))
		b, _ := image.Encode(before, image.Options{})
		c.ImageBytes = len(b)

		opt := restore.Options{Reader: be}
		if v, err := kctx.New(); err == nil {
			opt.Validator = v
		}
		img := filepath.Join(dir, fmt.Sprintf("run%d", i))
		if err := os.Mkdir(img, 0o755); err != nil {
			run.Kill()
			return nil, err
		}
		t0 = time.Now()
		if err := criuRun(criu, img, "dump", "-t", strconv.Itoa(root), "-D", img); err != nil {
			run.Kill()
			return nil, err
		}
		dumps = append(dumps, time.Since(t0))
		run.Kill()
		waitGone(root)
		c.DumpBytes = dirBytes(img)

		t0 = time.Now()
		res, err := restore.Restore(before, opt)
		if opt.Validator != nil {
			opt.Validator.Close()
		}
		if err != nil {
			return nil, fmt.Errorf("ckpt-nl restart: %w", err)
		}
		var took time.Duration
		for _, st := range res.Stages {
			if !strings.HasPrefix(st.Name, "check") {
				took += st.Took
			}
		}
		restarts = append(restarts, took)
		after, err := be.Snapshot(snapshot.Request{Pid: res.Root, Mode: model.ModeContainer})
		c.RestartedEqual = c.RestartedEqual && err == nil && len(model.Diff(before, after)) == 0
		top := res.Top
		res.Kill()
		waitGone(top)

		pidfile := filepath.Join(img, "restored.pid")
		t0 = time.Now()
		if err := criuRun(criu, img, "restore", "-d", "-D", img, "--pidfile", pidfile); err != nil {
			return nil, err
		}
		restores = append(restores, time.Since(t0))
		pb, err := os.ReadFile(pidfile)
		if err != nil {
			return nil, fmt.Errorf("criu restore wrote no pid file: %w", err)
		}
		restored, _ := strconv.Atoi(strings.TrimSpace(string(pb)))
		after, err = be.Snapshot(snapshot.Request{Pid: restored, Mode: model.ModeContainer})
		c.RestoredEqual = c.RestoredEqual && err == nil && len(model.Diff(before, after)) == 0
		syscall.Kill(restored, syscall.SIGKILL)
		waitGone(restored)
		os.RemoveAll(img)
	}
	c.Dump, c.Restore, c.Checkpoint, c.Restart = stat(dumps), stat(restores), stat(ckpts), stat(restarts)
	logf("  criu dump %.0f ms, restore %.0f ms; ckpt-nl checkpoint %.1f ms, restart %.1f ms",
		c.Dump.Median, c.Restore.Median, c.Checkpoint.Median, c.Restart.Median)
	return c, nil
}

// criuRun runs one criu action logging into dir, returning the log's
// last lines on failure.
func criuRun(criu, dir, action string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, criu, append([]string{action}, append(args, "-o", action+".log")...)...)
	cmd.WaitDelay = time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, action+".log"))
		ls := strings.Split(strings.TrimSpace(string(log)), "\n")
		return fmt.Errorf("criu %s: %v: %s%s", action, err, out, strings.Join(ls[max(0, len(ls)-10):], "\n"))
	}
	return nil
}

func dirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil && !strings.HasSuffix(d.Name(), ".log") {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
