// Command init is the /init of the ckpt-nl test VM.
//
// As pid 1 it mounts the kernel's file systems, starts itself again as the
// runner, reaps every orphan until the runner ends, and then powers the VM
// off through QEMU's isa-debug-exit device with the verdict: exitPass when
// the runner succeeded, exitFail otherwise. (QEMU exits with (v<<1)|1 for a
// byte v; a kernel panic exits 0; the host runner accepts only exitPass.)
//
// The runner writes its results to /dev/ttyS1, which the host reads apart
// from the kernel's console on ttyS0:
//   - ckptnl.mode=test (default): load the module, run every Go test binary
//     in /tests, unload the module, check the kernel log; print KTAP.
//   - ckptnl.mode=demo: load the module and run the commands listed in
//     /demo, one per line, printing each with its output.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const (
	exitPass = 0x10 // QEMU exits 33
	exitFail = 0x11 // QEMU exits 35

	modulePath = "/lib/modules/extra/ckpt_pids.ko"
	depsOrder  = "/lib/modules/deps/order"
	resultTTY  = "/dev/ttyS1"
)

func main() {
	if os.Getpid() == 1 {
		initMain()
		return
	}
	os.Exit(runnerMain())
}

func initMain() {
	console, err := os.OpenFile("/dev/console", os.O_WRONLY, 0)
	if err == nil {
		os.Stdout, os.Stderr = console, console
	}
	if err := mountAll(); err != nil {
		fmt.Fprintf(os.Stderr, "init: %v\n", err)
		powerOff(exitFail)
	}
	if err := loadDeps(); err != nil {
		fmt.Fprintf(os.Stderr, "init: %v\n", err)
		powerOff(exitFail)
	}
	if err := loopbackUp(); err != nil {
		fmt.Fprintf(os.Stderr, "init: %v\n", err)
		powerOff(exitFail)
	}
	os.Setenv("PATH", "/bin:/sbin")
	os.Setenv("HOME", "/tmp")
	os.Setenv("TMPDIR", "/tmp")
	os.Setenv("CKPT_NL_VM", "1")

	runner := exec.Command("/init", "runner")
	runner.Stdout, runner.Stderr = os.Stdout, os.Stderr
	runner.Dir = "/tmp"
	if err := runner.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "init: start runner: %v\n", err)
		powerOff(exitFail)
	}
	verdict := byte(exitFail)
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WALL, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "init: wait: %v\n", err)
			break
		}
		if pid == runner.Process.Pid {
			if ws.Exited() && ws.ExitStatus() == 0 {
				verdict = exitPass
			} else {
				fmt.Fprintf(os.Stderr, "init: runner ended with status %#x\n", uint32(ws))
			}
			break
		}
	}
	// Nothing may outlive the run: kill and reap what is left.
	unix.Kill(-1, unix.SIGKILL)
	for {
		if _, err := unix.Wait4(-1, nil, unix.WALL, nil); err == unix.ECHILD {
			break
		}
	}
	unix.Sync()
	powerOff(verdict)
}

type mount struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
}

func mountAll() error {
	mounts := []mount{
		{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
		{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "ptmxmode=0666"},
		{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
		{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
		{"bpf", "/sys/fs/bpf", "bpf", 0, ""},
		{"cgroup2", "/sys/fs/cgroup", "cgroup2", 0, ""},
		{"debugfs", "/sys/kernel/debug", "debugfs", 0, ""},
	}
	for _, m := range mounts {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data); err != nil && err != unix.EBUSY {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err)
		}
	}
	return nil
}

// loadDeps loads the kernel modules listed in depsOrder (the host runner's
// -kmod files, such as those criu needs), in that order.
func loadDeps() error {
	b, err := os.ReadFile(depsOrder)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, path := range strings.Fields(string(b)) {
		if err := insmod(path); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
	}
	return nil
}

// loopbackUp brings lo up, as a booted system has it (criu checks it).
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("lo: socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo: get flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo: up: %w", err)
	}
	return nil
}

// powerOff ends the VM with verdict v, or powers off where there is no
// isa-debug-exit device.
func powerOff(v byte) {
	if f, err := os.OpenFile("/dev/port", os.O_WRONLY, 0); err == nil {
		f.WriteAt([]byte{v}, 0xf4)
		f.Close()
	}
	time.Sleep(time.Second)
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

// cmdline returns the value of key=value on the kernel command line.
func cmdline(key, def string) string {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return def
	}
	for _, f := range strings.Fields(string(b)) {
		if k, v, ok := strings.Cut(f, "="); ok && k == key {
			return v
		}
	}
	return def
}

// openResults opens the result port in raw mode.
func openResults() (*os.File, error) {
	f, err := os.OpenFile(resultTTY, os.O_WRONLY|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err == nil {
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag = t.Cflag&^(unix.CBAUD|unix.CSIZE|unix.PARENB) | unix.B115200 | unix.CS8
		unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t)
	}
	return f, nil
}

// drain waits until the serial port has sent everything written to it.
func drain(f *os.File) {
	f.Sync()
	unix.IoctlSetInt(int(f.Fd()), unix.TCSBRK, 1)
}

func runnerMain() int {
	out, err := openResults()
	if err != nil {
		fmt.Fprintf(os.Stderr, "runner: open %s: %v\n", resultTTY, err)
		return 1
	}
	defer drain(out)

	switch mode := cmdline("ckptnl.mode", "test"); mode {
	case "test":
		return runTests(out)
	case "demo":
		return runDemo(out)
	default:
		fmt.Fprintf(out, "runner: unknown ckptnl.mode=%s\n", mode)
		return 1
	}
}
