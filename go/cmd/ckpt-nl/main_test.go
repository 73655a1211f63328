package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-nl/ckpt-nl/go/image"
	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/model/modeltest"
)

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeImage(t *testing.T, tasks []modeltest.T) string {
	t.Helper()
	s := modeltest.Build(t, model.ModeContainer, tasks)
	path := filepath.Join(t.TempDir(), "x.img")
	if err := image.WriteFile(path, s, image.Options{}); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestShowAndDiff(t *testing.T) {
	a := writeImage(t, modeltest.JobControl())
	changed := modeltest.JobControl()
	changed[3].State = model.Alive
	b := writeImage(t, changed)

	code, out, _ := runCLI("show", a)
	if code != exitOK || !strings.Contains(out, "container snapshot: 10 tasks") {
		t.Errorf("show: code %d, output:\n%s", code, out)
	}
	code, out, _ = runCLI("show", "--format", "json", a)
	var s model.Snapshot
	if code != exitOK || json.Unmarshal([]byte(out), &s) != nil || len(s.Tasks) != 10 {
		t.Errorf("show --format json: code %d, output:\n%s", code, out)
	}
	if code, out, _ = runCLI("diff", a, a); code != exitOK || !strings.Contains(out, "same identity") {
		t.Errorf("diff a a: code %d, output %q", code, out)
	}
	code, out, errs := runCLI("diff", a, b)
	if code != exitMismatch || !strings.Contains(out, "task 4: state stopped vs alive") || !strings.Contains(errs, "1 differences") {
		t.Errorf("diff a b: code %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"frobnicate"}, exitUsage, "unknown command"},
		{[]string{"checkpoint", "-o", "x.img"}, exitUsage, "--pid is required"},
		{[]string{"checkpoint", "--pid", "1"}, exitUsage, "-o FILE is required"},
		{[]string{"checkpoint", "--pid", "1", "-o", "x", "--mode", "weird"}, exitUsage, "unknown mode"},
		{[]string{"checkpoint", "--pid", "1", "-o", "x", "--mode", "subtree", "--backend", "magic"}, exitUsage, "unknown backend"},
		{[]string{"show"}, exitUsage, "exactly one image"},
		{[]string{"show", "/nonexistent.img"}, exitFailure, "no such file"},
		{[]string{"diff", "a"}, exitUsage, "two image files"},
		{[]string{"status", "--bogus"}, exitUsage, "unknown flag"},
	} {
		code, _, errs := runCLI(tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: code %d, stderr %q; want %d and %q", tc.args, code, errs, tc.code, tc.want)
		}
	}
}

func TestHelpHasExamples(t *testing.T) {
	for _, c := range commands {
		code, out, _ := runCLI(c.name, "--help")
		if code != exitOK || !strings.Contains(out, "Usage: ckpt-nl "+c.name) {
			t.Errorf("%s --help: code %d, output %q", c.name, code, out)
		}
		if c.name != "help" && !strings.Contains(out, "Examples:") {
			t.Errorf("%s --help has no examples", c.name)
		}
	}
}
