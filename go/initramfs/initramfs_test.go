package initramfs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCpioExtracts checks the archive with GNU cpio, an independent reader.
func TestCpioExtracts(t *testing.T) {
	cpio, err := exec.LookPath("cpio")
	if err != nil {
		t.Skip("cpio not installed")
	}
	var b bytes.Buffer
	w := NewWriter(&b)
	w.Dir("proc", 0o755)
	w.File("/a/b/c.txt", 0o640, []byte("hello"))
	w.File("init", 0o755, []byte("#!/bin/sh\n"))
	w.Symlink("bin/sh", "/init")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if b.Len()%4 != 0 {
		t.Errorf("archive length %d is not 4-aligned", b.Len())
	}
	dir := t.TempDir()
	cmd := exec.Command(cpio, "-id", "--quiet")
	cmd.Dir = dir
	cmd.Stdin = &b
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -id: %v: %s", err, out)
	}
	got := map[string]string{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			got[rel] = "-> " + l
		case fi.IsDir():
			got[rel] = "dir"
		default:
			data, _ := os.ReadFile(p)
			got[rel] = fi.Mode().Perm().String() + " " + string(data)
		}
		return nil
	})
	want := map[string]string{
		".": "dir", "proc": "dir", "a": "dir", "a/b": "dir",
		"a/b/c.txt": "-rw-r----- hello", "init": "-rwxr-xr-x #!/bin/sh\n",
		"bin": "dir", "bin/sh": "-> /init",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("extracted tree (-want +got):\n%s", diff)
	}
}
