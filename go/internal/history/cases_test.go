package history

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-nl/ckpt-nl/go/image"
	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/restore"
	"github.com/ckpt-nl/ckpt-nl/go/restore/kctx"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot/kmodsnap"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot/procfs"
	"github.com/ckpt-nl/ckpt-nl/go/testenv"
)

// TestRestartCases restarts for real the five images of trees the old
// planner refused (go/plan/testdata, issue 11), validated by the module's
// restart context where it is loaded, and reads each back equal.
func TestRestartCases(t *testing.T) {
	testenv.NeedRoot(t)
	paths, _ := filepath.Glob("../../plan/testdata/*.img")
	if len(paths) == 0 {
		if _, err := os.Stat("../../plan"); errors.Is(err, os.ErrNotExist) {
			t.Skip("the source tree's images are not here (a test binary copied alone, as in the VM)")
		}
		t.Fatal("no images in go/plan/testdata")
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".img"), func(t *testing.T) {
			s, err := image.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			opt := restore.Options{Reader: procfs.Backend{}}
			if ok, _ := kmodsnap.Available(); ok {
				v, err := kctx.New()
				if err != nil {
					t.Fatal(err)
				}
				defer v.Close()
				opt.Validator = v
			}
			res, err := restore.Restore(s, opt)
			if err != nil {
				t.Fatalf("restart: %v", err)
			}
			defer res.Kill()
			got, err := procfs.Backend{}.Snapshot(snapshot.Request{Pid: res.Root, Mode: s.Mode})
			if err != nil {
				t.Fatal(err)
			}
			if d := model.Diff(s, got); len(d) > 0 {
				t.Fatalf("restored tree differs:\n%s", strings.Join(d, "\n"))
			}
			t.Logf("%d tasks: %s", len(s.Tasks), res.Validation)
		})
	}
}
