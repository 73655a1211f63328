package cheader

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	src := `
#ifndef _G
#define _G
#define X_NAME "fam" /* a name */
#define X_VERSION 2
enum x_cmd {
	X_CMD_UNSPEC,
	X_CMD_GET,
	X_CMD_SET = 7,
	X_CMD_NEXT,
	__X_CMD_MAX
};
#define X_CMD_MAX (__X_CMD_MAX - 1)
enum x_bits { X_F_A = 1 << 0, X_F_B = 1 << 3 | X_F_A, };
#endif
`
	got, err := Parse([]byte(src), "")
	if err != nil {
		t.Fatal(err)
	}
	type kv struct {
		Name string
		Int  int64
		Str  string
	}
	var flat []kv
	for _, c := range got {
		s := ""
		if c.Str != nil {
			s = *c.Str
		}
		flat = append(flat, kv{c.GoName, c.Int, s})
	}
	want := []kv{
		{"XName", 0, "fam"},
		{"XVersion", 2, ""},
		{"XCmdUnspec", 0, ""},
		{"XCmdGet", 1, ""},
		{"XCmdSet", 7, ""},
		{"XCmdNext", 8, ""},
		{"XCmdMax", 8, ""},
		{"XFAttr", 1, ""},
		{"XFB", 9, ""},
	}
	if diff := cmp.Diff(want, flat); diff != "" {
		t.Errorf("Parse mismatch (-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	for _, src := range []string{
		"#define A (B + 1)\n",
		"#define A 1 * 2\n",
		"enum e { A = 1 << 70 };",
		"#define A (1\n",
	} {
		if _, err := Parse([]byte(src), ""); err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", src)
		}
	}
}

func TestGoName(t *testing.T) {
	for in, want := range map[string]string{
		"CKPT_PIDS_CMD_GET_FEATURES": "CmdGetFeatures",
		"CKPT_PIDS_A_VERSION":        "AttrVersion",
		"CKPT_PIDS_F_SNAPSHOT":       "FeatureSnapshot",
		"CKPT_PIDS_GENL_NAME":        "GenlName",
		"CKPT_PIDS_PID_A_NUMBERS":    "PidAttrNumbers",
	} {
		if got := GoName(in, "CKPT_PIDS_"); got != want {
			t.Errorf("GoName(%s) = %s, want %s", in, got, want)
		}
	}
}
