// Package initramfs writes the "newc" cpio archives the kernel unpacks as
// its initial root file system.
package initramfs

import (
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// Writer adds files to an archive; parent directories are created as
// needed. Close writes the trailer.
type Writer struct {
	w    io.Writer
	ino  uint32
	dirs map[string]bool
	err  error
}

// NewWriter starts an archive on w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, ino: 1, dirs: map[string]bool{"": true, ".": true, "/": true}}
}

const (
	modeDir  = 0o040000
	modeFile = 0o100000
	modeLink = 0o120000
)

func (w *Writer) header(name string, mode uint32, size int) {
	if w.err != nil {
		return
	}
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		w.ino, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, len(name)+1, 0)
	w.ino++
	w.write([]byte(hdr + name + "\x00"))
	w.pad(len(hdr) + len(name) + 1)
}

func (w *Writer) write(b []byte) {
	if w.err == nil {
		_, w.err = w.w.Write(b)
	}
}

func (w *Writer) pad(n int) {
	if r := n % 4; r != 0 {
		w.write(make([]byte, 4-r))
	}
}

func (w *Writer) parents(name string) {
	dir := path.Dir(strings.TrimPrefix(path.Clean("/"+name), "/"))
	if w.dirs[dir] {
		return
	}
	w.parents(dir)
	w.Dir(dir, 0o755)
}

// Dir adds a directory.
func (w *Writer) Dir(name string, perm os.FileMode) {
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	if w.dirs[name] {
		return
	}
	w.parents(name)
	w.dirs[name] = true
	w.header(name, modeDir|uint32(perm.Perm()), 0)
}

// File adds a regular file with the given contents.
func (w *Writer) File(name string, perm os.FileMode, data []byte) {
	w.parents(name)
	w.header(name, modeFile|uint32(perm.Perm()), len(data))
	w.write(data)
	w.pad(len(data))
}

// CopyFile adds the file at src under name, keeping its permission bits.
func (w *Writer) CopyFile(name, src string) {
	if w.err != nil {
		return
	}
	data, err := os.ReadFile(src)
	if err != nil {
		w.err = fmt.Errorf("initramfs: %w", err)
		return
	}
	fi, err := os.Stat(src)
	if err != nil {
		w.err = fmt.Errorf("initramfs: %w", err)
		return
	}
	w.File(name, fi.Mode(), data)
}

// Symlink adds a symbolic link name pointing to target.
func (w *Writer) Symlink(name, target string) {
	w.parents(name)
	w.header(name, modeLink|0o777, len(target))
	w.write([]byte(target))
	w.pad(len(target))
}

// Close writes the trailer and returns the first error met.
func (w *Writer) Close() error {
	w.header("TRAILER!!!", 0, 0)
	return w.err
}
