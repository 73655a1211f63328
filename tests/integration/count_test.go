package integration

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// countTasks counts the live tasks (threads included) that run ckpt-nl's
// executor: every task a restore creates (launcher, ghosts, restored
// tasks) does, and nothing else on the machine does, so the leak check of
// the fault tests holds while other work starts and ends tasks beside it.
func countTasks(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		exe, err := os.Readlink("/proc/" + e.Name() + "/exe")
		if err != nil || !strings.Contains(exe, "ckpt-nl-executor") {
			continue // gone, a kernel thread, a zombie, or not ours
		}
		tasks, err := os.ReadDir("/proc/" + e.Name() + "/task")
		if err != nil {
			continue
		}
		for _, tk := range tasks {
			if st, err := os.ReadFile("/proc/" + e.Name() + "/task/" + tk.Name() + "/stat"); err == nil &&
				strings.Contains(string(st), ") Z ") {
				continue // zombies of reapers that have not run yet hold nothing
			}
			n++
		}
	}
	return n
}

// waitCount waits until at most want tasks exist (a few seconds), and
// fails the test with the count otherwise.
func waitCount(t *testing.T, want int) {
	t.Helper()
	var n int
	for i := 0; i < 300; i++ {
		if n = countTasks(t); n <= want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("%d tasks left behind (%d before, %d now)", n-want, want, n)
}

// startSleeper starts a child that sleeps until the test ends.
func startSleeper(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), "CKPT_NL_SLEEP=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd.Process.Pid
}
