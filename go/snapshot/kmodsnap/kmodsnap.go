// Package kmodsnap is the module snapshot backend: the ckpt_pids module
// reads the tree atomically under the tasklist lock, deduplicates pid
// objects by their struct pid, and streams them over generic netlink
// (CKPT_PIDS_CMD_SNAPSHOT). It is the authority the others are held to.
package kmodsnap

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ckpt-nl/ckpt-nl/go/kmod"
	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot"
	"github.com/ckpt-nl/ckpt-nl/go/uapi"
)

// Backend takes snapshots through the module.
type Backend struct{}

// Name is "kmod".
func (Backend) Name() string { return "kmod" }

// Available reports whether the module is loaded and offers snapshots.
func Available() (bool, string) {
	c, err := kmod.Dial()
	if err != nil {
		return false, err.Error()
	}
	defer c.Close()
	f, err := c.Features()
	if err != nil {
		return false, err.Error()
	}
	if f.Bits&uapi.FeatureSnapshot == 0 {
		return false, fmt.Sprintf("module %s has no snapshot command", f.ModuleVersion)
	}
	return true, ""
}

// Snapshot asks the module for the tree under req.Pid. The module's copy
// is atomic, so there is nothing to retry.
func (Backend) Snapshot(req snapshot.Request) (*model.Snapshot, error) {
	c, err := kmod.Dial()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	mode := uint32(uapi.ModeContainer)
	if req.Mode == model.ModeSubtree {
		mode = uapi.ModeSubtree
	}
	reply, err := c.Snapshot(req.Pid, mode)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil, fmt.Errorf("%w: %w", err, snapshot.ErrNoTask)
		}
		return nil, err
	}
	raw := ToRaw(reply, req)
	return model.Build(raw)
}

// ToRaw turns the module's reply into a raw snapshot (keys are tags).
func ToRaw(r *kmod.SnapshotReply, req snapshot.Request) *model.Raw {
	raw := &model.Raw{Mode: req.Mode, Pids: make(map[uint64]*model.RawPid, len(r.Pids))}
	raw.Meta = model.Meta{Backend: "kmod", Kernel: snapshot.KernelRelease(), Created: time.Now().Unix(), RootPid: int32(req.Pid)}
	for _, p := range r.Pids {
		ns := make([]uint64, len(p.NS))
		for i, v := range p.NS {
			ns[i] = uint64(v)
		}
		raw.Pids[uint64(p.Tag)] = &model.RawPid{Numbers: p.Numbers, NS: ns}
	}
	raw.Tasks = make([]model.RawTask, 0, len(r.Tasks))
	for i, t := range r.Tasks {
		rt := model.RawTask{
			Pid: uint64(t.Pid), Tgid: uint64(t.Tgid), Pgid: uint64(t.Pgid), Sid: uint64(t.Sid), PPid: uint64(t.PPid),
			ExitCode: t.ExitCode, Comm: t.Comm,
		}
		switch t.State {
		case uapi.StateZombie:
			rt.State = model.Zombie
		case uapi.StateStopped:
			rt.State = model.Stopped
		case uapi.StateTraced:
			rt.State = model.Traced
		default:
			rt.State = model.Alive
		}
		if req.Argv && t.Pid == t.Tgid && rt.State != model.Zombie && t.Nr > 0 {
			rt.Argv = snapshot.Argv(int(t.Nr))
		}
		if i == 0 {
			raw.RootPid = uint64(t.Pid)
		}
		raw.Tasks = append(raw.Tasks, rt)
	}
	return raw
}
