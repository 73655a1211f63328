package integration

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-nl/ckpt-nl/go/image"
	"github.com/ckpt-nl/ckpt-nl/go/restore"
	"github.com/ckpt-nl/ckpt-nl/go/testenv"
)

// TestRestartCases restarts for real the five images of trees the old
// planner refused (go/plan/testdata, issue 11), validated by the module's
// restart context where it is loaded, and reads each back equal with
// every backend.
func TestRestartCases(t *testing.T) {
	testenv.NeedRoot(t)
	paths, _ := filepath.Glob("../../go/plan/testdata/*.img")
	if len(paths) == 0 {
		if _, err := os.Stat("../../go/plan"); errors.Is(err, os.ErrNotExist) {
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
			res := restoreAndCheck(t, s, restore.Options{})
			t.Logf("%d tasks: %s", len(s.Tasks), res.Validation)
		})
	}
}
