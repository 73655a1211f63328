package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ckpt-nl/ckpt-nl/go/testenv"
)

// ckptnl is the ckpt-nl binary under test: the one on PATH in the VM, or
// one built from this tree (once, when a test first needs it) on a host.
var (
	ckptnlOnce sync.Once
	ckptnl     string
	ckptnlErr  error
	binDir     string
)

func TestMain(m *testing.M) {
	if role() {
		os.Exit(0)
	}
	switch {
	case os.Getenv("CKPT_NL_SLEEP") == "1":
		select {} // a child for tests that need one
	case os.Getenv("CKPT_NL_EXIT") == "1":
		os.Exit(0)
	case os.Getenv("CKPT_NL_CHURN") == "1":
		churn()
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func binary(t *testing.T) string {
	t.Helper()
	ckptnlOnce.Do(func() {
		if p, err := exec.LookPath("ckpt-nl"); err == nil && os.Getenv("CKPT_NL_VM") == "1" {
			ckptnl = p
			return
		}
		if binDir, ckptnlErr = os.MkdirTemp("", "ckpt-nl-bin-"); ckptnlErr != nil {
			return
		}
		ckptnl = filepath.Join(binDir, "ckpt-nl")
		out, err := exec.Command("go", "build", "-o", ckptnl, "github.com/ckpt-nl/ckpt-nl/go/cmd/ckpt-nl").CombinedOutput()
		if err != nil {
			ckptnlErr = fmt.Errorf("build ckpt-nl: %v\n%s", err, out)
		}
	})
	if ckptnlErr != nil {
		t.Fatal(ckptnlErr)
	}
	return ckptnl
}

func cli(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("ckpt-nl %v: %v", args, err)
	}
	return string(out), code
}

// TestCLI runs the command as a user would on scenario trees: checkpoint
// with every backend, show, and diff the images against each other.
func TestCLI(t *testing.T) {
	testenv.NeedRoot(t)
	for _, name := range []string{"demo", "subtree", "nested-chain"} {
		t.Run(name, func(t *testing.T) {
			b := build(t, name, 2)
			dir := t.TempDir()
			var images []string
			for _, be := range backends(t) {
				img := filepath.Join(dir, be.Name()+".img")
				out, code := cli(t, "checkpoint", "--pid", fmt.Sprint(b.root), "--backend", be.Name(), "-o", img)
				if code != 0 || !strings.Contains(out, "wrote "+img) {
					t.Fatalf("checkpoint --backend %s: exit %d:\n%s", be.Name(), code, out)
				}
				if !strings.Contains(out, b.sc.Mode.String()+" mode") {
					t.Errorf("checkpoint detected the wrong mode:\n%s", out)
				}
				images = append(images, img)
			}
			out, code := cli(t, "show", images[0])
			if code != 0 || !strings.Contains(out, fmt.Sprintf("%d tasks", len(b.want.Tasks))) {
				t.Errorf("show: exit %d:\n%s", code, out)
			}
			for _, img := range images[1:] {
				if out, code := cli(t, "diff", images[0], img); code != 0 {
					t.Errorf("diff %s %s: exit %d:\n%s", images[0], img, code, out)
				}
			}
		})
	}
	// An image of a changed tree differs, with exit code 3.
	dir := t.TempDir()
	a, c := build(t, "job-control", 1), build(t, "job-control", 2)
	ia, ic := filepath.Join(dir, "a.img"), filepath.Join(dir, "c.img")
	cli(t, "checkpoint", "--pid", fmt.Sprint(a.root), "--backend", "procfs", "-o", ia)
	cli(t, "checkpoint", "--pid", fmt.Sprint(c.root), "--backend", "procfs", "-o", ic)
	if out, code := cli(t, "diff", ia, ic); code != 3 || !strings.Contains(out, "only in the first") {
		t.Errorf("diff of different trees: exit %d:\n%s", code, out)
	}
}
