package criuimg

import (
	"strings"
	"testing"

	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/model/modeltest"
)

// TestExportImport: a one-level tree survives pstree.img both ways (but
// for states, which CRIU keeps in core images); a nested one is reported.
func TestExportImport(t *testing.T) {
	flat := []modeltest.T{
		{Nr: 1, Pgid: 1, Sid: 1, Comm: "init"},
		{Nr: 2, PPid: 1, Pgid: 2, Sid: 2},
		{Nr: 3, PPid: 2, Pgid: 5, Sid: 2},
		{Nr: 4, Tgid: 3, PPid: 2, Pgid: 5, Sid: 2},
		{Nr: 6, PPid: 1, Pgid: 1, Sid: 1},
	}
	s := modeltest.Build(t, model.ModeContainer, flat)
	dir := t.TempDir()
	lost, err := Export(s, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(lost) != 0 {
		t.Errorf("a one-level tree lost %q", lost)
	}
	back, err := Import(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d := model.Diff(s, back); len(d) != 0 {
		t.Errorf("pstree.img round trip differs: %q", d)
	}

	nested := modeltest.Build(t, model.ModeContainer, modeltest.JobControl())
	lost, err = Export(nested, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(lost) == 0 || !strings.Contains(strings.Join(lost, "\n"), "CRIU keeps one level") {
		t.Errorf("nested tree export reported %q", lost)
	}
}
