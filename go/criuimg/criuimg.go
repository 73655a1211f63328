// Package criuimg converts between ckpt-nl images and CRIU's process-tree
// image (pstree.img, with the task states of core-PID.img), through
// go-criu's crit. CRIU keeps one pid level: the numbers in the dumped
// tree's own namespace. What that cannot say (deeper pid levels, the
// namespace tree, pids outside the root's namespace) is reported by
// Export, never silently dropped.
package criuimg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/checkpoint-restore/go-criu/v7/crit"
	criucore "github.com/checkpoint-restore/go-criu/v7/crit/images/criu-core"
	"github.com/checkpoint-restore/go-criu/v7/crit/images/pstree"
	"github.com/checkpoint-restore/go-criu/v7/magic"
	"google.golang.org/protobuf/proto"

	"github.com/ckpt-nl/ckpt-nl/go/model"
)

// CRIU's task states (criu/include/task-state.h... images/core.proto).
const (
	taskAlive   = 0x1
	taskDead    = 0x2
	taskStopped = 0x3
)

// Export writes s's process tree as dir/pstree.img. It returns what the
// CRIU image cannot express.
func Export(s *model.Snapshot, dir string) ([]string, error) {
	var lost []string
	if len(s.Namespaces) > 1 {
		lost = append(lost, fmt.Sprintf("%d nested pid namespaces and %d pid numbers below the root's level: CRIU keeps one level", len(s.Namespaces)-1, s.NrVpids()))
	}
	threads := map[uint32][]uint32{}
	for i := range s.Tasks {
		t := &s.Tasks[i]
		threads[t.Tgid] = append(threads[t.Tgid], uint32(s.Nr(t.Pid)))
	}
	nr := func(tag uint32, what string, t *model.Task) uint32 {
		switch tag {
		case model.TagOutside:
			if what != "ppid" {
				lost = append(lost, fmt.Sprintf("task %d: its %s is outside the root's namespace (0 in pstree.img)", s.Nr(t.Pid), what))
			}
			return 0
		case model.TagRootSession:
			lost = append(lost, fmt.Sprintf("task %d: its session is the one the root inherited (0 in pstree.img; restore it with criu --shell-job)", s.Nr(t.Pid)))
			return 0
		}
		return uint32(s.Nr(tag))
	}
	img := &crit.CriuImage{Magic: "PSTREE"}
	for i := range s.Tasks {
		t := &s.Tasks[i]
		if t.IsThread() {
			continue
		}
		e := &pstree.PstreeEntry{
			Pid:     proto.Uint32(uint32(s.Nr(t.Pid))),
			Ppid:    proto.Uint32(nr(t.PPid, "ppid", t)),
			Pgid:    proto.Uint32(nr(t.Pgid, "process group", t)),
			Sid:     proto.Uint32(nr(t.Sid, "session", t)),
			Threads: threads[t.Tgid],
		}
		img.Entries = append(img.Entries, &crit.CriuEntry{Message: e})
		if t.State != model.Alive {
			lost = append(lost, fmt.Sprintf("task %d: state %s lives in CRIU's core-%d.img, not written here", s.Nr(t.Pid), t.State, s.Nr(t.Pid)))
		}
	}
	f, err := os.Create(filepath.Join(dir, "pstree.img"))
	if err != nil {
		return nil, fmt.Errorf("criu: %w", err)
	}
	defer f.Close()
	if err := crit.New(nil, f, "", false, false).Encode(img); err != nil {
		return nil, fmt.Errorf("criu: write pstree.img: %w", err)
	}
	return lost, nil
}

// maxImage bounds the size of one CRIU image file Import reads: a
// pstree.img of 4 million tasks is well under it.
const maxImage = 256 << 20

// pidMaxLimit is the kernel's PID_MAX_LIMIT on 64-bit: no pid number is
// larger.
const pidMaxLimit = 4 << 20

// Import reads the process tree of a CRIU image directory: pstree.img,
// and each task's state and exit code from core-PID.img when present.
// The snapshot has one pid level (all CRIU records).
func Import(dir string) (*model.Snapshot, error) {
	data, err := readImage(filepath.Join(dir, "pstree.img"))
	if err != nil {
		return nil, err
	}
	return parse(data, func(pid uint32) (model.State, int32, error) { return coreState(dir, pid) })
}

// parse decodes pstree.img's bytes into a snapshot; state gives each
// task's state and exit code.
func parse(data []byte, state func(pid uint32) (model.State, int32, error)) (*model.Snapshot, error) {
	var entries []*pstree.PstreeEntry
	err := decodeEntries(data, "PSTREE", func(b []byte) error {
		pe := &pstree.PstreeEntry{}
		if err := proto.Unmarshal(b, pe); err != nil {
			return err
		}
		entries = append(entries, pe)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("criu: pstree.img: %w", err)
	}
	return build(entries, state)
}

// build assembles the snapshot of a CRIU process tree; state gives each
// task's state and exit code.
func build(entries []*pstree.PstreeEntry, state func(pid uint32) (model.State, int32, error)) (*model.Snapshot, error) {
	if len(entries) == 0 {
		return nil, fmt.Errorf("criu: pstree.img is empty")
	}
	raw := &model.Raw{Pids: map[uint64]*model.RawPid{}}
	var bad error
	key := func(i int, what string, n uint32, zeroOK bool) uint64 {
		if (n == 0 && !zeroOK) || n > pidMaxLimit {
			if bad == nil {
				bad = fmt.Errorf("criu: pstree.img: entry %d: %s %d out of range", i, what, n)
			}
			return 0
		}
		if n == 0 {
			return 0
		}
		if raw.Pids[uint64(n)] == nil {
			raw.Pids[uint64(n)] = &model.RawPid{Numbers: []int32{int32(n)}, NS: []uint64{1}}
		}
		return uint64(n)
	}
	seen := map[uint32]int{}
	for i, pe := range entries {
		if j, dup := seen[pe.GetPid()]; dup {
			return nil, fmt.Errorf("criu: pstree.img: entry %d: pid %d already in entry %d", i, pe.GetPid(), j)
		}
		seen[pe.GetPid()] = i
		st, code, err := state(pe.GetPid())
		if err != nil {
			return nil, err
		}
		tg := key(i, "pid", pe.GetPid(), false)
		t := model.RawTask{Pid: tg, Tgid: tg, PPid: key(i, "ppid", pe.GetPpid(), true),
			Pgid: key(i, "pgid", pe.GetPgid(), true), Sid: key(i, "sid", pe.GetSid(), true),
			State: st, ExitCode: code}
		raw.Tasks = append(raw.Tasks, t)
		if st == model.Zombie {
			// A zombie has no threads; CRIU 3.17 writes an unset
			// number in its thread list.
			continue
		}
		ths := append([]uint32(nil), pe.GetThreads()...)
		sort.Slice(ths, func(i, j int) bool { return ths[i] < ths[j] })
		for _, th := range ths {
			if th == pe.GetPid() {
				continue
			}
			if j, dup := seen[th]; dup {
				return nil, fmt.Errorf("criu: pstree.img: entry %d: thread %d already in entry %d", i, th, j)
			}
			seen[th] = i
			tt := t
			tt.Pid, tt.State, tt.ExitCode = key(i, "thread", th, false), model.Alive, 0
			if st == model.Stopped {
				tt.State = model.Stopped
			}
			raw.Tasks = append(raw.Tasks, tt)
		}
	}
	if bad != nil {
		return nil, bad
	}
	raw.RootPid = uint64(entries[0].GetPid())
	raw.Mode = model.ModeSubtree
	if entries[0].GetPid() == 1 {
		raw.Mode = model.ModeContainer
	}
	raw.Meta.Backend = "criu"
	s, err := model.Build(raw)
	if err != nil {
		return nil, fmt.Errorf("criu: pstree.img describes no valid tree: %w", err)
	}
	return s, nil
}

// readImage reads one image file, refusing one larger than maxImage.
func readImage(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("criu: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxImage+1))
	if err != nil {
		return nil, fmt.Errorf("criu: read %s: %w", path, err)
	}
	if len(data) > maxImage {
		return nil, fmt.Errorf("criu: %s is larger than %d MiB", path, maxImage>>20)
	}
	return data, nil
}

// decodeEntries checks a CRIU image's magic (after an optional
// IMG_COMMON or IMG_SERVICE word) against want, then hands each entry's
// payload (a little-endian u32 size, then that many bytes of protobuf) to
// fn. Every size is bounded by the bytes left, so nothing is allocated
// from the header alone.
func decodeEntries(data []byte, want string, fn func([]byte) error) error {
	magics := magic.LoadMagic()
	word := func() (uint32, bool) {
		if len(data) < 4 {
			return 0, false
		}
		v := binary.LittleEndian.Uint32(data)
		data = data[4:]
		return v, true
	}
	m, ok := word()
	if !ok {
		return fmt.Errorf("truncated magic")
	}
	if uint64(m) == magics.ByName["IMG_COMMON"] || uint64(m) == magics.ByName["IMG_SERVICE"] {
		if m, ok = word(); !ok {
			return fmt.Errorf("truncated magic")
		}
	}
	if uint64(m) != magics.ByName[want] {
		name, known := magics.ByValue[uint64(m)]
		if !known {
			name = fmt.Sprintf("unknown (%#x)", m)
		}
		return fmt.Errorf("magic %s, want %s", name, want)
	}
	for i := 0; len(data) > 0; i++ {
		size, ok := word()
		if !ok {
			return fmt.Errorf("entry %d: truncated size", i)
		}
		if uint64(size) > uint64(len(data)) {
			return fmt.Errorf("entry %d: size %d exceeds the %d bytes left", i, size, len(data))
		}
		if err := fn(data[:size]); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		data = data[size:]
	}
	return nil
}

// coreState reads a task's state from core-PID.img: alive when the file
// is absent (a pstree.img on its own, as Export writes).
func coreState(dir string, pid uint32) (model.State, int32, error) {
	path := filepath.Join(dir, fmt.Sprintf("core-%d.img", pid))
	data, err := readImage(path)
	if errors.Is(err, fs.ErrNotExist) {
		return model.Alive, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	var ce *criucore.CoreEntry
	err = decodeEntries(data, "CORE", func(b []byte) error {
		if ce != nil {
			return fmt.Errorf("more than one core entry")
		}
		ce = &criucore.CoreEntry{}
		return proto.Unmarshal(b, ce)
	})
	if err == nil && ce == nil {
		err = fmt.Errorf("no core entry")
	}
	if err != nil {
		return 0, 0, fmt.Errorf("criu: core-%d.img: %w", pid, err)
	}
	switch ce.GetTc().GetTaskState() {
	case taskAlive, 0:
		return model.Alive, 0, nil
	case taskDead:
		return model.Zombie, int32(ce.GetTc().GetExitCode()), nil
	case taskStopped:
		return model.Stopped, 0, nil
	}
	return 0, 0, fmt.Errorf("criu: core-%d.img: task state %d", pid, ce.GetTc().GetTaskState())
}
