package kmod

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ModuleName is the name the module registers with the kernel.
const ModuleName = "ckpt_pids"

// Loaded reports whether the module is loaded.
func Loaded() bool {
	_, err := os.Stat("/sys/module/" + ModuleName)
	return err == nil
}

// LoadFile loads the module from a .ko file with finit_module(2).
// Loading an already loaded module is not an error.
func LoadFile(path string, params string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("kmod: load: %w", err)
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), params, 0); err != nil {
		switch {
		case errors.Is(err, unix.EEXIST):
			return nil
		case errors.Is(err, unix.EPERM):
			return fmt.Errorf("kmod: load %s: %w (needs CAP_SYS_MODULE, and module loading must not be disabled)", path, err)
		}
		return fmt.Errorf("kmod: load %s: %w (see dmesg)", path, err)
	}
	return nil
}

// Unload removes the module. It fails with EBUSY while a client holds a
// restart context or the module is otherwise in use.
func Unload() error {
	if err := unix.DeleteModule(ModuleName, unix.O_NONBLOCK); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("kmod: unload: %w", &notLoadedError{err: err})
		}
		return fmt.Errorf("kmod: unload %s: %w", ModuleName, err)
	}
	return nil
}
