// Package criuimg converts between ckpt-nl images and CRIU's process-tree
// image (pstree.img, with the task states of core-PID.img), through
// go-criu's crit. CRIU keeps one pid level: the numbers in the dumped
// tree's own namespace. What that cannot say (deeper pid levels, the
// namespace tree, pids outside the root's namespace) is reported by
// Export, never silently dropped.
package criuimg

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/checkpoint-restore/go-criu/v7/crit"
	criucore "github.com/checkpoint-restore/go-criu/v7/crit/images/criu-core"
	"github.com/checkpoint-restore/go-criu/v7/crit/images/pstree"
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

// Import reads the process tree of a CRIU image directory: pstree.img,
// and each task's state and exit code from core-PID.img when present.
// The snapshot has one pid level (all CRIU records).
func Import(dir string) (*model.Snapshot, error) {
	f, err := os.Open(filepath.Join(dir, "pstree.img"))
	if err != nil {
		return nil, fmt.Errorf("criu: %w", err)
	}
	defer f.Close()
	img, err := crit.New(f, nil, "", false, false).Decode(&pstree.PstreeEntry{})
	if err != nil {
		return nil, fmt.Errorf("criu: read pstree.img: %w", err)
	}
	raw := &model.Raw{Pids: map[uint64]*model.RawPid{}}
	key := func(n uint32) uint64 {
		if n == 0 {
			return 0
		}
		if raw.Pids[uint64(n)] == nil {
			raw.Pids[uint64(n)] = &model.RawPid{Numbers: []int32{int32(n)}, NS: []uint64{1}}
		}
		return uint64(n)
	}
	var entries []*pstree.PstreeEntry
	for _, e := range img.Entries {
		pe, ok := e.Message.(*pstree.PstreeEntry)
		if !ok {
			return nil, fmt.Errorf("criu: pstree.img holds a %T", e.Message)
		}
		entries = append(entries, pe)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("criu: pstree.img is empty")
	}
	for _, pe := range entries {
		state, code := coreState(dir, pe.GetPid())
		tg := key(pe.GetPid())
		t := model.RawTask{Pid: tg, Tgid: tg, PPid: key(pe.GetPpid()), Pgid: key(pe.GetPgid()), Sid: key(pe.GetSid()),
			State: state, ExitCode: code}
		raw.Tasks = append(raw.Tasks, t)
		ths := append([]uint32(nil), pe.GetThreads()...)
		sort.Slice(ths, func(i, j int) bool { return ths[i] < ths[j] })
		for _, th := range ths {
			if th == pe.GetPid() {
				continue
			}
			tt := t
			tt.Pid, tt.State, tt.ExitCode = key(th), model.Alive, 0
			if state == model.Stopped {
				tt.State = model.Stopped
			}
			raw.Tasks = append(raw.Tasks, tt)
		}
	}
	raw.RootPid = uint64(entries[0].GetPid())
	raw.Mode = model.ModeSubtree
	if entries[0].GetPid() == 1 {
		raw.Mode = model.ModeContainer
	}
	raw.Meta.Backend = "criu"
	return model.Build(raw)
}

// coreState reads a task's state from core-PID.img (alive if absent).
func coreState(dir string, pid uint32) (model.State, int32) {
	f, err := os.Open(filepath.Join(dir, fmt.Sprintf("core-%d.img", pid)))
	if err != nil {
		return model.Alive, 0
	}
	defer f.Close()
	img, err := crit.New(f, nil, "", false, false).Decode(&criucore.CoreEntry{})
	if err != nil || len(img.Entries) == 0 {
		return model.Alive, 0
	}
	ce, ok := img.Entries[0].Message.(*criucore.CoreEntry)
	if !ok || ce.GetTc() == nil {
		return model.Alive, 0
	}
	switch ce.GetTc().GetTaskState() {
	case taskDead:
		return model.Zombie, int32(ce.GetTc().GetExitCode())
	case taskStopped:
		return model.Stopped, 0
	}
	return model.Alive, 0
}
