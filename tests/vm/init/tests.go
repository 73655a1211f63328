package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ckpt-nl/ckpt-nl/go/ktap"
)

// testTimeout bounds one test binary; ckptnl.timeout= overrides it.
const defaultTestTimeout = 10 * time.Minute

// runTests runs the whole VM suite and prints it as one KTAP document.
func runTests(out io.Writer) int {
	bins, _ := filepath.Glob("/tests/*.test")
	sort.Strings(bins)
	w := ktap.NewWriter(out, len(bins)+3)
	// Which kernel: its release (the config flavour, -amd64 or -rt-amd64)
	// and its build line (the preemption model).
	if v, err := os.ReadFile("/proc/version"); err == nil {
		w.Diag("kernel: " + strings.TrimSpace(string(v)))
	}

	timeout := defaultTestTimeout
	if d, err := time.ParseDuration(cmdline("ckptnl.timeout", "")); err == nil {
		timeout = d
	}

	// The totals count leaves: the harness's own steps and each Go test.
	var total tally
	step := func(name string, err error) {
		if err != nil {
			w.Report(name, ktap.Fail, err.Error())
			total.fail++
		} else {
			w.Report(name, ktap.Pass, "")
			total.pass++
		}
	}
	step("load ckpt_pids", loadModule())
	for _, bin := range bins {
		total.add(runBinary(w, bin, timeout))
	}
	step("unload ckpt_pids", unloadModule())
	var logErr error
	if problems := kernelProblems(); len(problems) > 0 {
		logErr = errors.New(strings.Join(problems, "\n"))
	}
	step("kernel log clean", logErr)

	w.Totals(total.pass, total.fail, total.skip)
	if total.fail > 0 {
		return 1
	}
	return 0
}

type tally struct{ pass, fail, skip int }

func (t *tally) add(o tally) {
	t.pass += o.pass
	t.fail += o.fail
	t.skip += o.skip
}

func loadModule() error { return insmod(modulePath) }

// insmod loads the module file at path.
func insmod(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open module: %w", err)
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil {
		return fmt.Errorf("finit_module %s: %w", path, err)
	}
	return nil
}

func unloadModule() error {
	var err error
	for i := 0; i < 50; i++ {
		err = unix.DeleteModule("ckpt_pids", unix.O_NONBLOCK)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("delete_module: %w", err)
		}
		time.Sleep(100 * time.Millisecond) // a closing socket may still hold a reference
	}
	if err != nil {
		ref, _ := os.ReadFile("/sys/module/ckpt_pids/refcnt")
		return fmt.Errorf("delete_module: %w (refcnt %s)", err, strings.TrimSpace(string(ref)))
	}
	if _, err := os.Stat("/sys/module/ckpt_pids"); err == nil {
		return fmt.Errorf("/sys/module/ckpt_pids still present after delete_module")
	}
	return nil
}

// kernelProblems reads the kernel log and the taint mask for signs of a
// WARN, BUG or oops that did not (yet) panic the guest.
func kernelProblems() []string {
	var problems []string
	if b, err := os.ReadFile("/proc/sys/kernel/tainted"); err == nil {
		t, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		const taintDie, taintWarn, taintBadPage = 1 << 7, 1 << 9, 1 << 5
		if t&(taintDie|taintWarn|taintBadPage) != 0 {
			problems = append(problems, fmt.Sprintf("kernel tainted %#x (W, D or B set)", t))
		}
	}
	// Raw syscalls: the Go poller would wait forever on a drained /dev/kmsg.
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return append(problems, "cannot read /dev/kmsg: "+err.Error())
	}
	defer unix.Close(fd)
	bad := []string{"WARNING:", "BUG:", "Oops", "Call Trace", "general protection", "refcount_t:", "UBSAN", "KASAN", "list_del corruption", "kmemleak"}
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EPIPE || err == unix.EINTR {
			continue // records were overwritten before we read them
		}
		if err != nil || n <= 0 {
			break // EAGAIN: the end of the log
		}
		_, msg, _ := strings.Cut(string(buf[:n]), ";")
		for _, b := range bad {
			if strings.Contains(msg, b) {
				problems = append(problems, strings.TrimSpace(msg))
				break
			}
		}
	}
	return problems
}

// goTest is one top-level Go test's outcome and output.
type goTest struct {
	result ktap.Result
	seen   bool
	output []string
}

// runBinary runs one Go test binary and reports each of its top-level
// tests as a KTAP subtest. A test listed but without a result (the binary
// crashed or timed out) fails.
func runBinary(w *ktap.Writer, bin string, timeout time.Duration) tally {
	name := filepath.Base(bin)
	// ckptnl.run=REGEXP on the kernel command line runs only the tests
	// it matches, as go test -run does.
	// -test.list matches top-level names only: list by the part of the
	// pattern before its first '/'.
	run := cmdline("ckptnl.run", ".")
	top, _, _ := strings.Cut(run, "/")
	list, err := exec.Command(bin, "-test.list", top).Output()
	if err != nil {
		w.Report(name, ktap.Fail, fmt.Sprintf("%s -test.list: %v", name, err))
		return tally{fail: 1}
	}
	var names []string
	for _, l := range strings.Split(string(list), "\n") {
		if strings.HasPrefix(l, "Test") {
			names = append(names, strings.TrimSpace(l))
		}
	}
	if len(names) == 0 {
		w.Report(name, ktap.Skip, "no tests")
		return tally{skip: 1}
	}

	ctx, cancel := context.WithTimeout(context.Background(), timeout+30*time.Second)
	defer cancel()
	// -test.short: under TCG the guest is ~20x slower; tests scale down.
	cmd := exec.CommandContext(ctx, bin, "-test.v", "-test.short", "-test.timeout", timeout.String(), "-test.run", run)
	cmd.Dir = "/tmp"
	cmd.Env = append(os.Environ(),
		// What must work here rather than skip; ckptnl.require= on the
		// kernel command line changes it (another kernel without what
		// criu check needs, say).
		"CKPT_NL_REQUIRE="+cmdline("ckptnl.require", "root,kmod,bpf,settid,criu"),
		"CKPT_NL_MODULE="+modulePath)
	// ckptnl.env=K=V,K=V on the kernel command line reaches the tests.
	if extra := cmdline("ckptnl.env", ""); extra != "" {
		cmd.Env = append(cmd.Env, strings.Split(extra, ",")...)
	}
	var outBuf bytes.Buffer
	cmd.Stdout = &outBuf
	cmd.Stderr = &outBuf
	start := time.Now()
	runErr := cmd.Run()
	tests := parseGoTest(outBuf.Bytes())

	sub := w.Sub(name, len(names))
	allOK := true
	for _, n := range names {
		t := tests[n]
		switch {
		case t == nil || !t.seen:
			var out []string
			if t != nil {
				out = t.output
			}
			sub.Diag(strings.Join(append(out, fmt.Sprintf("no result for %s: the binary ended with %v", n, runErr)), "\n"))
			sub.Report(n, ktap.Fail, "")
			allOK = false
		case t.result == ktap.Skip:
			reason := "skipped"
			if len(t.output) > 0 {
				reason = strings.TrimSpace(t.output[len(t.output)-1])
			}
			sub.Report(n, ktap.Skip, reason)
		default:
			if len(t.output) > 0 {
				sub.Diag(strings.Join(t.output, "\n"))
			}
			sub.Report(n, t.result, "")
			if t.result == ktap.Fail {
				allOK = false
			}
		}
	}
	if runErr != nil && allOK {
		// Every test passed but the binary failed: TestMain, a leak check,
		// or output after the results.
		w.Diag(fmt.Sprintf("%s ended with %v; output tail:\n%s", name, runErr, tail(outBuf.String(), 20)))
		allOK = false
	}
	var t tally
	t.pass, t.fail, t.skip = sub.Counts()
	if runErr != nil && t.fail == 0 {
		t.fail++ // the binary's own failure is a result too
	}
	w.Diag(fmt.Sprintf("%s: %.1fs", name, time.Since(start).Seconds()))
	if allOK {
		w.Report(name, ktap.Pass, "")
	} else {
		w.Report(name, ktap.Fail, "")
	}
	return t
}

// parseGoTest reads "go test -v" output into per-test outcomes, attributing
// output lines to the top-level test running when they were printed.
func parseGoTest(out []byte) map[string]*goTest {
	tests := map[string]*goTest{}
	get := func(name string) *goTest {
		top, _, _ := strings.Cut(name, "/")
		t := tests[top]
		if t == nil {
			t = &goTest{}
			tests[top] = t
		}
		return t
	}
	var cur *goTest
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "=== RUN ") || strings.HasPrefix(line, "=== CONT ") ||
			strings.HasPrefix(line, "=== NAME ") || strings.HasPrefix(line, "=== PAUSE "):
			f := strings.Fields(line)
			if len(f) >= 3 {
				cur = get(f[2])
			}
		case strings.HasPrefix(line, "--- PASS: ") || strings.HasPrefix(line, "--- FAIL: ") || strings.HasPrefix(line, "--- SKIP: "):
			f := strings.Fields(line)
			if len(f) < 3 {
				continue
			}
			t := get(f[2])
			t.seen = true
			t.result = map[string]ktap.Result{"PASS:": ktap.Pass, "FAIL:": ktap.Fail, "SKIP:": ktap.Skip}[f[1]]
			cur = t
		case line == "PASS" || line == "FAIL" || strings.HasPrefix(line, "ok  ") || strings.HasPrefix(line, "FAIL\t"):
		default:
			if cur != nil && strings.TrimSpace(line) != "" {
				cur.output = append(cur.output, line)
			}
		}
	}
	return tests
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// runDemo loads the module and runs the commands of /demo, printing each
// command and its output.
func runDemo(out io.Writer) int {
	if err := loadModule(); err != nil {
		fmt.Fprintf(out, "demo: %v\n", err)
		return 1
	}
	script, err := os.ReadFile("/demo")
	if err != nil {
		fmt.Fprintf(out, "demo: %v\n", err)
		return 1
	}
	for _, line := range strings.Split(string(script), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fmt.Fprintf(out, "guest$ %s\n", line)
		args := strings.Fields(line)
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = "/tmp"
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(out, "demo: %s: %v\n", line, err)
			return 1
		}
	}
	if problems := kernelProblems(); len(problems) > 0 {
		fmt.Fprintf(out, "demo: kernel log:\n%s\n", strings.Join(problems, "\n"))
		return 1
	}
	return 0
}
