// SPDX-License-Identifier: GPL-2.0
/*
 * CKPT_PIDS_CMD_SNAPSHOT: a resumable dump of the pid objects and task
 * records of the tree under a root task (see uapi/ckpt_pids.h).
 *
 * The dump's first message reads the whole tree, taking a reference on
 * every task and struct pid it records. The kernel exports no lock that
 * fork, exit, setsid and setpgid take (tasklist_lock is not exported), so
 * the read is lock-free: a scan of the root's pid namespace under RCU, as
 * /proc does, recognising the tree by parent chains. A second scan then
 * checks that nothing of the tree changed (the same tasks, each with the
 * same pid, thread group, process group, session, parent and state); on a
 * difference the read starts again, and after SNAP_MAX_READS differing
 * pairs the dump fails with -EBUSY. What this proves is in
 * docs/SECURITY.md: two reads agree; a change undone between them (a
 * child forked and reaped, a setpgid and its reverse) is not seen.
 *
 * Pid objects are deduplicated by identity (the struct pid pointer) and
 * tagged 1, 2, 3... in the order found, as in linux-cr. Permission and
 * container checks run after the reads; dumpit then streams the copy, as
 * many records per message as fit, resuming at its cursor.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/hash.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/pid_namespace.h>
#include <linux/ptrace.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/sched/coredump.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/string.h>

#include "ckpt_pids.h"

/* How many times start grows its task array before giving up. */
#define SNAP_MAX_ATTEMPTS	6
#define SNAP_FIRST_CAP		1024
/* How many reads may differ from the read after them before -EBUSY. */
#define SNAP_MAX_READS		8

enum { SNAP_PID, SNAP_TGID, SNAP_PGRP, SNAP_SESSION, SNAP_PPID, SNAP_NR_REFS };

static const char * const snap_ref_names[SNAP_NR_REFS] = {
	"pid", "tgid", "process group", "session", "parent",
};

struct snap_task {
	struct task_struct *task;
	bool leader;			/* thread-group leader */
	struct pid *pids[SNAP_NR_REFS];
	u32 tags[SNAP_NR_REFS];
	u32 state;
	u32 exit_code;
	pid_t nr;			/* in the caller's pid namespace */
	char comm[TASK_COMM_LEN];
};

struct snap {
	struct pid_namespace *root_ns;	/* held through the root's pid */
	struct pid_namespace *caller_ns;	/* held */
	pid_t root_nr;			/* in the caller's namespace */
	u32 mode;
	bool taken;
	unsigned int nr_tasks, cap;
	struct snap_task *tasks;
	/* pid objects in tag order, and a hash from object to tag */
	struct pid **objs;
	unsigned int nr_objs, nr_vpids;
	struct pid **hkeys;
	u32 *hvals;
	unsigned int hbits;
	/* the dump's cursor */
	bool header_sent;
	unsigned int next_obj, next_task;
};

static struct netlink_range_validation snap_pid_range = {
	.min = 1,
	.max = PID_MAX_LIMIT,
};

const struct nla_policy ckpt_pids_snapshot_policy[CKPT_PIDS_A_MODE + 1] = {
	[CKPT_PIDS_A_ROOT_PID] = NLA_POLICY_FULL_RANGE(NLA_U32, &snap_pid_range),
	[CKPT_PIDS_A_MODE] = NLA_POLICY_RANGE(NLA_U32, CKPT_PIDS_MODE_CONTAINER,
					      CKPT_PIDS_MODE_SUBTREE),
};

static void snap_put_tasks(struct snap *s)
{
	unsigned int i, r;

	for (i = 0; i < min(s->nr_tasks, s->cap); i++) {
		for (r = 0; r < SNAP_NR_REFS; r++)
			put_pid(s->tasks[i].pids[r]);
		put_task_struct(s->tasks[i].task);
	}
	s->nr_tasks = 0;
}

static void snap_free(struct snap *s)
{
	if (!s)
		return;
	if (s->caller_ns)
		put_pid_ns(s->caller_ns);
	if (s->tasks)
		snap_put_tasks(s);
	kvfree(s->tasks);
	kvfree(s->objs);
	kvfree(s->hkeys);
	kvfree(s->hvals);
	kfree(s);
}

static u32 snap_state(struct task_struct *t)
{
	if (t->exit_state & EXIT_ZOMBIE)
		return CKPT_PIDS_STATE_ZOMBIE;
	if (task_is_traced(t))
		return CKPT_PIDS_STATE_TRACED;
	if (task_is_stopped(t))
		return CKPT_PIDS_STATE_STOPPED;
	return CKPT_PIDS_STATE_ALIVE;
}

/* t's pid, tgid, process group, session and parent. RCU held. */
static bool snap_refs(struct task_struct *t, struct pid **refs)
{
	struct task_struct *parent = rcu_dereference(t->real_parent);
	unsigned int r;

	refs[SNAP_PID] = task_pid(t);
	refs[SNAP_TGID] = task_tgid(t);
	refs[SNAP_PGRP] = task_pgrp(t);
	refs[SNAP_SESSION] = task_session(t);
	refs[SNAP_PPID] = task_tgid(parent);
	for (r = 0; r < SNAP_NR_REFS; r++)
		if (!refs[r])
			return false;	/* being released */
	return true;
}

/* Is t in root's thread group or below it? RCU held. */
static bool snap_below(struct task_struct *t, struct task_struct *root)
{
	struct task_struct *p = t, *parent;

	for (;;) {
		if (same_thread_group(p, root))
			return true;
		parent = rcu_dereference(p->real_parent);
		if (p->pid == 0 || parent == p)
			return false;
		p = parent;
	}
}

/* Record t; past the array's end, only count it. RCU held. */
static int snap_add(struct snap *s, struct task_struct *t, struct pid **refs)
{
	struct snap_task *st;
	unsigned int r;

	if (s->nr_tasks++ >= s->cap)
		return 0;
	st = &s->tasks[s->nr_tasks - 1];
	get_task_struct(t);
	st->task = t;
	st->leader = thread_group_leader(t);
	for (r = 0; r < SNAP_NR_REFS; r++)
		st->pids[r] = get_pid(refs[r]);
	st->state = snap_state(t);
	st->exit_code = t->exit_code;
	st->nr = task_pid_nr_ns(t, s->caller_ns);
	strscpy_pad(st->comm, t->comm, sizeof(st->comm));
	return 0;
}

/* Does the recorded st still describe t? RCU held. */
static bool snap_same(struct snap_task *st, struct task_struct *t, struct pid **refs)
{
	unsigned int r;

	if (st->task != t || st->state != snap_state(t))
		return false;
	for (r = 0; r < SNAP_NR_REFS; r++)
		if (st->pids[r] != refs[r])
			return false;
	return true;
}

/*
 * One scan of the root's pid namespace, in pid order: every task of the
 * tree (the root's thread group and its descendants' , threads included)
 * has a pid there. With check false it records the tree; with check true
 * it compares the tree with the record and returns -EAGAIN on a
 * difference. -ENOSPC: the array was too small (s->nr_tasks says how
 * much was seen).
 */
static int snap_scan(struct snap *s, struct task_struct *root, bool check)
{
	struct pid *refs[SNAP_NR_REFS];
	unsigned int n = 0;
	struct task_struct *t;
	struct pid *pid;
	int nr = 1, ret = 0;

	if (!check)
		s->nr_tasks = 0;
	rcu_read_lock();
	while ((pid = find_ge_pid(nr, s->root_ns))) {
		nr = pid_nr_ns(pid, s->root_ns) + 1;
		t = pid_task(pid, PIDTYPE_PID);
		if (!t || (t->exit_state & EXIT_DEAD) || !snap_below(t, root))
			continue;
		if (!snap_refs(t, refs)) {
			ret = -EAGAIN;
			break;
		}
		if (!check) {
			snap_add(s, t, refs);
			continue;
		}
		if (n >= s->nr_tasks || !snap_same(&s->tasks[n], t, refs)) {
			ret = -EAGAIN;
			break;
		}
		n++;
	}
	rcu_read_unlock();
	if (!ret && check && n != s->nr_tasks)
		ret = -EAGAIN;
	if (!ret && !check && s->nr_tasks > s->cap)
		ret = -ENOSPC;
	return ret;
}

/* A task's place in a sort: by a pid pointer, then by scan order. */
struct snap_key {
	unsigned long key;
	unsigned int idx;
};

static int snap_cmp(const void *a, const void *b)
{
	const struct snap_key *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The first of keys[0..n) whose key is p, or n. */
static unsigned int snap_lower(struct snap_key *keys, unsigned int n, struct pid *p)
{
	unsigned int lo = 0, hi = n;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (keys[mid].key < (unsigned long)p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Put the record in the order the dump promises: the root's thread group
 * first, then breadth first, each process's leader before its threads,
 * children in pid order.
 */
static int snap_order(struct snap *s, struct task_struct *root)
{
	unsigned int *out, nk = 0, nt = 0, no = 0, head, i, r;
	struct snap_key *kids, *threads;
	struct snap_task *sorted;
	int ret = -ENOMEM;

	kids = kvmalloc_array(s->nr_tasks, sizeof(*kids), GFP_KERNEL_ACCOUNT);
	threads = kvmalloc_array(s->nr_tasks, sizeof(*threads), GFP_KERNEL_ACCOUNT);
	out = kvmalloc_array(s->nr_tasks, sizeof(*out), GFP_KERNEL_ACCOUNT);
	sorted = kvmalloc_array(s->nr_tasks, sizeof(*sorted), GFP_KERNEL_ACCOUNT);
	if (!kids || !threads || !out || !sorted)
		goto out_free;
	for (i = 0; i < s->nr_tasks; i++) {
		struct snap_task *st = &s->tasks[i];

		if (!st->leader) {
			threads[nt].key = (unsigned long)st->pids[SNAP_TGID];
			threads[nt++].idx = i;
		} else if (same_thread_group(st->task, root)) {
			out[no++] = i;		/* the root: first */
		} else {
			kids[nk].key = (unsigned long)st->pids[SNAP_PPID];
			kids[nk++].idx = i;
		}
	}
	ret = -EAGAIN;
	if (no != 1)
		goto out_free;
	sort(kids, nk, sizeof(*kids), snap_cmp, NULL);
	sort(threads, nt, sizeof(*threads), snap_cmp, NULL);

	/* out[] is the queue: for each leader, its threads, then its children. */
	for (head = 0; head < no; head++) {
		struct snap_task *st = &s->tasks[out[head]];
		struct pid *tgid = st->pids[SNAP_TGID];

		if (!st->leader)
			continue;
		for (r = snap_lower(threads, nt, tgid);
		     r < nt && threads[r].key == (unsigned long)tgid; r++)
			out[no++] = threads[r].idx;
		for (r = snap_lower(kids, nk, tgid);
		     r < nk && kids[r].key == (unsigned long)tgid; r++)
			out[no++] = kids[r].idx;
	}
	if (no != s->nr_tasks)
		goto out_free;	/* a thread without its leader: retry */
	for (i = 0; i < no; i++)
		sorted[i] = s->tasks[out[i]];
	memcpy(s->tasks, sorted, no * sizeof(*sorted));
	ret = 0;
out_free:
	kvfree(kids);
	kvfree(threads);
	kvfree(out);
	kvfree(sorted);
	return ret;
}

static u32 *snap_slot(struct snap *s, struct pid *p)
{
	unsigned int mask = (1U << s->hbits) - 1;
	unsigned int h = hash_ptr(p, s->hbits);

	while (s->hkeys[h] && s->hkeys[h] != p)
		h = (h + 1) & mask;
	s->hkeys[h] = p;
	return &s->hvals[h];
}

static u32 snap_tag_of(struct snap *s, struct pid *p)
{
	u32 *slot = snap_slot(s, p);

	if (!*slot) {
		s->objs[s->nr_objs++] = p;
		s->nr_vpids += p->level - s->root_ns->level;
		*slot = s->nr_objs;
	}
	return *slot;
}

/* Tag every pid object, applying the mode's rules. */
static int snap_tag(struct snap *s, const struct sk_buff *skb,
		    struct netlink_ext_ack *extack)
{
	struct snap_task *root = &s->tasks[0];
	struct pid *root_session = NULL;
	unsigned int i, r;

	s->hbits = ilog2(roundup_pow_of_two(8 * s->nr_tasks + 16));
	s->hkeys = kvcalloc(1U << s->hbits, sizeof(*s->hkeys), GFP_KERNEL_ACCOUNT);
	s->hvals = kvcalloc(1U << s->hbits, sizeof(*s->hvals), GFP_KERNEL_ACCOUNT);
	s->objs = kvcalloc(4 * s->nr_tasks, sizeof(*s->objs), GFP_KERNEL_ACCOUNT);
	if (!s->hkeys || !s->hvals || !s->objs)
		return -ENOMEM;

	if (s->mode == CKPT_PIDS_MODE_SUBTREE &&
	    root->pids[SNAP_SESSION] != root->pids[SNAP_PID])
		root_session = root->pids[SNAP_SESSION];

	for (i = 0; i < s->nr_tasks; i++) {
		struct snap_task *st = &s->tasks[i];

		for (r = SNAP_PID; r <= SNAP_SESSION; r++) {
			struct pid *p = st->pids[r];

			if (r == SNAP_SESSION && p == root_session) {
				st->tags[r] = CKPT_PIDS_TAG_ROOT_SESSION;
			} else if (!pid_nr_ns(p, s->root_ns)) {
				if (s->mode == CKPT_PIDS_MODE_CONTAINER) {
					ckpt_set_msg(skb, extack,
						     "task %d (%s): its %s is outside the container's pid namespace",
						     st->nr, st->comm, snap_ref_names[r]);
					return -EBUSY;
				}
				st->tags[r] = CKPT_PIDS_TAG_OUTSIDE;
			} else {
				st->tags[r] = snap_tag_of(s, p);
			}
		}
		/* A parent always comes first; the root's is outside. */
		st->tags[SNAP_PPID] = CKPT_PIDS_TAG_OUTSIDE;
		if (i) {
			u32 *slot = snap_slot(s, st->pids[SNAP_PPID]);

			st->tags[SNAP_PPID] = *slot;
		}
	}
	return 0;
}

/*
 * May the caller read t, as PTRACE_MODE_READ_REALCREDS would allow?
 * ptrace_may_access is not exported, so this is its rule rebuilt from
 * exported pieces: the caller's real uid and gid equal the target's real,
 * effective and saved ones, or the caller has CAP_SYS_PTRACE in the
 * target's user namespace; and a target whose mm is not dumpable (setuid,
 * prctl(PR_SET_DUMPABLE, 0)) needs CAP_SYS_PTRACE in the mm's user
 * namespace. The LSM hook (security_ptrace_access_check) is not exported:
 * Yama, SELinux and AppArmor ptrace rules are not consulted, which is why
 * a snapshot also needs CAP_CHECKPOINT_RESTORE (docs/SECURITY.md).
 */
static bool snap_may_read(struct task_struct *t)
{
	const struct cred *cred = current_cred(), *tcred;
	struct mm_struct *mm;
	bool ok;

	if (same_thread_group(t, current))
		return true;
	rcu_read_lock();
	tcred = __task_cred(t);
	ok = (uid_eq(cred->uid, tcred->euid) && uid_eq(cred->uid, tcred->suid) &&
	      uid_eq(cred->uid, tcred->uid) && gid_eq(cred->gid, tcred->egid) &&
	      gid_eq(cred->gid, tcred->sgid) && gid_eq(cred->gid, tcred->gid)) ||
	     ns_capable(tcred->user_ns, CAP_SYS_PTRACE);
	rcu_read_unlock();
	if (!ok)
		return false;
	task_lock(t);
	mm = t->mm;
	if (mm && get_dumpable(mm) != SUID_DUMP_USER)
		ok = ns_capable(mm->user_ns, CAP_SYS_PTRACE);
	task_unlock(t);
	return ok;
}

static int snap_check(struct snap *s, const struct sk_buff *skb,
		      struct netlink_ext_ack *extack)
{
	unsigned int i;

	for (i = 0; i < s->nr_tasks; i++) {
		struct snap_task *st = &s->tasks[i];

		if (!snap_may_read(st->task)) {
			ckpt_set_msg(skb, extack,
				     "task %d (%s): no permission to read it (ptrace)",
				     st->nr, st->comm);
			return -EACCES;
		}
	}
	return 0;
}

struct task_struct *ckpt_get_task(pid_t nr)
{
	struct pid *pid = find_get_pid(nr);
	struct task_struct *t;

	if (!pid)
		return NULL;
	t = get_pid_task(pid, PIDTYPE_PID);
	put_pid(pid);
	return t;
}

bool ckpt_pids_capable(const struct sk_buff *skb, struct pid_namespace *ns)
{
	return netlink_ns_capable(skb, ns->user_ns, CAP_CHECKPOINT_RESTORE) ||
	       netlink_ns_capable(skb, ns->user_ns, CAP_SYS_ADMIN);
}

/*
 * The dump's start only records the request: on this kernel an error from
 * start cannot carry an extended-ack message, one from dumpit can (it
 * comes back in NLMSG_DONE), so the snapshot is taken by the first dumpit.
 */
int ckpt_pids_snapshot_start(struct netlink_callback *cb)
{
	/* Newer kernels keep the attributes in genl_info (see Kbuild). */
#ifdef CKPT_HAVE_GENL_INFO_DUMP
	struct nlattr **attrs = genl_info_dump(cb)->attrs;
#else
	struct nlattr **attrs = genl_dumpit_info(cb)->attrs;
#endif
	struct snap *s;

	s = kzalloc(sizeof(*s), GFP_KERNEL_ACCOUNT);
	if (!s)
		return -ENOMEM;
	if (attrs[CKPT_PIDS_A_ROOT_PID])
		s->root_nr = nla_get_u32(attrs[CKPT_PIDS_A_ROOT_PID]);
	if (attrs[CKPT_PIDS_A_MODE])
		s->mode = nla_get_u32(attrs[CKPT_PIDS_A_MODE]);
	s->caller_ns = get_pid_ns(task_active_pid_ns(current));
	cb->args[0] = (long)s;
	return 0;
}

/* snap_take reads the tree, checks it and tags its pid objects. */
static int snap_take(struct snap *s, const struct sk_buff *skb,
		     struct netlink_ext_ack *extack)
{
	struct task_struct *root;
	pid_t nr = s->root_nr;
	unsigned int attempt, reads;
	int ret;

	if (!nr) {
		NL_SET_ERR_ATTR_MISS(extack, NULL, CKPT_PIDS_A_ROOT_PID);
		return -EINVAL;
	}
	if (!s->mode) {
		NL_SET_ERR_ATTR_MISS(extack, NULL, CKPT_PIDS_A_MODE);
		return -EINVAL;
	}
	rcu_read_lock();
	root = pid_task(find_pid_ns(nr, s->caller_ns), PIDTYPE_PID);
	if (root)
		get_task_struct(root);
	rcu_read_unlock();
	if (!root) {
		ckpt_set_msg(skb, extack, "no process %d in the caller's pid namespace", nr);
		return -ESRCH;
	}
	if (!thread_group_leader(root)) {
		ckpt_set_msg(skb, extack, "%d is a thread; give its process's pid", nr);
		ret = -EINVAL;
		goto out_put_root;
	}
	s->root_ns = task_active_pid_ns(root);
	if (!s->root_ns) {
		ckpt_set_msg(skb, extack, "process %d is exiting", nr);
		ret = -ESRCH;
		goto out_put_root;
	}
	if (!ckpt_pids_capable(skb, s->root_ns)) {
		ckpt_set_msg(skb, extack,
			     "needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN over the pid namespace of %d",
			     nr);
		ret = -EPERM;
		goto out_put_root;
	}
	if (s->mode == CKPT_PIDS_MODE_CONTAINER && task_pid_nr_ns(root, s->root_ns) != 1) {
		ckpt_set_msg(skb, extack,
			     "%d is not the init of its pid namespace (checkpoint it in subtree mode)",
			     nr);
		ret = -EINVAL;
		goto out_put_root;
	}

	s->cap = SNAP_FIRST_CAP;
	for (attempt = 0, reads = 0;;) {
		if (!s->tasks) {
			s->tasks = kvcalloc(s->cap, sizeof(*s->tasks),
					    GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
			if (!s->tasks) {
				ret = -ENOMEM;
				goto out_put_root;
			}
		}
		ret = snap_scan(s, root, false);
		if (ret == -ENOSPC) {
			snap_put_tasks(s);
			kvfree(s->tasks);
			s->tasks = NULL;
			if (++attempt > SNAP_MAX_ATTEMPTS) {
				ckpt_set_msg(skb, extack, "the tree kept growing past %u tasks",
					     s->cap);
				ret = -EAGAIN;
				goto out_put_root;
			}
			s->cap = s->cap * 4;
			continue;
		}
		if (!ret)
			ret = snap_scan(s, root, true);
		if (!ret)
			ret = snap_order(s, root);
		if (ret != -EAGAIN)
			break;
		snap_put_tasks(s);
		if (++reads == SNAP_MAX_READS) {
			ckpt_set_msg(skb, extack,
				     "the tree under %d kept changing: %u reads differed",
				     nr, reads);
			ret = -EBUSY;
			goto out_put_root;
		}
	}
	if (ret)
		goto out_put_root;
	if (!s->nr_tasks) {
		ckpt_set_msg(skb, extack, "process %d exited", nr);
		ret = -ESRCH;
		goto out_put_root;
	}
	ret = snap_check(s, skb, extack);
	if (!ret)
		ret = snap_tag(s, skb, extack);

out_put_root:
	put_task_struct(root);
	return ret;
}

static int snap_put_pid(struct sk_buff *skb, struct snap *s, unsigned int i)
{
	u32 numbers[CKPT_PIDS_MAX_DEPTH], inums[CKPT_PIDS_MAX_DEPTH];
	struct pid *p = s->objs[i];
	unsigned int base = s->root_ns->level, l, n = p->level - base + 1;
	struct nlattr *nest;

	if (n > CKPT_PIDS_MAX_DEPTH)
		return -E2BIG;
	for (l = 0; l < n; l++) {
		numbers[l] = p->numbers[base + l].nr;
		inums[l] = p->numbers[base + l].ns->ns.inum;
	}
	nest = nla_nest_start(skb, CKPT_PIDS_A_PID);
	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u32(skb, CKPT_PIDS_PID_A_TAG, i + 1) ||
	    nla_put(skb, CKPT_PIDS_PID_A_NUMBERS, n * sizeof(u32), numbers) ||
	    nla_put(skb, CKPT_PIDS_PID_A_NS, n * sizeof(u32), inums)) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

static int snap_put_task(struct sk_buff *skb, struct snap_task *st)
{
	struct nlattr *nest = nla_nest_start(skb, CKPT_PIDS_A_TASK);

	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u32(skb, CKPT_PIDS_TASK_A_PID, st->tags[SNAP_PID]) ||
	    nla_put_u32(skb, CKPT_PIDS_TASK_A_TGID, st->tags[SNAP_TGID]) ||
	    nla_put_u32(skb, CKPT_PIDS_TASK_A_PGID, st->tags[SNAP_PGRP]) ||
	    nla_put_u32(skb, CKPT_PIDS_TASK_A_SID, st->tags[SNAP_SESSION]) ||
	    nla_put_u32(skb, CKPT_PIDS_TASK_A_PPID, st->tags[SNAP_PPID]) ||
	    nla_put_u32(skb, CKPT_PIDS_TASK_A_STATE, st->state) ||
	    nla_put_u32(skb, CKPT_PIDS_TASK_A_EXIT_CODE, st->exit_code) ||
	    nla_put_u32(skb, CKPT_PIDS_TASK_A_NR, st->nr) ||
	    nla_put_string(skb, CKPT_PIDS_TASK_A_COMM, st->comm)) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

int ckpt_pids_snapshot_dumpit(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct snap *s = (struct snap *)cb->args[0];
	unsigned int added = 0;
	void *hdr;
	int ret = 0;

	if (!s->taken) {
		ret = snap_take(s, cb->skb, cb->extack);
		if (ret)
			return ret;
		s->taken = true;
	}
	if (s->header_sent && s->next_obj == s->nr_objs && s->next_task == s->nr_tasks)
		return 0;
	hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			  &ckpt_pids_family, NLM_F_MULTI, CKPT_PIDS_CMD_SNAPSHOT);
	if (!hdr)
		return -EMSGSIZE;
	if (!s->header_sent) {
		if (nla_put_u32(skb, CKPT_PIDS_A_NR_PIDS, s->nr_objs) ||
		    nla_put_u32(skb, CKPT_PIDS_A_NR_VPIDS, s->nr_vpids) ||
		    nla_put_u32(skb, CKPT_PIDS_A_NR_TASKS, s->nr_tasks))
			goto err_cancel;
		s->header_sent = true;
		added++;
	}
	for (; s->next_obj < s->nr_objs; s->next_obj++, added++) {
		ret = snap_put_pid(skb, s, s->next_obj);
		if (ret)
			goto full;
	}
	for (; s->next_task < s->nr_tasks; s->next_task++, added++) {
		ret = snap_put_task(skb, &s->tasks[s->next_task]);
		if (ret)
			goto full;
	}
	genlmsg_end(skb, hdr);
	return skb->len;

full:
	if (ret != -EMSGSIZE || !added)
		goto err_cancel;
	genlmsg_end(skb, hdr);
	return skb->len;

err_cancel:
	genlmsg_cancel(skb, hdr);
	return ret ? ret : -EMSGSIZE;
}

int ckpt_pids_snapshot_done(struct netlink_callback *cb)
{
	snap_free((struct snap *)cb->args[0]);
	return 0;
}
