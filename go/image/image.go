// Package image serializes snapshots to the versioned, checksummed ckpt-nl
// image format, and reads them back with every length bounded before it is
// used. The layout, little-endian with 8-byte aligned records (after the
// linux-cr checkpoint headers), is documented in docs/IMAGE.md:
//
//	header     magic "CKPT-NL\0", version, flags, backend, total length
//	namespaces section header, then 16-byte entries
//	pids       section header (with nr_pids and nr_vpids), then entries of
//	           12 + 4*(depth+1) bytes rounded up to 8
//	tasks      section header, then 32-byte entries
//	meta       optional: creation time, root pid, kernel, comm and argv
//	checksum   CRC-32C of everything before it
package image

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/ckpt-nl/ckpt-nl/go/model"
)

// Version is the format version this package writes and reads.
const Version = 1

var magic = [8]byte{'C', 'K', 'P', 'T', '-', 'N', 'L', 0}

// Flags of the header.
const (
	flagSubtree = 1 << 0 // else container
	flagMeta    = 1 << 1 // a meta section follows the tasks

	knownFlags = flagSubtree | flagMeta
)

// Section kinds.
const (
	secNamespaces = 1
	secPids       = 2
	secTasks      = 3
	secMeta       = 4
)

var sectionNames = map[uint32]string{
	secNamespaces: "namespace section",
	secPids:       "pid section",
	secTasks:      "task section",
	secMeta:       "meta section",
}

const (
	headerSize   = 24 // magic, version u32, flags u32, total length u32, reserved u32
	sectionSize  = 16 // kind, count, byte size, extra (nr_vpids for pids)
	nsEntrySize  = 16
	pidEntryMin  = 16
	taskEntry    = 32
	checksumSize = 8

	// MaxSize bounds an image file: 32 MiB of tasks is over half a million.
	MaxSize = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func align8(n int) int { return (n + 7) &^ 7 }

// Options of Encode.
type Options struct {
	// NoMeta leaves out the meta section (creation time, kernel, comm and
	// argv): an image of identity only.
	NoMeta bool
}

// Encode serializes s. It validates s first: an image is always consistent.
func Encode(s *model.Snapshot, opt Options) ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("image: encode: %w", err)
	}
	le := binary.LittleEndian
	size := headerSize + 3*sectionSize + len(s.Namespaces)*nsEntrySize + len(s.Tasks)*taskEntry + checksumSize
	for i := range s.Pids {
		size += pidEntrySize(s.Pids[i].Depth())
	}
	buf := make([]byte, 0, size)
	u32 := func(v uint32) { buf = le.AppendUint32(buf, v) }

	flags := uint32(0)
	if s.Mode == model.ModeSubtree {
		flags |= flagSubtree
	}
	if !opt.NoMeta {
		flags |= flagMeta
	}
	buf = append(buf, magic[:]...)
	u32(Version)
	u32(flags)
	u32(0) // total length, patched below
	u32(0)

	section := func(kind uint32, count, bytes, extra int) {
		u32(kind)
		u32(uint32(count))
		u32(uint32(bytes))
		u32(uint32(extra))
	}
	section(secNamespaces, len(s.Namespaces), len(s.Namespaces)*nsEntrySize, 0)
	for _, ns := range s.Namespaces {
		u32(ns.Tag)
		u32(ns.Parent)
		u32(uint32(ns.Level))
		u32(0)
	}
	pidBytes := 0
	for i := range s.Pids {
		pidBytes += pidEntrySize(s.Pids[i].Depth())
	}
	section(secPids, len(s.Pids), pidBytes, s.NrVpids())
	for i := range s.Pids {
		p := &s.Pids[i]
		start := len(buf)
		u32(p.Tag)
		u32(p.NS)
		u32(uint32(p.Depth()))
		for _, n := range p.Numbers {
			u32(uint32(n))
		}
		for len(buf)-start < pidEntrySize(p.Depth()) {
			buf = append(buf, 0)
		}
	}
	section(secTasks, len(s.Tasks), len(s.Tasks)*taskEntry, 0)
	for i := range s.Tasks {
		t := &s.Tasks[i]
		u32(t.Pid)
		u32(t.PPid)
		u32(t.Tgid)
		u32(t.Pgid)
		u32(t.Sid)
		buf = append(buf, byte(t.Depth), byte(t.State), 0, 0)
		u32(uint32(t.ExitCode))
		u32(0)
	}
	if !opt.NoMeta {
		meta := encodeMeta(s)
		section(secMeta, len(s.Tasks), len(meta), 0)
		buf = append(buf, meta...)
	}
	le.PutUint32(buf[16:], uint32(len(buf)+checksumSize))
	u32(crc32.Checksum(buf, castagnoli))
	u32(0)
	if len(buf) > MaxSize {
		return nil, fmt.Errorf("image: encode: %d bytes exceeds the %d-byte limit", len(buf), MaxSize)
	}
	return buf, nil
}

func pidEntrySize(depth int) int { return align8(12 + 4*(depth+1)) }

func encodeMeta(s *model.Snapshot) []byte {
	le := binary.LittleEndian
	var b []byte
	str := func(v string) {
		if len(v) > 0xffff {
			v = v[:0xffff]
		}
		b = le.AppendUint16(b, uint16(len(v)))
		b = append(b, v...)
	}
	b = le.AppendUint64(b, uint64(s.Meta.Created))
	b = le.AppendUint32(b, uint32(s.Meta.RootPid))
	str(s.Meta.Backend)
	str(s.Meta.Kernel)
	for i := range s.Tasks {
		t := &s.Tasks[i]
		str(t.Comm)
		argv := t.Argv
		if len(argv) > 0xffff {
			argv = argv[:0xffff]
		}
		b = le.AppendUint16(b, uint16(len(argv)))
		for _, a := range argv {
			str(a)
		}
	}
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	return b
}

// WriteFile writes the image of s to path atomically: a temporary file in
// the same directory, synced and renamed, so a failure never leaves a
// half-written image behind.
func WriteFile(path string, s *model.Snapshot, opt Options) error {
	data, err := Encode(s, opt)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	tmp := f.Name()
	if _, err := f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("image: write %s: %w", path, err)
	}
	return nil
}

// ReadFile reads and decodes the image at path.
func ReadFile(path string) (*model.Snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("image: read %s: %w", path, err)
	}
	s, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// FormatError is a malformed image: where, and what is wrong.
type FormatError struct {
	Where string // "header", "pid section: entry 7", ...
	What  string
}

func (e *FormatError) Error() string {
	if e.Where == "" {
		return "image: " + e.What
	}
	return "image: " + e.Where + ": " + e.What
}

// ErrNotImage is matched by the error for data that is not an image at all.
var ErrNotImage = errors.New("not a ckpt-nl image (bad magic)")

// reader walks the image with bounds checks.
type reader struct {
	b   []byte
	off int
}

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) u32() uint32 {
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *reader) u16() uint16 {
	v := binary.LittleEndian.Uint16(r.b[r.off:])
	r.off += 2
	return v
}

// Decode parses and validates an image.
func Decode(b []byte) (*model.Snapshot, error) {
	ferr := func(where, format string, args ...any) error {
		return &FormatError{Where: where, What: fmt.Sprintf(format, args...)}
	}
	if len(b) < 8 || !bytes.Equal(b[:8], magic[:]) {
		return nil, fmt.Errorf("image: %w", ErrNotImage)
	}
	if len(b) < headerSize+checksumSize {
		return nil, ferr("header", "truncated: %d bytes", len(b))
	}
	if len(b) > MaxSize {
		return nil, ferr("", "%d bytes exceeds the %d-byte limit", len(b), MaxSize)
	}
	r := &reader{b: b, off: 8}
	version := r.u32()
	if version != Version {
		return nil, ferr("header", "format version %d is not supported (this ckpt-nl reads version %d)", version, Version)
	}
	flags := r.u32()
	if flags&^knownFlags != 0 {
		return nil, ferr("header", "unknown flags %#x", flags&^knownFlags)
	}
	total := int(r.u32())
	r.u32()
	switch {
	case total > len(b):
		return nil, ferr("", "truncated: header says %d bytes, file has %d", total, len(b))
	case total < len(b):
		return nil, ferr("", "%d bytes of trailing data after the image", len(b)-total)
	case total%8 != 0:
		return nil, ferr("header", "length %d is not a multiple of 8", total)
	}
	sum := binary.LittleEndian.Uint32(b[total-checksumSize:])
	if got := crc32.Checksum(b[:total-checksumSize], castagnoli); got != sum {
		return nil, ferr("", "checksum mismatch (stored %#08x, computed %#08x): the image is corrupt", sum, got)
	}
	r.b = b[:total-checksumSize]

	s := &model.Snapshot{Mode: model.ModeContainer}
	if flags&flagSubtree != 0 {
		s.Mode = model.ModeSubtree
	}

	section := func(kind uint32, entryMin int) (count, size, extra int, err error) {
		name := sectionNames[kind]
		if r.left() < sectionSize {
			return 0, 0, 0, ferr(name, "truncated header")
		}
		k := r.u32()
		count, size, extra = int(r.u32()), int(r.u32()), int(r.u32())
		switch {
		case k != kind:
			return 0, 0, 0, ferr(name, "found section kind %d in its place", k)
		case size > r.left():
			return 0, 0, 0, ferr(name, "%d bytes, but only %d remain", size, r.left())
		case size%8 != 0:
			return 0, 0, 0, ferr(name, "size %d is not a multiple of 8", size)
		case count < 0 || (entryMin > 0 && count > size/entryMin):
			return 0, 0, 0, ferr(name, "%d entries cannot fit in %d bytes", count, size)
		}
		return count, size, extra, nil
	}

	count, size, _, err := section(secNamespaces, nsEntrySize)
	if err != nil {
		return nil, err
	}
	if size != count*nsEntrySize {
		return nil, ferr("namespace section", "%d bytes for %d entries, want %d", size, count, count*nsEntrySize)
	}
	s.Namespaces = make([]model.Namespace, count)
	for i := range s.Namespaces {
		ns := &s.Namespaces[i]
		ns.Tag, ns.Parent = r.u32(), r.u32()
		level := r.u32()
		if r.u32() != 0 {
			return nil, ferr(fmt.Sprintf("namespace section: entry %d", i), "reserved field is not zero")
		}
		if level >= model.MaxDepth {
			return nil, ferr(fmt.Sprintf("namespace section: entry %d", i), "level %d exceeds %d", level, model.MaxDepth-1)
		}
		ns.Level = int(level)
	}

	count, size, nrVpids, err := section(secPids, pidEntryMin)
	if err != nil {
		return nil, err
	}
	end := r.off + size
	s.Pids = make([]model.Pid, count)
	if nrVpids > size/4 {
		return nil, ferr("pid section", "nr_vpids %d cannot fit in %d bytes", nrVpids, size)
	}
	vpids := 0
	numbers := make([]int32, 0, count+nrVpids)
	for i := range s.Pids {
		where := fmt.Sprintf("pid section: entry %d", i)
		if end-r.off < 12 {
			return nil, ferr(where, "truncated")
		}
		p := &s.Pids[i]
		p.Tag, p.NS = r.u32(), r.u32()
		depth := r.u32()
		if depth >= model.MaxDepth {
			return nil, ferr(where, "depth %d exceeds %d", depth, model.MaxDepth-1)
		}
		n := pidEntrySize(int(depth))
		if end-(r.off-12) < n {
			return nil, ferr(where, "depth %d needs %d bytes, only %d remain in the section", depth, n, end-(r.off-12))
		}
		start := r.off - 12
		first := len(numbers)
		for l := 0; l <= int(depth); l++ {
			numbers = append(numbers, int32(r.u32()))
		}
		p.Numbers = numbers[first:len(numbers):len(numbers)]
		for r.off < start+n {
			if r.b[r.off] != 0 {
				return nil, ferr(where, "padding is not zero")
			}
			r.off++
		}
		vpids += int(depth)
	}
	if r.off != end {
		return nil, ferr("pid section", "%d bytes left after %d entries", end-r.off, count)
	}
	if vpids != nrVpids {
		return nil, ferr("pid section", "nr_vpids says %d, the entries' depths sum to %d", nrVpids, vpids)
	}

	count, size, _, err = section(secTasks, taskEntry)
	if err != nil {
		return nil, err
	}
	if size != count*taskEntry {
		return nil, ferr("task section", "%d bytes for %d entries, want %d", size, count, count*taskEntry)
	}
	s.Tasks = make([]model.Task, count)
	for i := range s.Tasks {
		t := &s.Tasks[i]
		t.Pid, t.PPid, t.Tgid, t.Pgid, t.Sid = r.u32(), r.u32(), r.u32(), r.u32(), r.u32()
		t.Depth = int(r.b[r.off])
		t.State = model.State(r.b[r.off+1])
		r.off += 2
		if r.u16() != 0 {
			return nil, ferr(fmt.Sprintf("task section: entry %d", i), "reserved field is not zero")
		}
		t.ExitCode = int32(r.u32())
		if r.u32() != 0 {
			return nil, ferr(fmt.Sprintf("task section: entry %d", i), "reserved field is not zero")
		}
	}

	if flags&flagMeta != 0 {
		count, size, _, err := section(secMeta, 0)
		if err != nil {
			return nil, err
		}
		if count != len(s.Tasks) {
			return nil, ferr("meta section", "%d entries for %d tasks", count, len(s.Tasks))
		}
		if err := decodeMeta(s, r.b[r.off:r.off+size]); err != nil {
			return nil, err
		}
		r.off += size
	}
	if r.left() != 0 {
		return nil, ferr("", "%d unexpected bytes after the last section", r.left())
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	return s, nil
}

func decodeMeta(s *model.Snapshot, b []byte) error {
	r := &reader{b: b}
	bad := func(format string, args ...any) error {
		return &FormatError{Where: "meta section", What: fmt.Sprintf(format, args...)}
	}
	str := func() (string, bool) {
		if r.left() < 2 {
			return "", false
		}
		n := int(r.u16())
		if r.left() < n {
			return "", false
		}
		v := string(r.b[r.off : r.off+n])
		r.off += n
		return v, true
	}
	if r.left() < 12 {
		return bad("truncated")
	}
	s.Meta.Created = int64(binary.LittleEndian.Uint64(r.b))
	r.off += 8
	s.Meta.RootPid = int32(r.u32())
	var ok bool
	if s.Meta.Backend, ok = str(); !ok {
		return bad("truncated backend name")
	}
	if s.Meta.Kernel, ok = str(); !ok {
		return bad("truncated kernel release")
	}
	for i := range s.Tasks {
		t := &s.Tasks[i]
		if t.Comm, ok = str(); !ok {
			return bad("task %d: truncated comm", i)
		}
		if r.left() < 2 {
			return bad("task %d: truncated argv", i)
		}
		argc := int(r.u16())
		if argc > r.left()/2 {
			return bad("task %d: %d arguments cannot fit in %d bytes", i, argc, r.left())
		}
		if argc > 0 {
			t.Argv = make([]string, argc)
		}
		for j := range t.Argv {
			if t.Argv[j], ok = str(); !ok {
				return bad("task %d: truncated argument %d", i, j)
			}
		}
	}
	if r.left() >= 8 {
		return bad("%d bytes left after the last task", r.left())
	}
	for _, c := range r.b[r.off:] {
		if c != 0 {
			return bad("padding is not zero")
		}
	}
	return nil
}
