// Command run boots a kernel under QEMU with the ckpt-nl test initramfs and
// reports the result. It is the host half of "make vmtest" and "make demo".
//
// It packs an initramfs (the guest /init, the module, binaries for /bin,
// Go test binaries for /tests), boots it with panic_on_warn=1, streams
// what the guest prints on its result port (ttyS1) to standard output and
// keeps the kernel console (ttyS0) in a log file. It succeeds only when
// all of these hold:
//   - QEMU exits with the guest's pass code (isa-debug-exit), not by a
//     panic, a triple fault or the timeout;
//   - in test mode, the KTAP on the result port is complete (every planned
//     result present, at every depth) and has no "not ok";
//   - the console shows no WARN, BUG, oops or panic.
//
// Dynamically linked programs (-elf, such as Debian's criu) go into the
// guest with every library ldd lists, at the same paths; kernel modules they
// need (-kmod) are loaded by the guest in the order given, before ckpt_pids.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/ckpt-nl/ckpt-nl/go/initramfs"
	"github.com/ckpt-nl/ckpt-nl/go/ktap"
)

// The guest's verdicts as QEMU exit codes: (byte << 1) | 1.
const (
	qemuPass = 0x10<<1 | 1
	qemuFail = 0x11<<1 | 1
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

type config struct {
	kernel, init, module, mode, logDir, appendArgs string
	mem                                            string
	smp                                            int
	timeout                                        time.Duration
	bins, tests, demo, files, elfs, kmods          listFlag
}

func main() {
	var c config
	flag.StringVar(&c.kernel, "kernel", "", "kernel image to boot (vmlinux or bzImage)")
	flag.StringVar(&c.init, "init", "", "the guest /init binary (tests/vm/init, static)")
	flag.StringVar(&c.module, "module", "", "ckpt_pids.ko for the guest")
	flag.StringVar(&c.mode, "mode", "test", "test: run /tests and print KTAP; demo: run the -demo commands")
	flag.StringVar(&c.logDir, "log", "", "directory for console.log and results.ktap (default: a temporary one)")
	flag.StringVar(&c.appendArgs, "append", "", "extra kernel command line")
	flag.StringVar(&c.mem, "mem", "1G", "guest memory")
	flag.IntVar(&c.smp, "smp", 1, "guest CPUs")
	flag.DurationVar(&c.timeout, "timeout", 15*time.Minute, "kill the guest after this long")
	flag.Var(&c.bins, "bin", "file to put in the guest's /bin (repeatable)")
	flag.Var(&c.tests, "test", "Go test binary to run in the guest (repeatable)")
	flag.Var(&c.demo, "demo", "command for demo mode (repeatable, run in order)")
	flag.Var(&c.files, "file", "GUESTPATH=HOSTPATH: another file for the guest (repeatable)")
	flag.Var(&c.elfs, "elf", "dynamically linked program for /bin, with the libraries ldd lists (repeatable)")
	flag.Var(&c.kmods, "kmod", "kernel module the guest loads before ckpt_pids, in order (repeatable)")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintf(os.Stderr, "vm: FAIL: %v\n", err)
		os.Exit(1)
	}
}

func run(c config) error {
	if c.kernel == "" || c.init == "" {
		return errors.New("-kernel and -init are required")
	}
	if _, err := os.Stat(c.kernel); err != nil {
		return fmt.Errorf("kernel image: %w (run 'make deps', or set VM_KERNEL)", err)
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return fmt.Errorf("qemu-system-x86_64 not found (run 'make deps'): %w", err)
	}
	if c.logDir == "" {
		dir, err := os.MkdirTemp("", "ckpt-nl-vm-")
		if err != nil {
			return err
		}
		c.logDir = dir
	}
	if err := os.MkdirAll(c.logDir, 0o755); err != nil {
		return err
	}
	initrd := filepath.Join(c.logDir, "initramfs.cpio")
	if err := packInitramfs(c, initrd); err != nil {
		return err
	}
	consoleLog := filepath.Join(c.logDir, "console.log")

	cmdline := "console=ttyS0 panic=-1 panic_on_warn=1 oops=panic softlockup_panic=1 hung_task_panic=1 " +
		"ckptnl.mode=" + c.mode + " " + c.appendArgs
	args := []string{
		"-M", "pc", "-cpu", "max", "-m", c.mem, "-smp", fmt.Sprint(c.smp),
		"-nodefaults", "-display", "none", "-no-reboot",
		"-kernel", c.kernel, "-initrd", initrd, "-append", cmdline,
		"-serial", "file:" + consoleLog, // ttyS0: the kernel console
		"-serial", "stdio", // ttyS1: results
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, args...)
	cmd.Stdin = nil
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	start := time.Now()
	fmt.Fprintf(os.Stderr, "vm: booting %s (logs in %s)\n", c.kernel, c.logDir)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start qemu: %w", err)
	}
	var results bytes.Buffer
	streamed := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
		for sc.Scan() {
			line := strings.TrimRight(sc.Text(), "\r")
			fmt.Println(line)
			results.WriteString(line + "\n")
		}
		streamed <- sc.Err()
	}()
	<-streamed
	waitErr := cmd.Wait()
	elapsed := time.Since(start)
	os.WriteFile(filepath.Join(c.logDir, "results.txt"), results.Bytes(), 0o644)

	var failures []string
	code := cmd.ProcessState.ExitCode()
	switch {
	case ctx.Err() != nil:
		failures = append(failures, fmt.Sprintf("guest hung: killed after %v", c.timeout))
	case code == qemuPass:
	case code == qemuFail:
		failures = append(failures, "the guest reported failure")
	case code == 0:
		failures = append(failures, "the guest panicked or powered off without a verdict")
	default:
		failures = append(failures, fmt.Sprintf("qemu exited with %d (%v)", code, waitErr))
	}
	if c.mode == "test" {
		doc, err := ktap.Parse(bytes.NewReader(results.Bytes()))
		if err != nil {
			failures = append(failures, err.Error())
		} else {
			failures = append(failures, doc.AllProblems()...)
			pass, fail, skip := doc.Count()
			fmt.Fprintf(os.Stderr, "vm: KTAP: %d planned, %d results; leaves pass:%d fail:%d skip:%d\n",
				doc.Plan, len(doc.Tests), pass, fail, skip)
		}
	}
	console, _ := os.ReadFile(consoleLog)
	failures = append(failures, consoleProblems(console)...)
	fmt.Fprintf(os.Stderr, "vm: guest ran %.1fs\n", elapsed.Seconds())
	if len(failures) > 0 {
		fmt.Fprintf(os.Stderr, "vm: kernel console (last lines of %s):\n%s\n", consoleLog, tail(string(console), 40))
		return errors.New(strings.Join(failures, "; "))
	}
	return nil
}

var consoleBad = regexp.MustCompile(`(?m)(Kernel panic|WARNING: |BUG: |Oops|general protection fault|Call Trace:|UBSAN:|refcount_t: )`)

func consoleProblems(console []byte) []string {
	var out []string
	for _, m := range consoleBad.FindAllIndex(console, 5) {
		start := bytes.LastIndexByte(console[:m[0]], '\n') + 1
		end := bytes.IndexByte(console[m[0]:], '\n')
		if end < 0 {
			end = len(console) - m[0]
		}
		out = append(out, "kernel console: "+strings.TrimSpace(string(console[start:m[0]+end])))
	}
	return out
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func packInitramfs(c config, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := initramfs.NewWriter(bw)
	for _, d := range []string{"proc", "sys", "dev", "tmp", "run", "bin", "sbin", "tests"} {
		w.Dir(d, 0o755)
	}
	w.CopyFile("init", c.init)
	if c.module != "" {
		w.CopyFile("lib/modules/extra/ckpt_pids.ko", c.module)
	}
	for _, b := range c.bins {
		w.CopyFile("bin/"+filepath.Base(b), b)
	}
	for _, t := range c.tests {
		w.CopyFile("tests/"+filepath.Base(t), t)
	}
	for _, b := range c.elfs {
		libs, err := sharedLibraries(b)
		if err != nil {
			f.Close()
			return err
		}
		w.CopyFile("bin/"+filepath.Base(b), b)
		for _, l := range libs {
			w.CopyFile(strings.TrimPrefix(l, "/"), l)
		}
	}
	var order []string
	for i, m := range c.kmods {
		name := fmt.Sprintf("lib/modules/deps/%02d-%s", i, filepath.Base(m))
		w.CopyFile(name, m)
		order = append(order, "/"+name)
	}
	if len(order) > 0 {
		w.File("lib/modules/deps/order", 0o644, []byte(strings.Join(order, "\n")+"\n"))
	}
	for _, spec := range c.files {
		guest, host, ok := strings.Cut(spec, "=")
		if !ok {
			return fmt.Errorf("-file %q: want GUESTPATH=HOSTPATH", spec)
		}
		w.CopyFile(guest, host)
	}
	if len(c.demo) > 0 {
		w.File("demo", 0o644, []byte(strings.Join(c.demo, "\n")+"\n"))
	}
	if err := w.Close(); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// sharedLibraries lists the absolute paths of the libraries and loader that
// ldd says program needs.
func sharedLibraries(program string) ([]string, error) {
	out, err := exec.Command("ldd", program).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w (is it a dynamically linked program?)", program, err)
	}
	var libs []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			libs = append(libs, f[2]) // libfoo.so.1 => /lib/.../libfoo.so.1 (0x...)
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			libs = append(libs, f[0]) // the loader: /lib64/ld-linux-x86-64.so.2 (0x...)
		case len(f) >= 2 && f[1] == "=>" && (len(f) < 3 || f[2] == "not"):
			return nil, fmt.Errorf("ldd %s: %s is not found", program, f[0])
		}
	}
	return libs, nil
}
