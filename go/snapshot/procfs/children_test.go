package procfs

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestChildren(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skipf("no sleep to start: %v", err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	kids, err := Children(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(kids, cmd.Process.Pid) {
		t.Errorf("Children(self) = %v, want it to hold %d", kids, cmd.Process.Pid)
	}
	if _, err := Children(0); err == nil || !strings.HasPrefix(err.Error(), "procfs: ") {
		t.Errorf("Children(0) = %v, want a procfs error", err)
	}
}
