package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ckpt-nl/ckpt-nl/go/criuimg"
	"github.com/ckpt-nl/ckpt-nl/go/executor"
	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot"
	"github.com/ckpt-nl/ckpt-nl/go/testenv"
)

// criuScenarios are the trees Debian 12's CRIU 3.17 dumps and restores
// with their identity. Not here, though ckpt-nl restores them all
// (TestRoundTrip): the nested-namespace trees (CRIU keeps one pid level);
// "threads", whose dead thread-group leader CRIU refuses to dump
// ("Zombies with threads are not supported"); and "job-control", which
// CRIU dumps but cannot restore: a task joins a process group before the
// group's leader, on another branch, has made it ("Can't restore pgid
// ...: Operation not permitted"), the ordering MakeForest exists for.
var criuScenarios = []string{"dead-session-leader", "dead-group-leader", "zombies", "orphans"}

// needCRIU skips (or, where the environment requires it, fails) unless
// Debian's criu is installed and "criu check" accepts this kernel.
func needCRIU(t *testing.T) string {
	t.Helper()
	testenv.NeedRoot(t)
	path, err := exec.LookPath("criu")
	if err != nil {
		testenv.Need(t, "criu", false, "criu is not installed (make deps installs it)")
		return ""
	}
	out, err := exec.Command(path, "check").CombinedOutput()
	testenv.Need(t, "criu", err == nil, fmt.Sprintf("criu check: %v: %s", err, lastLine(out)))
	return path
}

func lastLine(b []byte) string {
	l := strings.Split(strings.TrimSpace(string(b)), "\n")
	return l[len(l)-1]
}

// TestCRIURoundTrip checkpoints a real tree with ckpt-nl, dumps it with
// CRIU (which kills it), restores it with CRIU, and verifies the restored
// tree against the ckpt-nl image taken before the dump: CRIU must have
// brought back the same identity (pids, parents, groups, sessions, zombies,
// stopped tasks). It also imports CRIU's own pstree.img into our model and
// compares it with the same image.
func TestCRIURoundTrip(t *testing.T) {
	criu := needCRIU(t)
	// CRIU 3.17 dumps a memfd-backed executable but cannot restore it
	// ("No entry for reg-file-ID"): run the executor from a file.
	exe := filepath.Join(t.TempDir(), "ckpt-nl-executor")
	if err := executor.WriteExecutable(exe); err != nil {
		t.Fatal(err)
	}
	for _, name := range criuScenarios {
		t.Run(name, func(t *testing.T) {
			b := buildWith(t, name, 1, executor.Options{ExecutorPath: exe})
			be := bestBackend(t)
			before, err := be.Snapshot(snapshot.Request{Pid: b.root, Mode: b.sc.Mode})
			if err != nil {
				t.Fatalf("%s checkpoint: %v", be.Name(), err)
			}
			if d := model.Diff(b.want, before); len(d) != 0 {
				t.Fatalf("checkpoint differs from what was built:\n%s", lines(d))
			}

			dir := t.TempDir()
			start := time.Now()
			runCRIU(t, criu, dir, "dump", "dump", "-t", strconv.Itoa(b.root), "-D", dir)
			dumped := time.Since(start)
			if alive(b.root) {
				t.Fatalf("criu dump left the tree (root %d) running", b.root)
			}
			b.run.Kill() // the launcher and anything else of the original

			imported, err := criuimg.Import(dir)
			if err != nil {
				t.Fatalf("import CRIU's image: %v", err)
			}
			if d := model.Diff(before, imported); len(d) != 0 {
				t.Errorf("CRIU's pstree.img differs from ckpt-nl's checkpoint:\n%s", lines(d))
			}

			start = time.Now()
			pidfile := filepath.Join(dir, "restored.pid")
			runCRIU(t, criu, dir, "restore", "restore", "-d", "-D", dir, "--pidfile", pidfile)
			restored := time.Since(start)
			root := readPid(t, pidfile)
			t.Cleanup(func() { killTree(root) })

			after, err := be.Snapshot(snapshot.Request{Pid: root, Mode: b.sc.Mode})
			if err != nil {
				t.Fatalf("%s checkpoint of the CRIU-restored tree: %v", be.Name(), err)
			}
			if d := model.Diff(before, after); len(d) != 0 {
				t.Errorf("the CRIU-restored tree differs from the checkpoint taken before the dump:\n%s", lines(d))
			}
			t.Logf("%d tasks: criu dump %v, criu restore %v; restored root is %d", len(before.Tasks), dumped, restored, root)
		})
	}
}

// bestBackend is the first of kmod, bpf, procfs this machine offers.
func bestBackend(t *testing.T) snapshot.Backend {
	bs := backends(t)
	return bs[len(bs)-1]
}

// runCRIU runs criu with a log in dir and fails the test with the log's
// errors (or its last lines) when it fails or takes over two minutes.
func runCRIU(t *testing.T, criu, dir, what string, args ...string) {
	t.Helper()
	log := what + ".log"
	args = append(args, "-o", log, "-v4")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, criu, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Whatever criu restore leaves running must not hold our pipes.
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		logText, _ := os.ReadFile(filepath.Join(dir, log))
		t.Fatalf("criu %s: %v\n%s%s", what, err, out.String(), errorLines(logText))
	}
}

// errorLines keeps a CRIU log's errors and the lines just before them,
// or its last lines when it has none.
func errorLines(log []byte) string {
	var keep []string
	ls := strings.Split(string(log), "\n")
	for i, l := range ls {
		if strings.Contains(l, "Error") {
			from := max(0, i-3)
			keep = append(keep, ls[from:i+1]...)
		}
	}
	if len(keep) == 0 {
		keep = ls
	}
	if len(keep) > 60 {
		keep = keep[len(keep)-60:]
	}
	return strings.Join(keep, "\n")
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("criu restore wrote no pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		t.Fatalf("criu restore pid file %q: %v", b, err)
	}
	return pid
}

// alive says whether pid runs: not gone and not a zombie its parent has
// yet to reap.
func alive(pid int) bool {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+1:]))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// killTree kills a restored container: SIGKILL to its init takes the
// whole pid namespace with it; the init is reaped by whoever adopted it.
func killTree(root int) {
	_ = syscall.Kill(root, syscall.SIGKILL)
	var ws syscall.WaitStatus
	_, _ = syscall.Wait4(root, &ws, 0, nil)
}
