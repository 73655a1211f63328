package criuimg

import (
	"encoding/binary"
	"os"
	"path/filepath"
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

// FuzzImport feeds arbitrary pstree.img bytes to the decoder: it must
// refuse or accept without panicking or allocating from a header alone,
// and what it accepts must decode the same after its entries are written
// out again.
func FuzzImport(f *testing.F) {
	seed := pstreeBytes(f, []modeltest.T{
		{Nr: 1, Pgid: 1, Sid: 1},
		{Nr: 2, PPid: 1, Pgid: 2, Sid: 2},
		{Nr: 3, PPid: 2, Pgid: 5, Sid: 2},
		{Nr: 4, Tgid: 3, PPid: 2, Pgid: 5, Sid: 2},
	})
	f.Add(seed)
	f.Add(seed[:len(seed)-3])
	f.Add([]byte{})
	f.Add([]byte{0x19, 0x43, 0x56, 0x54, 0x30, 0x53, 0x27, 0x50, 0xff, 0xff, 0xff, 0xff})
	alive := func(uint32) (model.State, int32, error) { return model.Alive, 0, nil }
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parse(data, alive)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "criu: ") {
				t.Fatalf("error does not say where it comes from: %v", err)
			}
			return
		}
		// Write the entries out again, framed as CRIU does.
		var again []byte
		if err := decodeEntries(data, "PSTREE", func(b []byte) error {
			again = binary.LittleEndian.AppendUint32(again, uint32(len(b)))
			again = append(again, b...)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		again = append(append([]byte(nil), seed[:8]...), again...)
		back, err := parse(again, alive)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if d := model.Diff(got, back); len(d) != 0 {
			t.Fatalf("decoding is not deterministic: %q", d)
		}
	})
}

// TestImportErrors: each malformed pstree.img gets an error naming what
// is wrong.
func TestImportErrors(t *testing.T) {
	good := pstreeBytes(t, []modeltest.T{{Nr: 1, Pgid: 1, Sid: 1}, {Nr: 2, PPid: 1, Pgid: 1, Sid: 1}})
	huge := append([]byte(nil), good[:8]...)
	huge = append(huge, 0xff, 0xff, 0xff, 0x7f, 1, 2)
	core := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(core[4:], 1426405447) // CORE
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "criu: pstree.img: truncated magic"},
		{"wrong magic", core, "criu: pstree.img: magic CORE, want PSTREE"},
		{"truncated entry", good[:len(good)-2], "exceeds the"},
		{"huge size", huge, "entry 0: size 2147483647 exceeds the 2 bytes left"},
		{"no entries", good[:8], "criu: pstree.img is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "pstree.img"), tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Import(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Import = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// pstreeBytes is the pstree.img Export writes for a container of tasks.
func pstreeBytes(tb testing.TB, tasks []modeltest.T) []byte {
	tb.Helper()
	dir := tb.TempDir()
	if _, err := Export(modeltest.Build(tb, model.ModeContainer, tasks), dir); err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "pstree.img"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
