package status

import (
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cloneArgs is struct clone_args up to set_tid_size (CLONE_ARGS_SIZE_VER1).
type cloneArgs struct {
	flags      uint64
	pidfd      uint64
	childTID   uint64
	parentTID  uint64
	exitSignal uint64
	stack      uint64
	stackSize  uint64
	tls        uint64
	setTID     uint64
	setTIDSize uint64
}

// clone3SetTID creates a child in a new pid namespace asking for pid 1
// through set_tid, the way a restart creates every task, and reaps it.
func clone3SetTID() error {
	tid := [1]int32{1}
	args := cloneArgs{
		flags:      unix.CLONE_NEWPID,
		exitSignal: uint64(unix.SIGCHLD),
		setTID:     uint64(uintptr(unsafe.Pointer(&tid[0]))),
		setTIDSize: 1,
	}
	pid, errno := clone3Exit(&args)
	if errno != 0 {
		return fmt.Errorf("clone3 with set_tid: %w", errno)
	}
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait for clone3 child %d: %w", pid, err)
		}
		break
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		return fmt.Errorf("clone3 child %d ended with status %#x", pid, uint32(ws))
	}
	return nil
}

// clone3Exit calls clone3; the child exits at once without running any Go
// code, as the runtime's own fork path does (only raw, nosplit syscalls).
//
//go:norace
//go:nocheckptr
//go:nosplit
func clone3Exit(args *cloneArgs) (int, syscall.Errno) {
	r1, _, errno := syscall.RawSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(args)), unsafe.Sizeof(*args), 0)
	if errno == 0 && r1 == 0 {
		syscall.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
	}
	return int(r1), errno
}
