// Package ktap writes and reads KTAP, the Kernel Test Anything Protocol that
// kselftest and KUnit print and kernel CI parses:
//
//	KTAP version 1
//	1..2
//	# a diagnostic line
//	ok 1 first
//	    KTAP version 1
//	    1..1
//	    not ok 1 inner
//	not ok 2 second
//	# Totals: pass:1 fail:1 xfail:0 xpass:0 skip:0 error:0
//
// A test's nested subtests come before its own result line, indented by four
// spaces. A skipped test is "ok N name # SKIP reason".
package ktap

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Result is the outcome of one test.
type Result int

const (
	Pass Result = iota
	Fail
	Skip
)

func (r Result) String() string {
	return [...]string{"pass", "fail", "skip"}[r]
}

// Writer prints one KTAP document (or a nested one, at an indent).
type Writer struct {
	w      io.Writer
	indent string
	next   int
	counts [3]int
}

// NewWriter starts a document with its version line and plan.
func NewWriter(w io.Writer, plan int) *Writer {
	kw := &Writer{w: w, next: 1}
	kw.header(plan)
	return kw
}

func (kw *Writer) header(plan int) {
	fmt.Fprintf(kw.w, "%sKTAP version 1\n%s1..%d\n", kw.indent, kw.indent, plan)
}

// Sub starts a nested document for the subtests of the next test; finish it
// with the parent's Report for that test.
func (kw *Writer) Sub(name string, plan int) *Writer {
	fmt.Fprintf(kw.w, "%s# Subtest: %s\n", kw.indent+"    ", name)
	sub := &Writer{w: kw.w, indent: kw.indent + "    ", next: 1}
	sub.header(plan)
	return sub
}

// Diag prints each line of text as a diagnostic.
func (kw *Writer) Diag(text string) {
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		fmt.Fprintf(kw.w, "%s# %s\n", kw.indent, line)
	}
}

// Report prints the result line of the next test. For Skip, reason is the
// skip reason; for Fail, reason (if any) is printed as a diagnostic first.
func (kw *Writer) Report(name string, r Result, reason string) {
	name = sanitize(name)
	switch r {
	case Pass:
		fmt.Fprintf(kw.w, "%sok %d %s\n", kw.indent, kw.next, name)
	case Skip:
		fmt.Fprintf(kw.w, "%sok %d %s # SKIP %s\n", kw.indent, kw.next, name, sanitize(reason))
	case Fail:
		if reason != "" {
			kw.Diag(reason)
		}
		fmt.Fprintf(kw.w, "%snot ok %d %s\n", kw.indent, kw.next, name)
	}
	kw.counts[r]++
	kw.next++
}

// Counts returns how many tests passed, failed and were skipped so far.
func (kw *Writer) Counts() (pass, fail, skip int) {
	return kw.counts[Pass], kw.counts[Fail], kw.counts[Skip]
}

// Totals prints kselftest's totals line for the given counts.
func (kw *Writer) Totals(pass, fail, skip int) {
	fmt.Fprintf(kw.w, "%s# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:%d error:0\n", kw.indent, pass, fail, skip)
}

func sanitize(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.ReplaceAll(s, "#", "_")
}

// Test is one parsed result line.
type Test struct {
	Number int
	Name   string
	Result Result
	Reason string   // skip reason
	Diag   []string // diagnostic lines seen since the previous result
	Subs   *Doc     // nested results, if any
}

// Doc is a parsed KTAP document.
type Doc struct {
	Plan  int // -1 when there was no plan line
	Tests []Test
	// Problems are violations of the format: a missing or repeated plan,
	// numbers out of order, fewer results than planned.
	Problems []string
}

// OK reports whether the document is well formed and nothing in it, at any
// depth, failed.
func (d *Doc) OK() bool {
	if len(d.Problems) > 0 {
		return false
	}
	for _, t := range d.Tests {
		if t.Result == Fail || (t.Subs != nil && !t.Subs.OK()) {
			return false
		}
	}
	return true
}

// Count returns the results of leaf tests (those without subtests) at
// every depth.
func (d *Doc) Count() (pass, fail, skip int) {
	for _, t := range d.Tests {
		if t.Subs != nil && len(t.Subs.Tests) > 0 {
			p, f, s := t.Subs.Count()
			pass, fail, skip = pass+p, fail+f, skip+s
			continue
		}
		switch t.Result {
		case Pass:
			pass++
		case Fail:
			fail++
		case Skip:
			skip++
		}
	}
	return
}

// AllProblems lists format problems and failed tests at every depth, each
// with its path ("kmod.test/TestFeatures").
func (d *Doc) AllProblems() []string {
	var out []string
	d.walk("", &out)
	return out
}

func (d *Doc) walk(prefix string, out *[]string) {
	for _, p := range d.Problems {
		*out = append(*out, strings.TrimPrefix(prefix+": "+p, ": "))
	}
	for _, t := range d.Tests {
		path := prefix + "/" + t.Name
		if prefix == "" {
			path = t.Name
		}
		if t.Subs != nil {
			t.Subs.walk(path, out)
		}
		if t.Result == Fail {
			*out = append(*out, "not ok: "+path)
		}
	}
}

// Parse reads a KTAP document from r. Lines before the first version line
// (boot noise on a console) are ignored. It returns an error only when r
// fails or when no KTAP header is found; format problems go in Doc.Problems.
func Parse(r io.Reader) (*Doc, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	var lines []string
	started := false
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if !started {
			if i := strings.Index(line, "KTAP version "); i >= 0 && strings.TrimSpace(line[:i]) == "" && i == 0 {
				started = true
			} else if strings.HasPrefix(line, "TAP version ") {
				started = true
			} else {
				continue
			}
		}
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("ktap: %w", err)
	}
	if !started {
		return nil, fmt.Errorf("ktap: no KTAP version line in the output")
	}
	p := &parser{lines: lines}
	return p.doc(""), nil
}

type parser struct {
	lines []string
	pos   int
}

// doc parses a document whose lines start with indent, from its version
// line to the first line at a smaller indent or the end.
func (p *parser) doc(indent string) *Doc {
	d := &Doc{Plan: -1}
	var diag []string
	var pending *Doc
	for p.pos < len(p.lines) {
		line := p.lines[p.pos]
		if !strings.HasPrefix(line, indent) && strings.TrimSpace(line) != "" {
			break
		}
		body := strings.TrimPrefix(line, indent)
		switch {
		case strings.HasPrefix(body, "    "):
			// A nested document for the next test.
			if strings.HasPrefix(strings.TrimSpace(body), "KTAP version") || strings.HasPrefix(strings.TrimSpace(body), "TAP version") {
				if pending != nil {
					d.Problems = append(d.Problems, "subtests with no result line for their parent")
				}
				pending = p.doc(indent + "    ")
				continue
			}
			if strings.HasPrefix(strings.TrimSpace(body), "#") {
				diag = append(diag, strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(body), "#")))
			}
			p.pos++
		case strings.HasPrefix(body, "KTAP version") || strings.HasPrefix(body, "TAP version"):
			if d.Plan != -1 || len(d.Tests) > 0 {
				return d // a second document at this level ends this one
			}
			p.pos++
		case strings.HasPrefix(body, "1.."):
			n, err := strconv.Atoi(strings.TrimSpace(body[3:]))
			switch {
			case err != nil:
				d.Problems = append(d.Problems, fmt.Sprintf("bad plan line %q", body))
			case d.Plan != -1:
				d.Problems = append(d.Problems, "second plan line")
			default:
				d.Plan = n
			}
			p.pos++
		case strings.HasPrefix(body, "ok ") || strings.HasPrefix(body, "not ok "):
			t := parseResult(body)
			t.Diag, diag = diag, nil
			t.Subs, pending = pending, nil
			if t.Number != len(d.Tests)+1 {
				d.Problems = append(d.Problems, fmt.Sprintf("test %q numbered %d, expected %d", t.Name, t.Number, len(d.Tests)+1))
			}
			d.Tests = append(d.Tests, t)
			p.pos++
		case strings.HasPrefix(body, "#"):
			diag = append(diag, strings.TrimSpace(strings.TrimPrefix(body, "#")))
			p.pos++
		default:
			p.pos++ // unknown lines are allowed and ignored
		}
	}
	if pending != nil {
		d.Problems = append(d.Problems, "subtests with no result line for their parent")
		for _, sp := range pending.AllProblems() {
			d.Problems = append(d.Problems, "unfinished subtest: "+sp)
		}
	}
	switch {
	case d.Plan == -1:
		d.Problems = append(d.Problems, "no plan line")
	case len(d.Tests) != d.Plan:
		d.Problems = append(d.Problems, fmt.Sprintf("planned %d tests, got %d results", d.Plan, len(d.Tests)))
	}
	return d
}

func parseResult(body string) Test {
	var t Test
	rest := body
	if strings.HasPrefix(body, "not ok ") {
		t.Result = Fail
		rest = body[len("not ok "):]
	} else {
		rest = body[len("ok "):]
	}
	numStr, name, _ := strings.Cut(rest, " ")
	t.Number, _ = strconv.Atoi(numStr)
	if name, directive, ok := strings.Cut(name, " # "); ok {
		t.Name = strings.TrimPrefix(strings.TrimSpace(name), "- ")
		if d := strings.TrimSpace(directive); strings.HasPrefix(strings.ToUpper(d), "SKIP") {
			if t.Result == Pass {
				t.Result = Skip
			}
			t.Reason = strings.TrimSpace(d[4:])
		}
		return t
	}
	t.Name = strings.TrimPrefix(strings.TrimSpace(name), "- ")
	return t
}
