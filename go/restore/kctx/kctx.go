// Package kctx validates restores in the kernel: a restore.Validator
// backed by a ckpt_pids restart context. Every task the restore creates
// attaches to the context, and commit checks the whole tree atomically:
// pid numbers at every level, namespaces, shared struct pids (thread
// groups, process groups, sessions) and parents. Should the coordinator
// die before commit, closing its socket makes the kernel kill the tree.
package kctx

import (
	"fmt"

	"github.com/ckpt-nl/ckpt-nl/go/executor"
	"github.com/ckpt-nl/ckpt-nl/go/kmod"
	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/plan"
	"github.com/ckpt-nl/ckpt-nl/go/uapi"
)

// Validator is a restart context on the module.
type Validator struct {
	c  *kmod.Client
	s  *model.Snapshot
	id uint32
}

// New dials the module and checks it offers restart contexts.
func New() (*Validator, error) {
	c, err := kmod.Dial()
	if err != nil {
		return nil, err
	}
	f, err := c.Features()
	if err != nil {
		c.Close()
		return nil, err
	}
	if f.Bits&uapi.FeatureRestart == 0 {
		c.Close()
		return nil, fmt.Errorf("kmod: module %s has no restart contexts", f.ModuleVersion)
	}
	return &Validator{c: c}, nil
}

// Name says how the tree was validated.
func (v *Validator) Name() string { return "kernel restart context" }

// Prepare makes every task attach.
func (v *Validator) Prepare(s *model.Snapshot, po *plan.Options, eo *executor.Options) error {
	if po.NoPids {
		return fmt.Errorf("kmod: the restart context checks pid numbers; use --backend userspace with --no-pids")
	}
	po.Attach = true
	eo.GenlFamily = v.c.FamilyID()
	v.s = s
	return nil
}

// Started creates the context for the running plan.
func (v *Validator) Started(r *executor.Run) error {
	s, p := v.s, r.Plan()
	pids := make([]kmod.ContextPid, len(s.Pids))
	for i := range s.Pids {
		sp := &s.Pids[i]
		ns := make([]uint32, len(sp.Numbers))
		for l := range ns {
			ns[l] = s.NamespaceAt(sp, l)
		}
		pids[i] = kmod.ContextPid{Numbers: sp.Numbers, NS: ns}
	}
	members := make([]kmod.Member, len(p.Tasks)-1)
	for i := 1; i < len(p.Tasks); i++ {
		t := &p.Tasks[i]
		m := &members[i-1]
		m.Tag = t.Tag
		m.Parent = uapi.NoMember
		if par := parentAtCommit(p, i); par > 0 {
			m.Parent = uint32(par - 1)
		}
		switch t.Kind {
		case plan.Restored:
			it := &s.Tasks[t.Image]
			m.Kind, m.Tgid, m.Pgid, m.Sid = uapi.KindTask, it.Tgid, it.Pgid, it.Sid
		case plan.Ghost:
			m.Kind, m.Tgid, m.Pgid, m.Sid = uapi.KindGhost, t.Tag, t.Group, t.Session
		case plan.Placeholder:
			m.Kind = uapi.KindPlaceholder
		case plan.Init:
			m.Kind = uapi.KindInit
		}
	}
	mode := uint32(uapi.ModeContainer)
	if s.Mode == model.ModeSubtree {
		mode = uapi.ModeSubtree
	}
	id, err := v.c.CreateContext(mode, r.Pid(0), pids, members)
	if err != nil {
		return err
	}
	v.id = id
	r.SetContext(id)
	return nil
}

// parentAtCommit is the plan task that is task i's parent while the tree
// is parked: its creator, or for threads and CLONE_PARENT children the
// creator's own parent.
func parentAtCommit(p *plan.Plan, i int) int {
	t := &p.Tasks[i]
	if t.Creator < 0 {
		return -1
	}
	if t.Flags&(plan.Thread|plan.Parent) != 0 {
		return parentAtCommit(p, t.Creator)
	}
	return t.Creator
}

// Validate commits the context: the kernel checks the parked tree.
func (v *Validator) Validate(*executor.Run) error {
	if err := v.c.CommitContext(v.id); err != nil {
		return fmt.Errorf("the kernel refused the restored tree: %w", err)
	}
	return nil
}

// Close drops the socket (and, before commit, the restart with it).
func (v *Validator) Close() error { return v.c.Close() }
