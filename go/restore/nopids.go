package restore

import (
	"fmt"
	"slices"

	"github.com/ckpt-nl/ckpt-nl/go/executor"
	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/plan"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot"
)

// fillJoins gives the setpgid calls of phase k of a NoPids plan their
// arguments: it reads the tree as it stands at the barrier, finds each
// plan task in it by the pid its creator's clone3 returned, and looks up
// each group's number in the joining task's namespace.
func fillJoins(p *plan.Plan, run *executor.Run, reader snapshot.Backend, top, k int) error {
	var joins []plan.Join
	for _, j := range p.Joins {
		if j.Phase == k {
			joins = append(joins, j)
		}
	}
	if len(joins) == 0 {
		return nil
	}
	snap, err := reader.Snapshot(snapshot.Request{Pid: run.Pid(top), Mode: model.ModeSubtree})
	if err != nil {
		return fmt.Errorf("restore: reading the tree to fill in setpgid arguments: %w", err)
	}
	where := locate(p, run, snap, top)
	owner := map[uint32]int{}
	for i, t := range p.Tasks {
		if t.Tag != 0 && t.Flags&plan.Thread == 0 {
			owner[t.Tag] = i
		}
	}
	for _, j := range joins {
		me, ok1 := where[j.Task]
		g, ok2 := where[owner[j.Group]]
		if !ok1 || !ok2 {
			return fmt.Errorf("restore: cannot find task %d or the leader of group %d in the restored tree", j.Task, j.Group)
		}
		mp, gp := snap.Pid(me), snap.Pid(g)
		d := mp.Depth()
		if d >= len(gp.Numbers) || snap.NamespaceAt(gp, d) != mp.NS {
			return fmt.Errorf("restore: task %d cannot see the group it must join", j.Task)
		}
		run.SetArg(j.Task, j.Action, gp.Numbers[d])
	}
	return nil
}

// locate maps plan tasks to pid objects of snap, a snapshot whose root is
// plan task top: a task created by a located creator is the pid with the
// number clone3 returned, in the creator's namespace at its level.
func locate(p *plan.Plan, run *executor.Run, snap *model.Snapshot, top int) map[int]uint32 {
	type key struct {
		ns    uint32
		level int
		nr    int32
	}
	index := map[key]uint32{}
	for i := range snap.Pids {
		pid := &snap.Pids[i]
		for l, nr := range pid.Numbers {
			index[key{snap.NamespaceAt(pid, l), l, nr}] = pid.Tag
		}
	}
	where := map[int]uint32{top: snap.Tasks[0].Pid}
	for i := range p.Tasks {
		if i == top {
			continue
		}
		ct, ok := where[p.Tasks[i].Creator]
		if !ok {
			continue
		}
		cp := snap.Pid(ct)
		if tag, ok := index[key{cp.NS, cp.Depth(), int32(run.Pid(i))}]; ok {
			where[i] = tag
		}
	}
	return where
}

// renumbering records, at the final barrier (ghosts and placeholders
// still alive), which new pid holds each pid object of the image.
type renumbering struct {
	newToOld map[int32]uint32 // new level-0 number -> image pid tag
	maps     []Mapping
}

func renumber(s *model.Snapshot, p *plan.Plan, run *executor.Run, reader snapshot.Backend, top int) (*renumbering, error) {
	snap, err := reader.Snapshot(snapshot.Request{Pid: run.Pid(top), Mode: model.ModeSubtree})
	if err != nil {
		return nil, fmt.Errorf("restore: reading the tree to map its new pids: %w", err)
	}
	where := locate(p, run, snap, top)
	rn := &renumbering{newToOld: map[int32]uint32{}}
	for i, t := range p.Tasks {
		if t.Tag == 0 || t.Flags&plan.Thread != 0 && t.Image < 0 {
			continue
		}
		tag, ok := where[i]
		if !ok {
			return nil, fmt.Errorf("restore: task %d (%s) is not in the restored tree", i, t.Name)
		}
		nums := snap.Pid(tag).Numbers
		rn.newToOld[nums[0]] = t.Tag
		if t.Image >= 0 {
			rn.maps = append(rn.maps, Mapping{Comm: s.Tasks[t.Image].Comm, Old: s.Pid(t.Tag).Numbers, New: nums})
		}
	}
	return rn, nil
}

// back returns got, read after the release, with the image's numbers
// put back, to compare with s.
func (rn *renumbering) back(s, got *model.Snapshot) (*model.Snapshot, error) {
	raw := &model.Raw{Mode: got.Mode, Pids: map[uint64]*model.RawPid{}, Meta: got.Meta}
	for i := range got.Pids {
		gp := &got.Pids[i]
		nums := gp.Numbers
		if old, ok := rn.newToOld[gp.Numbers[0]]; ok {
			nums = s.Pid(old).Numbers
		}
		ns := make([]uint64, len(nums))
		for l := range ns {
			ns[l] = uint64(got.NamespaceAt(gp, min(l, gp.Depth())))
		}
		raw.Pids[uint64(gp.Tag)] = &model.RawPid{Numbers: slices.Clone(nums), NS: ns}
	}
	const rootSession = 1 << 40 // any key no pid uses: Build makes it the root session again
	key := func(tag uint32) uint64 {
		if tag == model.TagRootSession {
			return rootSession
		}
		return uint64(tag)
	}
	for i := range got.Tasks {
		t := &got.Tasks[i]
		st := t.State
		if st == model.Dead {
			st = model.Zombie
		}
		raw.Tasks = append(raw.Tasks, model.RawTask{Pid: key(t.Pid), Tgid: key(t.Tgid), Pgid: key(t.Pgid),
			Sid: key(t.Sid), PPid: key(t.PPid), State: st, ExitCode: t.ExitCode, Comm: t.Comm, Argv: t.Argv})
	}
	raw.RootPid = uint64(got.Tasks[0].Pid)
	out, err := model.Build(raw)
	if err != nil {
		return nil, fmt.Errorf("restore: renumbering the restored tree: %w", err)
	}
	return out, nil
}
