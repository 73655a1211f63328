package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ckpt-nl/ckpt-nl/go/testenv"
)

// openBinary copies ckpt-nl where any user may run it.
func openBinary(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ckpt-nl-open-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	b, err := os.ReadFile(binary(t))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "ckpt-nl")
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPermissions: without privilege over the tree, each backend refuses
// with EPERM or EACCES and says why: an unprivileged user, and root in a
// user namespace of its own (whose capabilities do not reach the tree's
// pid namespace).
func TestPermissions(t *testing.T) {
	testenv.NeedRoot(t)
	b := build(t, "demo", 21)
	bin := openBinary(t)
	out := t.TempDir()
	os.Chmod(out, 0o777)
	for _, who := range []string{"nobody", "userns-root"} {
		for _, be := range backends(t) {
			if who == "userns-root" && be.Name() == "procfs" {
				continue // /proc's own rules: the same uid may read it
			}
			cmd := exec.Command(bin, "checkpoint", "--pid", fmt.Sprint(b.root), "--backend", be.Name(),
				"-o", filepath.Join(out, who+"-"+be.Name()+".img"))
			switch who {
			case "nobody":
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			case "userns-root":
				cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER,
					UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
					GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}}}
			}
			msg, err := cmd.CombinedOutput()
			if err == nil {
				t.Errorf("%s with %s: checkpoint succeeded:\n%s", who, be.Name(), msg)
				continue
			}
			m := strings.ToLower(string(msg))
			if !strings.Contains(m, "permission denied") && !strings.Contains(m, "operation not permitted") {
				t.Errorf("%s with %s: %v, but not EPERM/EACCES:\n%s", who, be.Name(), err, msg)
				continue
			}
			if be.Name() == "bpf" && !strings.Contains(m, "needs cap_bpf") {
				t.Errorf("%s with bpf: the refusal does not say which capabilities it needs:\n%s", who, msg)
			}
			t.Logf("%s with %s refused: %s", who, be.Name(), strings.TrimSpace(string(msg)))
		}
	}
}
