// SPDX-License-Identifier: GPL-2.0
/*
 * CKPT_PIDS_CMD_SNAPSHOT: a resumable dump of the pid objects and task
 * records of the tree under a root task (see uapi/ckpt_pids.h).
 *
 * The dump's first message reads the whole tree under the tasklist lock,
 * taking a reference on every task and struct pid it records, so the copy
 * is atomic: fork, exit, setsid and setpgid all write-lock tasklist_lock.
 * Pid objects are deduplicated by identity (the struct pid pointer) and
 * tagged 1, 2, 3... in the order found, as in linux-cr. Permission and
 * container checks run after the lock is dropped; dumpit then streams the
 * copy, as many records per message as fit, resuming at its cursor.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/hash.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/pid_namespace.h>
#include <linux/ptrace.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "ckpt_pids.h"

/* How many times start grows its task array before giving up. */
#define SNAP_MAX_ATTEMPTS	6
#define SNAP_FIRST_CAP		1024

enum { SNAP_PID, SNAP_TGID, SNAP_PGRP, SNAP_SESSION, SNAP_PPID, SNAP_NR_REFS };

static const char * const snap_ref_names[SNAP_NR_REFS] = {
	"pid", "tgid", "process group", "session", "parent",
};

struct snap_task {
	struct task_struct *task;
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

/* Record t; past the array's end, only count it. Under tasklist_lock. */
static void snap_add(struct snap *s, struct task_struct *t)
{
	struct snap_task *st;

	if (t->exit_state & EXIT_DEAD)
		return;		/* being released: gone */
	if (s->nr_tasks++ >= s->cap)
		return;
	st = &s->tasks[s->nr_tasks - 1];
	get_task_struct(t);
	st->task = t;
	st->pids[SNAP_PID] = get_pid(task_pid(t));
	st->pids[SNAP_TGID] = get_pid(task_tgid(t));
	st->pids[SNAP_PGRP] = get_pid(task_pgrp(t));
	st->pids[SNAP_SESSION] = get_pid(task_session(t));
	st->pids[SNAP_PPID] = get_pid(task_tgid(rcu_dereference(t->real_parent)));
	if (t->exit_state & EXIT_ZOMBIE)
		st->state = CKPT_PIDS_STATE_ZOMBIE;
	else if (task_is_stopped(t))
		st->state = CKPT_PIDS_STATE_STOPPED;
	else
		st->state = CKPT_PIDS_STATE_ALIVE;
	st->exit_code = t->exit_code;
	st->nr = task_pid_nr_ns(t, s->caller_ns);
	strscpy_pad(st->comm, t->comm, sizeof(st->comm));
}

static void snap_add_group(struct snap *s, struct task_struct *leader)
{
	struct task_struct *t;

	snap_add(s, leader);
	for_each_thread(leader, t)
		if (t != leader)
			snap_add(s, t);
}

/*
 * snap_collect records the root's thread group and, breadth first, every
 * descendant's: the task array is its own queue. It returns -ENOSPC when
 * the array was too small; s->nr_tasks then says how much was seen.
 */
static int snap_collect(struct snap *s, struct task_struct *root)
{
	struct task_struct *child;
	unsigned int i;

	read_lock(ckpt_tasklist_lock);
	rcu_read_lock();
	s->nr_tasks = 0;
	snap_add_group(s, root);
	for (i = 0; i < s->nr_tasks && i < s->cap; i++)
		list_for_each_entry(child, &s->tasks[i].task->children, sibling)
			snap_add_group(s, child);
	rcu_read_unlock();
	read_unlock(ckpt_tasklist_lock);
	return s->nr_tasks > s->cap ? -ENOSPC : 0;
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
	s->hkeys = kvcalloc(1U << s->hbits, sizeof(*s->hkeys), GFP_KERNEL);
	s->hvals = kvcalloc(1U << s->hbits, sizeof(*s->hvals), GFP_KERNEL);
	s->objs = kvcalloc(4 * s->nr_tasks, sizeof(*s->objs), GFP_KERNEL);
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

static int snap_check(struct snap *s, const struct sk_buff *skb,
		      struct netlink_ext_ack *extack)
{
	unsigned int i;

	for (i = 0; i < s->nr_tasks; i++) {
		struct snap_task *st = &s->tasks[i];

		if (!ckpt_ptrace_may_access(st->task, PTRACE_MODE_READ_REALCREDS)) {
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
	const struct genl_dumpit_info *info = genl_dumpit_info(cb);
	struct nlattr **attrs = info->attrs;
	struct snap *s;

	s = kzalloc(sizeof(*s), GFP_KERNEL);
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
	int attempt, ret;

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
	for (attempt = 0;; attempt++) {
		s->tasks = kvcalloc(s->cap, sizeof(*s->tasks), GFP_KERNEL);
		if (!s->tasks) {
			ret = -ENOMEM;
			goto out_put_root;
		}
		ret = snap_collect(s, root);
		if (ret != -ENOSPC)
			break;
		snap_put_tasks(s);
		kvfree(s->tasks);
		s->tasks = NULL;
		if (attempt == SNAP_MAX_ATTEMPTS) {
			ckpt_set_msg(skb, extack, "the tree kept growing past %u tasks", s->cap);
			ret = -EAGAIN;
			goto out_put_root;
		}
		s->cap = s->cap * 4;
	}
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
