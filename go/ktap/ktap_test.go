package ktap

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWriteThenParse(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b, 3)
	w.Report("load module", Pass, "")
	sub := w.Sub("kmod.test", 2)
	sub.Report("TestA", Pass, "")
	sub.Report("TestB", Skip, "no # module")
	w.Report("kmod.test", Pass, "")
	w.Report("unload", Fail, "delete_module: EBUSY")
	w.Totals(2, 1, 1)

	d, err := Parse(strings.NewReader("boot noise\n[ 0.1] more\n" + b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if d.OK() {
		t.Error("OK() = true with a failed test")
	}
	p, f, s := d.Count()
	if diff := cmp.Diff([3]int{2, 1, 1}, [3]int{p, f, s}); diff != "" {
		t.Errorf("Count() (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"not ok: unload"}, d.AllProblems()); diff != "" {
		t.Errorf("AllProblems() (-want +got):\n%s", diff)
	}
	if got := d.Tests[1].Subs.Tests[1]; got.Result != Skip || got.Reason != "no _ module" {
		t.Errorf("skip parsed as %+v", got)
	}
	if got := d.Tests[2].Diag; len(got) != 1 || got[0] != "delete_module: EBUSY" {
		t.Errorf("diagnostics of the failed test = %q", got)
	}
}

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"complete", "KTAP version 1\n1..1\nok 1 a\n", nil},
		{"missing result", "KTAP version 1\n1..2\nok 1 a\n", []string{"planned 2 tests, got 1 results"}},
		{"no plan", "KTAP version 1\nok 1 a\n", []string{"no plan line"}},
		{"bad numbering", "KTAP version 1\n1..2\nok 1 a\nok 3 b\n", []string{`test "b" numbered 3, expected 2`}},
		{"failed subtest", "KTAP version 1\n1..1\n    KTAP version 1\n    1..1\n    not ok 1 in\nok 1 out\n", []string{"not ok: out/in"}},
		{"truncated subtests", "KTAP version 1\n1..1\n    KTAP version 1\n    1..2\n    ok 1 in\n", []string{
			"subtests with no result line for their parent",
			"unfinished subtest: planned 2 tests, got 1 results",
			"planned 1 tests, got 0 results"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			got := d.AllProblems()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("AllProblems() (-want +got):\n%s", diff)
			}
			if d.OK() != (len(tt.want) == 0) {
				t.Errorf("OK() = %v with problems %q", d.OK(), got)
			}
		})
	}
}

func TestParseNoHeader(t *testing.T) {
	if _, err := Parse(strings.NewReader("ok 1 a\n")); err == nil {
		t.Fatal("Parse without a version line succeeded")
	}
}

func FuzzParse(f *testing.F) {
	f.Add("KTAP version 1\n1..2\nok 1 a\n    KTAP version 1\n    1..1\n    ok 1 b\nnot ok 2 c # SKIP x\n")
	f.Fuzz(func(t *testing.T, in string) {
		d, err := Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		d.OK()
		d.Count()
		d.AllProblems()
	})
}
