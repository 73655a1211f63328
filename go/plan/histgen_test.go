package plan_test

import (
	"math/rand/v2"

	"github.com/ckpt-nl/ckpt-nl/go/model"
)

// A small model of the kernel's rules for fork, clone (CLONE_NEWPID,
// CLONE_THREAD, CLONE_PARENT), setsid, setpgid, exit, thread exit, reaping,
// PR_SET_CHILD_SUBREAPER and SIGSTOP, to grow random trees from random
// global-order histories: the planner's test input (the trees a real
// kernel would build; go/internal/history is the project-wide one).

type hns struct {
	id     int
	parent *hns
	level  int
	last   int32 // ns_last_pid
	used   map[int32]bool
	init   *hproc
}

type hpid struct {
	id   uint64
	ns   *hns
	nums []int32 // from level 0 down to ns
	refs int
}

type hthread struct {
	pid  *hpid
	proc *hproc
	dead bool
}

type hproc struct {
	leader    *hthread
	threads   []*hthread
	parent    *hproc
	children  []*hproc
	pgrp      *hpid
	sess      *hpid
	zombie    bool
	gone      bool
	status    int32
	subreaper bool
	stopped   bool
	ns        *hns
}

type hist struct {
	rng    *rand.Rand
	pidMax int32
	nextID uint64
	nsN    int
	procs  []*hproc // every process ever, for random picks
	maxLv  int
	// members counts the processes (zombies too) in each group.
	members map[*hpid]int
	session map[*hpid]*hpid // group -> its session
}

func (h *hist) newNS(parent *hns) *hns {
	h.nsN++
	n := &hns{id: h.nsN, parent: parent, used: map[int32]bool{}}
	if parent != nil {
		n.level = parent.level + 1
	}
	return n
}

// alloc is alloc_pid: a number per level, cyclic from ns_last_pid.
func (h *hist) alloc(ns *hns) *hpid {
	nums := make([]int32, ns.level+1)
	for n := ns; n != nil; n = n.parent {
		nr := n.last + 1
		for tries := 0; ; tries++ {
			if nr > h.pidMax {
				nr = 2
				if len(n.used) == 0 {
					nr = 1
				}
			}
			if !n.used[nr] {
				break
			}
			nr++
			if tries > int(h.pidMax) {
				return nil
			}
		}
		n.last = nr
		nums[n.level] = nr
	}
	for n := ns; n != nil; n = n.parent {
		n.used[nums[n.level]] = true
	}
	h.nextID++
	p := &hpid{id: h.nextID, ns: ns, nums: nums}
	return p
}

func (h *hist) ref(p *hpid) *hpid { p.refs++; return p }

func (h *hist) unref(p *hpid) {
	p.refs--
	if p.refs == 0 {
		for n := p.ns; n != nil; n = n.parent {
			delete(n.used, p.nums[n.level])
		}
	}
}

func (p *hpid) in(ns *hns) int32 {
	for n := p.ns; n != nil; n = n.parent {
		if n == ns {
			return p.nums[n.level]
		}
	}
	return 0
}

func alive(p *hproc) bool { return p != nil && !p.gone && !p.zombie }

func (h *hist) clone(c *hproc, newpid, parent bool) *hproc {
	ns := c.ns
	if newpid {
		if ns.level >= h.maxLv {
			return nil
		}
		ns = h.newNS(c.ns)
	}
	if parent && (c.ns.init == c || c.parent == nil) {
		return nil // an init cannot CLONE_PARENT
	}
	pid := h.alloc(ns)
	if pid == nil {
		return nil
	}
	np := &hproc{pgrp: h.ref(c.pgrp), sess: h.ref(c.sess), ns: ns}
	h.members[c.pgrp]++
	np.leader = &hthread{pid: h.ref(pid), proc: np}
	np.threads = []*hthread{np.leader}
	np.parent = c
	if parent {
		np.parent = c.parent
	}
	np.parent.children = append(np.parent.children, np)
	if newpid {
		ns.init = np
	}
	h.procs = append(h.procs, np)
	return np
}

func (h *hist) setsid(p *hproc) {
	if p.sess == p.leader.pid {
		return
	}
	if h.members[p.leader.pid] > 0 {
		return // EPERM
	}
	h.members[p.pgrp]--
	h.unref(p.pgrp)
	h.unref(p.sess)
	p.pgrp, p.sess = h.ref(p.leader.pid), h.ref(p.leader.pid)
	h.members[p.pgrp]++
	h.session[p.pgrp] = p.sess
}

func (h *hist) setpgid(p *hproc, to *hpid) {
	if p.sess == p.leader.pid || to.in(p.ns) == 0 {
		return
	}
	if to != p.leader.pid && (h.members[to] == 0 || h.session[to] != p.sess) {
		return
	}
	h.members[p.pgrp]--
	h.unref(p.pgrp)
	p.pgrp = h.ref(to)
	h.members[to]++
	h.session[to] = p.sess
}

func live(p *hproc) *hthread {
	for _, t := range p.threads {
		if !t.dead {
			return t
		}
	}
	return nil
}

// reaper is find_new_reaper for the children of p's exiting thread.
func (h *hist) reaper(p *hproc) *hproc {
	if live(p) != nil {
		return p
	}
	for r := p.parent; r != nil && r.ns == p.ns && r != p.ns.init; r = r.parent {
		if r.subreaper && live(r) != nil {
			return r
		}
	}
	return p.ns.init
}

func (h *hist) inside(n, of *hns) bool {
	for ; n != nil; n = n.parent {
		if n == of {
			return true
		}
	}
	return false
}

func (h *hist) exit(p *hproc, status int32) {
	if p == p.ns.init {
		if p.parent == nil {
			return // the container's init: the tree would be gone
		}
		// zap_pid_ns_processes: every other process of the namespace is
		// killed and reaped.
		for _, q := range h.procs {
			if q != p && !q.gone && h.inside(q.ns, p.ns) {
				if !q.zombie {
					for _, t := range q.threads {
						t.dead = true
					}
					q.zombie = true
				}
				for _, c := range q.children {
					c.parent = nil
				}
				q.children = nil
				q.parent = nil
				q.gone, q.zombie = true, false
				for _, t := range q.threads {
					h.unref(t.pid)
				}
				h.members[q.pgrp]--
				h.unref(q.pgrp)
				h.unref(q.sess)
			}
		}
		p.children = nil
		for _, t := range p.threads {
			t.dead = true
		}
		var keep []*hthread
		for _, t := range p.threads {
			if t != p.leader {
				h.unref(t.pid)
			} else {
				keep = append(keep, t)
			}
		}
		p.threads = keep
		p.zombie, p.status = true, status
		return
	}
	for _, t := range p.threads {
		t.dead = true
	}
	var keep []*hthread
	for _, t := range p.threads {
		if t != p.leader {
			h.unref(t.pid)
		} else {
			keep = append(keep, t)
		}
	}
	p.threads = keep
	r := h.reaper(p)
	for _, c := range p.children {
		c.parent = r
		r.children = append(r.children, c)
	}
	p.children = nil
	p.zombie, p.status = true, status
}

func (h *hist) reap(p *hproc) {
	if !p.zombie || p.gone {
		return
	}
	p.gone, p.zombie = true, false
	for _, t := range p.threads {
		h.unref(t.pid)
	}
	h.members[p.pgrp]--
	h.unref(p.pgrp)
	h.unref(p.sess)
	if p.parent == nil {
		return
	}
	ch := p.parent.children
	for i, c := range ch {
		if c == p {
			p.parent.children = append(ch[:i:i], ch[i+1:]...)
			break
		}
	}
}

// randomHistory runs about steps random calls from a container init and
// returns the snapshot of the tree, or nil if the model went wrong.
func randomHistory(rng *rand.Rand, steps, maxLevels int, pidMax int32) *model.Snapshot {
	return randomHistoryMode(rng, steps, maxLevels, pidMax, model.ModeContainer)
}

// randomHistoryMode is randomHistory, in subtree mode rooted at a random
// live process of the root namespace.
func randomHistoryMode(rng *rand.Rand, steps, maxLevels int, pidMax int32, mode model.Mode) *model.Snapshot {
	h := &hist{rng: rng, pidMax: pidMax, maxLv: maxLevels, members: map[*hpid]int{}, session: map[*hpid]*hpid{}}
	root := h.newNS(nil)
	pid := h.alloc(root)
	init := &hproc{ns: root}
	init.leader = &hthread{pid: h.ref(pid), proc: init}
	init.threads = []*hthread{init.leader}
	init.pgrp, init.sess = h.ref(pid), h.ref(pid)
	h.members[pid]++
	h.session[pid] = pid
	root.init = init
	h.procs = []*hproc{init}
	pick := func() *hproc {
		for range 8 {
			p := h.procs[rng.IntN(len(h.procs))]
			if alive(p) {
				return p
			}
		}
		return init
	}
	for range steps {
		p := pick()
		switch r := rng.IntN(100); {
		case r < 30:
			h.clone(p, false, false)
		case r < 38:
			h.clone(p, true, false)
		case r < 44:
			h.clone(p, rng.IntN(4) == 0, true)
		case r < 48:
			if len(p.threads) < 4 && live(p) != nil {
				tp := h.alloc(p.ns)
				if tp != nil {
					p.threads = append(p.threads, &hthread{pid: h.ref(tp), proc: p})
				}
			}
		case r < 58:
			h.setsid(p)
		case r < 72:
			q := h.procs[rng.IntN(len(h.procs))]
			to := p.leader.pid
			if !q.gone && rng.IntN(3) > 0 {
				to = q.pgrp
			}
			h.setpgid(p, to)
		case r < 82:
			h.exit(p, int32(rng.IntN(4))<<8)
		case r < 85:
			if p != p.ns.init && len(p.threads) > 1 && !p.leader.dead {
				p.leader.dead = true
				for _, c := range p.children { // a live thread adopts them
					_ = c
				}
			}
		case r < 87:
			p.subreaper = true
		default:
			if len(p.children) > 0 {
				c := p.children[rng.IntN(len(p.children))]
				if p.ns.init == p || rng.IntN(2) == 0 {
					h.reap(c)
				}
			}
		}
	}
	for _, p := range h.procs {
		if alive(p) && p != p.ns.init && rng.IntN(20) == 0 {
			p.stopped = true
		}
	}
	raw := &model.Raw{Mode: mode, Pids: map[uint64]*model.RawPid{}, RootPid: init.leader.pid.id}
	if mode == model.ModeSubtree {
		var cands []*hproc
		for _, p := range h.procs {
			if alive(p) && p != init && p.ns == root && live(p) != nil {
				cands = append(cands, p)
			}
		}
		if len(cands) > 0 {
			raw.RootPid = cands[rng.IntN(len(cands))].leader.pid.id
		}
	}
	key := func(p *hpid) uint64 {
		if raw.Pids[p.id] == nil {
			ns := make([]uint64, len(p.nums))
			for n := p.ns; n != nil; n = n.parent {
				ns[n.level] = uint64(n.id)
			}
			raw.Pids[p.id] = &model.RawPid{Numbers: append([]int32(nil), p.nums...), NS: ns}
		}
		return p.id
	}
	for _, p := range h.procs {
		if p.gone {
			continue
		}
		st := model.Alive
		switch {
		case p.zombie:
			st = model.Zombie
		case p.stopped:
			st = model.Stopped
		}
		ppid := uint64(0)
		if p.parent != nil {
			ppid = key(p.parent.leader.pid)
		}
		for _, t := range p.threads {
			ts := st
			if t.dead && !p.zombie {
				ts = model.Zombie
			}
			rt := model.RawTask{Pid: key(t.pid), Tgid: key(p.leader.pid), Pgid: key(p.pgrp), Sid: key(p.sess),
				PPid: ppid, State: ts}
			if p.zombie {
				rt.ExitCode = p.status
			}
			raw.Tasks = append(raw.Tasks, rt)
		}
	}
	s, err := model.Build(raw)
	if err != nil {
		return nil // this small model's own inconsistency (rare): no tree
	}
	return s
}
