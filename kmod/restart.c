// SPDX-License-Identifier: GPL-2.0
/*
 * Restart contexts (see uapi/ckpt_pids.h): the identity a restart must
 * produce, the member tasks that attach to it, and the in-kernel check of
 * the restored tree at commit.
 *
 * A context is owned by the generic-netlink socket that created it, one
 * per socket. It holds a module reference, so the module cannot go while
 * one lives. All state is under ctx->lock; the id table and the per-socket
 * table under ckpt_ctx_lock.
 *
 * Safety rules (docs/SECURITY.md):
 * - members are pinned by their struct pid, never by a task pointer that
 *   could be released under us; commit looks each task up again under RCU
 *   and refuses a member that exited, naming it;
 * - memory is sized by what the caller actually sent, charged to the
 *   caller's memory cgroup, allocated after the permission check, and
 *   bounded by max_members;
 * - nothing sleeps under RCU: messages are formatted into a buffer there
 *   and handed to the extended ack after the read-side section ends;
 * - a kill reaches only members and descendants of the launcher that the
 *   context's creator could signal itself (kill(2)'s uid and CAP_KILL rule,
 *   evaluated with the creator's credentials).
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bsearch.h>
#include <linux/cred.h>
#include <linux/delay.h>
#include <linux/hashtable.h>
#include <linux/idr.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/pid_namespace.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/threads.h>

#include "ckpt_pids.h"

static atomic_t ckpt_nr_ctxs = ATOMIC_INIT(0);

static unsigned int max_members = 1U << 16;
module_param(max_members, uint, 0644);
MODULE_PARM_DESC(max_members,
		 "most members and most pid objects one restart context may hold (capped at PID_MAX_LIMIT)");

static int live_contexts_get(char *buf, const struct kernel_param *kp)
{
	return scnprintf(buf, PAGE_SIZE, "%d\n", atomic_read(&ckpt_nr_ctxs));
}

static const struct kernel_param_ops live_contexts_ops = {
	.get = live_contexts_get,
};

module_param_cb(live_contexts, &live_contexts_ops, NULL, 0444);
MODULE_PARM_DESC(live_contexts, "restart contexts alive now (read only; for leak tests)");

struct ctx_pid {
	u32 depth;			/* levels below the root's namespace */
	u32 off;			/* in levels: numbers, then ns tags */
};

struct ctx_member {
	u32 tag, tgid, pgid, sid;	/* 0: not checked */
	u32 kind;
	u32 parent;			/* member index, or CKPT_PIDS_NO_MEMBER */
	struct pid *pid;		/* the attached task's, pinned */
};

struct ckpt_ctx {
	u32 id;
	struct net *net;
	u32 portid;
	struct hlist_node port_node;	/* in ckpt_ctx_ports */
	u32 mode;
	struct pid *launcher;
	const struct cred *owner_cred;	/* the creator's */
	struct mutex lock;		/* protects the fields below */
	u32 nr_pids, nr_members, pids_added, members_added, attached;
	struct ctx_pid *pids;		/* by tag - 1 */
	u32 pids_cap;
	u32 *levels;			/* numbers and ns tags of every pid */
	u32 nr_levels, levels_cap;
	struct ctx_member *members;
	u32 members_cap;
};

static DEFINE_MUTEX(ckpt_ctx_lock);
static DEFINE_IDR(ckpt_ctxs);
static DEFINE_HASHTABLE(ckpt_ctx_ports, 6);

#define CKPT_MSG_LEN	160

static struct netlink_range_validation ctx_count_range = {
	.min = 1,
	.max = PID_MAX_LIMIT,
};

static struct netlink_range_validation ctx_launcher_range = {
	.min = 1,
	.max = PID_MAX_LIMIT,
};

static const struct nla_policy ckpt_pids_ctx_pid_policy[CKPT_PIDS_PID_A_MAX + 1] = {
	[CKPT_PIDS_PID_A_TAG] = NLA_POLICY_MIN(NLA_U32, 1),
	[CKPT_PIDS_PID_A_NUMBERS] = { .type = NLA_BINARY, .len = 4 * CKPT_PIDS_MAX_DEPTH },
	[CKPT_PIDS_PID_A_NS] = { .type = NLA_BINARY, .len = 4 * CKPT_PIDS_MAX_DEPTH },
};

static const struct nla_policy ckpt_pids_ctx_task_policy[CKPT_PIDS_TASK_A_MAX + 1] = {
	[CKPT_PIDS_TASK_A_PID] = { .type = NLA_U32 },
	[CKPT_PIDS_TASK_A_TGID] = { .type = NLA_U32 },
	[CKPT_PIDS_TASK_A_PGID] = { .type = NLA_U32 },
	[CKPT_PIDS_TASK_A_SID] = { .type = NLA_U32 },
	[CKPT_PIDS_TASK_A_KIND] = NLA_POLICY_RANGE(NLA_U32, CKPT_PIDS_KIND_TASK,
						   CKPT_PIDS_KIND_INIT),
	[CKPT_PIDS_TASK_A_PARENT] = { .type = NLA_U32 },
};

/* Each command takes exactly the attributes it uses; strict validation
 * refuses any other with "Unsupported attribute".
 */
const struct nla_policy ckpt_pids_ctx_create_policy[CKPT_PIDS_A_MAX + 1] = {
	[CKPT_PIDS_A_MODE] = NLA_POLICY_RANGE(NLA_U32, CKPT_PIDS_MODE_CONTAINER,
					      CKPT_PIDS_MODE_SUBTREE),
	[CKPT_PIDS_A_LAUNCHER] = NLA_POLICY_FULL_RANGE(NLA_U32, &ctx_launcher_range),
	[CKPT_PIDS_A_NR_PIDS] = NLA_POLICY_FULL_RANGE(NLA_U32, &ctx_count_range),
	[CKPT_PIDS_A_NR_TASKS] = NLA_POLICY_FULL_RANGE(NLA_U32, &ctx_count_range),
};

const struct nla_policy ckpt_pids_ctx_add_policy[CKPT_PIDS_A_MAX + 1] = {
	[CKPT_PIDS_A_CTX] = NLA_POLICY_MIN(NLA_U32, 1),
	[CKPT_PIDS_A_PID] = NLA_POLICY_NESTED(ckpt_pids_ctx_pid_policy),
	[CKPT_PIDS_A_TASK] = NLA_POLICY_NESTED(ckpt_pids_ctx_task_policy),
};

const struct nla_policy ckpt_pids_ctx_attach_policy[CKPT_PIDS_A_MAX + 1] = {
	[CKPT_PIDS_A_CTX] = NLA_POLICY_MIN(NLA_U32, 1),
	[CKPT_PIDS_A_MEMBER] = { .type = NLA_U32 },
};

/* CTX_COMMIT and CTX_ABORT: the context id only. */
const struct nla_policy ckpt_pids_ctx_id_policy[CKPT_PIDS_A_MAX + 1] = {
	[CKPT_PIDS_A_CTX] = NLA_POLICY_MIN(NLA_U32, 1),
};

static const char * const kind_names[] = {
	[CKPT_PIDS_KIND_TASK] = "task",
	[CKPT_PIDS_KIND_GHOST] = "ghost",
	[CKPT_PIDS_KIND_PLACEHOLDER] = "placeholder",
	[CKPT_PIDS_KIND_INIT] = "init",
};

static u32 ctx_limit(void)
{
	return min_t(u32, READ_ONCE(max_members), PID_MAX_LIMIT);
}

/*
 * Grow *arr to hold need (at most max) elements of size, charged to the
 * caller's memory cgroup.
 */
static int ctx_grow(void **arr, u32 *cap, u32 need, u32 max, size_t size)
{
	u32 n = min(max3(need, *cap * 2, 64U), max);
	void *p;

	if (need <= *cap)
		return 0;
	if (need > max)
		return -E2BIG;
	p = kvmalloc_array(n, size, GFP_KERNEL_ACCOUNT | __GFP_ZERO | __GFP_NOWARN);
	if (!p)
		return -ENOMEM;
	if (*arr)
		memcpy(p, *arr, (size_t)*cap * size);
	kvfree(*arr);
	*arr = p;
	*cap = n;
	return 0;
}

/*
 * Could the creator send t a signal with kill(2)? The kernel's own rule
 * (kill_ok_by_cred): a real or effective uid matching the target's real or
 * saved uid, or CAP_KILL in the target's user namespace. Called under RCU
 * with the creator's credentials in force (override_creds).
 */
static bool ctx_may_kill(const struct cred *cred, struct task_struct *t)
{
	const struct cred *tcred = __task_cred(t);

	if (uid_eq(cred->euid, tcred->suid) || uid_eq(cred->euid, tcred->uid) ||
	    uid_eq(cred->uid, tcred->suid) || uid_eq(cred->uid, tcred->uid))
		return true;
	return ns_capable_noaudit(tcred->user_ns, CAP_KILL);
}

/* Does t descend from launcher, not counting launcher's own threads? RCU. */
static bool ctx_below(struct task_struct *t, struct task_struct *launcher)
{
	struct task_struct *p = t, *parent;

	if (same_thread_group(t, launcher))
		return false;
	while (p->pid > 0) {
		parent = rcu_dereference(p->real_parent);
		if (same_thread_group(parent, launcher))
			return true;
		if (parent == p)
			break;
		p = parent;
	}
	return false;
}

/*
 * Call fn for every task below the launcher (zombies included), with RCU
 * held, until fn returns nonzero. The launcher's descendants all have a
 * pid in the launcher's namespace, so this walks that namespace's pids
 * (as /proc does) and recognises descendants by their parent chain.
 */
static int ctx_walk_below(struct ckpt_ctx *c,
			  int (*fn)(struct ckpt_ctx *c, struct task_struct *t, void *arg),
			  void *arg)
{
	struct pid_namespace *ns = ns_of_pid(c->launcher);
	struct task_struct *launcher, *t;
	unsigned int seen = 0;
	struct pid *pid;
	int nr = 1, ret = 0;

	rcu_read_lock();
	launcher = pid_task(c->launcher, PIDTYPE_PID);
	while (launcher && !ret && (pid = find_ge_pid(nr, ns))) {
		nr = pid_nr_ns(pid, ns) + 1;
		t = pid_task(pid, PIDTYPE_PID);
		if (t && !(t->exit_state & EXIT_DEAD) && ctx_below(t, launcher))
			ret = fn(c, t, arg);
		if (++seen % 256)
			continue;
		/* A long namespace: let RCU and the scheduler breathe. */
		rcu_read_unlock();
		cond_resched();
		rcu_read_lock();
		launcher = pid_task(c->launcher, PIDTYPE_PID);
	}
	rcu_read_unlock();
	return ret;
}

struct ctx_kill_count {
	unsigned int alive, spared;
};

/* Kill t if the creator may; count it. RCU held, creator's creds in force. */
static int ctx_kill_one(struct ckpt_ctx *c, struct task_struct *t, void *arg)
{
	struct ctx_kill_count *n = arg;

	if (t->exit_state)
		return 0;
	if (!ctx_may_kill(c->owner_cred, t)) {
		n->spared++;
		return 0;
	}
	n->alive++;
	if (!fatal_signal_pending(t))
		send_sig(SIGKILL, t, 1);
	return 0;
}

/*
 * Kill what the restart created: every member, and every task below the
 * launcher, that the creator could signal itself. Rounds repeat until a
 * scan finds no live task left to kill (a task forked during a scan is
 * found by the next), waiting a little between them, so that the killed
 * tasks are gone (or zombies) when this returns.
 */
static void ctx_kill(struct ckpt_ctx *c)
{
	struct ctx_kill_count n = { 0 };
	const struct cred *old;
	unsigned int i, round;

	old = override_creds(c->owner_cred);
	for (round = 0; round < 64; round++) {
		struct task_struct *t;

		n.alive = 0;
		n.spared = 0;
		rcu_read_lock();
		for (i = 0; i < c->members_added; i++) {
			t = c->members[i].pid ? pid_task(c->members[i].pid, PIDTYPE_PID) : NULL;
			if (t)
				ctx_kill_one(c, t, &n);
		}
		rcu_read_unlock();
		ctx_walk_below(c, ctx_kill_one, &n);
		if (!n.alive)
			break;
		msleep(round < 8 ? 1 : 10);
	}
	revert_creds(old);
	if (n.alive)
		pr_warn("restart context %u: %u tasks still alive after its kill\n",
			c->id, n.alive);
	if (n.spared)
		pr_info("restart context %u: spared %u tasks its creator may not signal\n",
			c->id, n.spared);
}

static void ctx_free(struct ckpt_ctx *c)
{
	unsigned int i;

	for (i = 0; i < c->members_added; i++)
		put_pid(c->members[i].pid);
	put_pid(c->launcher);
	if (c->owner_cred)
		put_cred(c->owner_cred);
	kvfree(c->pids);
	kvfree(c->levels);
	kvfree(c->members);
	kfree(c);
	module_put(THIS_MODULE);
}

/* Look up the caller's context; ckpt_ctx_lock held. */
static struct ckpt_ctx *ctx_find(struct genl_info *info, bool owner)
{
	struct ckpt_ctx *c;

	if (!info->attrs[CKPT_PIDS_A_CTX]) {
		NL_SET_ERR_ATTR_MISS(info->extack, NULL, CKPT_PIDS_A_CTX);
		return ERR_PTR(-EINVAL);
	}
	c = idr_find(&ckpt_ctxs, nla_get_u32(info->attrs[CKPT_PIDS_A_CTX]));
	if (!c) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[CKPT_PIDS_A_CTX],
				    "no such restart context");
		return ERR_PTR(-ENOENT);
	}
	if (owner && (c->portid != info->snd_portid || !net_eq(c->net, genl_info_net(info)))) {
		NL_SET_ERR_MSG(info->extack, "the restart context belongs to another socket");
		return ERR_PTR(-EPERM);
	}
	return c;
}

/* The context a socket owns; ckpt_ctx_lock held. */
static struct ckpt_ctx *ctx_of_port(struct net *net, u32 portid)
{
	struct ckpt_ctx *c;

	hash_for_each_possible(ckpt_ctx_ports, c, port_node, portid)
		if (c->portid == portid && net_eq(c->net, net))
			return c;
	return NULL;
}

/* Remove c from the tables; the caller frees it. ckpt_ctx_lock held. */
static void ctx_unlink(struct ckpt_ctx *c)
{
	idr_remove(&ckpt_ctxs, c->id);
	hash_del(&c->port_node);
	atomic_dec(&ckpt_nr_ctxs);
}

/*
 * Check the launcher: a child of the caller that the caller could signal.
 * An abort kills the launcher's descendants: only the caller's own.
 */
static int ctx_check_launcher(struct ckpt_ctx *c, struct genl_info *info)
{
	struct nlattr *attr = info->attrs[CKPT_PIDS_A_LAUNCHER];
	struct task_struct *t;
	int ret = 0;

	rcu_read_lock();
	t = pid_task(c->launcher, PIDTYPE_PID);
	if (!t || !same_thread_group(rcu_dereference(t->real_parent), current)) {
		NL_SET_ERR_MSG_ATTR(info->extack, attr,
				    "the launcher must be a child of the caller");
		ret = -EPERM;
	} else if (!ctx_may_kill(current_cred(), t)) {
		NL_SET_ERR_MSG_ATTR(info->extack, attr, "the caller may not signal the launcher");
		ret = -EPERM;
	}
	rcu_read_unlock();
	return ret;
}

static bool ctx_capable(const struct sk_buff *skb, struct user_namespace *user_ns)
{
	return netlink_ns_capable(skb, user_ns, CAP_CHECKPOINT_RESTORE) ||
	       netlink_ns_capable(skb, user_ns, CAP_SYS_ADMIN);
}

static int ctx_reply_id(u32 id, struct genl_info *info)
{
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &ckpt_pids_family, 0, CKPT_PIDS_CMD_CTX_CREATE);
	if (!hdr || nla_put_u32(msg, CKPT_PIDS_A_CTX, id)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

int ckpt_pids_ctx_create(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **a = info->attrs;
	u32 nr_pids, nr_tasks, limit = ctx_limit();
	struct ckpt_ctx *c, *old;
	struct pid *launcher;
	int id, ret;
	u32 old_id;

	if (!a[CKPT_PIDS_A_MODE] || !a[CKPT_PIDS_A_LAUNCHER] || !a[CKPT_PIDS_A_NR_PIDS] ||
	    !a[CKPT_PIDS_A_NR_TASKS]) {
		NL_SET_ERR_MSG(info->extack, "needs mode, launcher, nr_pids and nr_tasks");
		return -EINVAL;
	}
	nr_pids = nla_get_u32(a[CKPT_PIDS_A_NR_PIDS]);
	nr_tasks = nla_get_u32(a[CKPT_PIDS_A_NR_TASKS]);
	launcher = find_get_pid(nla_get_u32(a[CKPT_PIDS_A_LAUNCHER]));
	if (!launcher) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[CKPT_PIDS_A_LAUNCHER],
				    "no such launcher process");
		return -ESRCH;
	}
	/*
	 * Every pid the restart can create lies in the launcher's pid
	 * namespace or one below it, and those are owned by the owner of the
	 * launcher's namespace or its descendants: this is clone3's set_tid
	 * check at the outermost level the restart can reach.
	 */
	if (!ctx_capable(skb, ns_of_pid(launcher)->user_ns)) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[CKPT_PIDS_A_LAUNCHER],
				    "needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN over the launcher's pid namespace");
		ret = -EPERM;
		goto err_put_launcher;
	}
	if (nr_pids > limit || nr_tasks > limit) {
		ckpt_set_msg(skb, info->extack,
			     "nr_pids %u or nr_tasks %u is more than max_members (%u)",
			     nr_pids, nr_tasks, limit);
		ret = -E2BIG;
		goto err_put_launcher;
	}
	if (!try_module_get(THIS_MODULE)) {
		ret = -ENODEV;
		goto err_put_launcher;
	}
	c = kzalloc(sizeof(*c), GFP_KERNEL_ACCOUNT);
	if (!c) {
		module_put(THIS_MODULE);
		ret = -ENOMEM;
		goto err_put_launcher;
	}
	mutex_init(&c->lock);
	c->launcher = launcher;
	c->net = genl_info_net(info);
	c->portid = info->snd_portid;
	c->mode = nla_get_u32(a[CKPT_PIDS_A_MODE]);
	c->nr_pids = nr_pids;
	c->nr_members = nr_tasks;
	c->owner_cred = get_current_cred();
	ret = ctx_check_launcher(c, info);
	if (ret)
		goto err_free;

	mutex_lock(&ckpt_ctx_lock);
	old = ctx_of_port(c->net, c->portid);
	if (old) {
		old_id = old->id;
		mutex_unlock(&ckpt_ctx_lock);
		ckpt_set_msg(skb, info->extack,
			     "this socket already owns restart context %u", old_id);
		ret = -EBUSY;
		goto err_free;
	}
	id = idr_alloc(&ckpt_ctxs, c, 1, INT_MAX, GFP_KERNEL);
	if (id < 0) {
		mutex_unlock(&ckpt_ctx_lock);
		ret = id;
		goto err_free;
	}
	c->id = id;
	hash_add(ckpt_ctx_ports, &c->port_node, c->portid);
	atomic_inc(&ckpt_nr_ctxs);
	mutex_unlock(&ckpt_ctx_lock);

	/*
	 * Published: another thread on this socket may commit or abort it
	 * now, so c is not touched again. Should the reply fail, the context
	 * stays the socket's and dies with it.
	 */
	return ctx_reply_id(id, info);

err_free:
	ctx_free(c);	/* drops the launcher */
	return ret;
err_put_launcher:
	put_pid(launcher);
	return ret;
}

static int ctx_add_pid(struct ckpt_ctx *c, struct nlattr *nest, const struct sk_buff *skb,
		       struct netlink_ext_ack *extack)
{
	struct nlattr *tb[CKPT_PIDS_PID_A_MAX + 1];
	u32 tag, n, l, *v, max_ns = c->nr_pids * CKPT_PIDS_MAX_DEPTH;
	struct ctx_pid *p;
	int ret;

	ret = nla_parse_nested(tb, CKPT_PIDS_PID_A_MAX, nest, ckpt_pids_ctx_pid_policy, extack);
	if (ret)
		return ret;
	if (!tb[CKPT_PIDS_PID_A_TAG] || !tb[CKPT_PIDS_PID_A_NUMBERS] || !tb[CKPT_PIDS_PID_A_NS]) {
		NL_SET_ERR_MSG_ATTR(extack, nest, "a pid needs a tag, numbers and namespaces");
		return -EINVAL;
	}
	tag = nla_get_u32(tb[CKPT_PIDS_PID_A_TAG]);
	n = nla_len(tb[CKPT_PIDS_PID_A_NUMBERS]) / 4;
	if (tag != c->pids_added + 1 || tag > c->nr_pids) {
		ckpt_set_msg(skb, extack, "pid tag %u: tags must come in order, within nr_pids %u",
			     tag, c->nr_pids);
		return -EINVAL;
	}
	if (!n || n * 4 != nla_len(tb[CKPT_PIDS_PID_A_NUMBERS]) ||
	    nla_len(tb[CKPT_PIDS_PID_A_NS]) != nla_len(tb[CKPT_PIDS_PID_A_NUMBERS])) {
		ckpt_set_msg(skb, extack,
			     "pid tag %u: numbers and namespaces must be u32 arrays of one length",
			     tag);
		return -EINVAL;
	}
	ret = ctx_grow((void **)&c->pids, &c->pids_cap, tag, c->nr_pids, sizeof(*c->pids));
	if (!ret)
		ret = ctx_grow((void **)&c->levels, &c->levels_cap, c->nr_levels + 2 * n,
			       c->nr_pids * 2 * CKPT_PIDS_MAX_DEPTH, sizeof(u32));
	if (ret)
		return ret;
	v = &c->levels[c->nr_levels];
	nla_memcpy(v, tb[CKPT_PIDS_PID_A_NUMBERS], n * 4);
	nla_memcpy(v + n, tb[CKPT_PIDS_PID_A_NS], n * 4);
	for (l = 0; l < n; l++) {
		if (v[l] < 1 || v[l] > PID_MAX_LIMIT) {
			ckpt_set_msg(skb, extack,
				     "pid tag %u: number %d at level %u is out of range",
				     tag, (s32)v[l], l);
			return -ERANGE;
		}
		if (v[n + l] < 1 || v[n + l] > max_ns) {
			ckpt_set_msg(skb, extack,
				     "pid tag %u: namespace tag %u at level %u is out of range 1..%u",
				     tag, v[n + l], l, max_ns);
			return -ERANGE;
		}
	}
	p = &c->pids[tag - 1];
	p->depth = n - 1;
	p->off = c->nr_levels;
	c->nr_levels += 2 * n;
	c->pids_added++;
	return 0;
}

/* A reference tag: 0, the root session, or a pid object of the context. */
static bool ctx_ref_ok(struct ckpt_ctx *c, u32 tag)
{
	return tag == CKPT_PIDS_TAG_OUTSIDE || tag == CKPT_PIDS_TAG_ROOT_SESSION ||
	       tag <= c->nr_pids;
}

static int ctx_add_member(struct ckpt_ctx *c, struct nlattr *nest, const struct sk_buff *skb,
			  struct netlink_ext_ack *extack)
{
	struct nlattr *tb[CKPT_PIDS_TASK_A_MAX + 1];
	struct ctx_member *m;
	u32 i = c->members_added;
	int ret;

	ret = nla_parse_nested(tb, CKPT_PIDS_TASK_A_MAX, nest, ckpt_pids_ctx_task_policy, extack);
	if (ret)
		return ret;
	if (i == c->nr_members) {
		NL_SET_ERR_MSG_ATTR(extack, nest, "more members than nr_tasks");
		return -E2BIG;
	}
	if (!tb[CKPT_PIDS_TASK_A_KIND] || !tb[CKPT_PIDS_TASK_A_PARENT]) {
		NL_SET_ERR_MSG_ATTR(extack, nest, "a member needs a kind and a parent");
		return -EINVAL;
	}
	ret = ctx_grow((void **)&c->members, &c->members_cap, i + 1, c->nr_members,
		       sizeof(*c->members));
	if (ret)
		return ret;
	m = &c->members[i];
	memset(m, 0, sizeof(*m));
	m->kind = nla_get_u32(tb[CKPT_PIDS_TASK_A_KIND]);
	m->parent = nla_get_u32(tb[CKPT_PIDS_TASK_A_PARENT]);
	if (tb[CKPT_PIDS_TASK_A_PID])
		m->tag = nla_get_u32(tb[CKPT_PIDS_TASK_A_PID]);
	if (tb[CKPT_PIDS_TASK_A_TGID])
		m->tgid = nla_get_u32(tb[CKPT_PIDS_TASK_A_TGID]);
	if (tb[CKPT_PIDS_TASK_A_PGID])
		m->pgid = nla_get_u32(tb[CKPT_PIDS_TASK_A_PGID]);
	if (tb[CKPT_PIDS_TASK_A_SID])
		m->sid = nla_get_u32(tb[CKPT_PIDS_TASK_A_SID]);
	if (m->tag > c->nr_pids || !ctx_ref_ok(c, m->tgid) || !ctx_ref_ok(c, m->pgid) ||
	    !ctx_ref_ok(c, m->sid)) {
		ckpt_set_msg(skb, extack,
			     "member %u: pid tags %u/%u/%u/%u: each must be 0 or within nr_pids %u",
			     i, m->tag, m->tgid, m->pgid, m->sid, c->nr_pids);
		return -EINVAL;
	}
	if (m->parent != CKPT_PIDS_NO_MEMBER && m->parent >= c->nr_members) {
		ckpt_set_msg(skb, extack, "member %u: parent %u is not a member", i, m->parent);
		return -EINVAL;
	}
	c->members_added++;
	return 0;
}

int ckpt_pids_ctx_add(struct sk_buff *skb, struct genl_info *info)
{
	struct ckpt_ctx *c;
	struct nlattr *nla;
	int rem, ret = 0;

	mutex_lock(&ckpt_ctx_lock);
	c = ctx_find(info, true);
	if (IS_ERR(c)) {
		mutex_unlock(&ckpt_ctx_lock);
		return PTR_ERR(c);
	}
	mutex_lock(&c->lock);
	mutex_unlock(&ckpt_ctx_lock);
	if (c->attached) {
		NL_SET_ERR_MSG(info->extack, "members are attaching: the context is complete");
		ret = -EBUSY;
		goto out;
	}
	nlmsg_for_each_attr(nla, info->nlhdr, GENL_HDRLEN, rem) {
		if (nla_type(nla) == CKPT_PIDS_A_PID)
			ret = ctx_add_pid(c, nla, skb, info->extack);
		else if (nla_type(nla) == CKPT_PIDS_A_TASK)
			ret = ctx_add_member(c, nla, skb, info->extack);
		if (ret)
			break;
	}
out:
	mutex_unlock(&c->lock);
	return ret;
}

/* Is current the launcher or a descendant of it? */
static bool descends_from(struct pid *launcher)
{
	struct task_struct *l;
	bool ok = false;

	rcu_read_lock();
	l = pid_task(launcher, PIDTYPE_PID);
	if (l)
		ok = same_thread_group(current, l) || ctx_below(current, l);
	rcu_read_unlock();
	return ok;
}

int ckpt_pids_ctx_attach(struct sk_buff *skb, struct genl_info *info)
{
	struct ckpt_ctx *c;
	u32 i;
	int ret = 0;

	if (!info->attrs[CKPT_PIDS_A_MEMBER]) {
		NL_SET_ERR_ATTR_MISS(info->extack, NULL, CKPT_PIDS_A_MEMBER);
		return -EINVAL;
	}
	i = nla_get_u32(info->attrs[CKPT_PIDS_A_MEMBER]);
	mutex_lock(&ckpt_ctx_lock);
	c = ctx_find(info, false);
	if (IS_ERR(c)) {
		mutex_unlock(&ckpt_ctx_lock);
		return PTR_ERR(c);
	}
	mutex_lock(&c->lock);
	mutex_unlock(&ckpt_ctx_lock);

	if (!descends_from(c->launcher)) {
		ckpt_set_msg(skb, info->extack, "task %d is not part of restart context %u",
			     task_pid_vnr(current), c->id);
		ret = -EPERM;
	} else if (c->pids_added != c->nr_pids || c->members_added != c->nr_members) {
		NL_SET_ERR_MSG(info->extack, "the context is not complete yet");
		ret = -EBUSY;
	} else if (i >= c->nr_members) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[CKPT_PIDS_A_MEMBER],
				    "no such member");
		ret = -EINVAL;
	} else if (c->members[i].pid) {
		ckpt_set_msg(skb, info->extack,
			     "member %u of restart context %u is already attached", i, c->id);
		ret = -EEXIST;
	} else {
		c->members[i].pid = get_pid(task_pid(current));
		c->attached++;
	}
	mutex_unlock(&c->lock);
	return ret;
}

/* A namespace tag seen at one level of one member's pid. */
struct ns_seen {
	struct pid_namespace *ns;
	u32 tag;
	u32 member;
};

/* The state commit checks against. */
struct ctx_check {
	struct ckpt_ctx *c;
	struct pid_namespace *root_ns;
	struct pid *root_session;
	struct pid **owner;			/* pid tag - 1 -> struct pid */
	struct ns_seen *ns;
	u32 nr_ns;
	struct ctx_member **by_pid;		/* members sorted by struct pid */
	char msg[CKPT_MSG_LEN];			/* formatted under RCU */
};

static __printf(2, 3) void check_fail(struct ctx_check *k, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	vsnprintf(k->msg, sizeof(k->msg), fmt, args);
	va_end(args);
}

static const char *kind_name(struct ctx_member *m)
{
	return kind_names[m->kind];
}

/* Check member i's own pid numbers; record its pid and namespaces. */
static int check_pid(struct ctx_check *k, u32 i)
{
	struct ctx_member *m = &k->c->members[i];
	struct pid *pid = m->pid;
	unsigned int base = k->root_ns->level, l;
	struct ctx_pid *e;
	u32 *nums, *tags;

	if (!m->tag)
		return 0;
	/* Each tag once: k->ns holds at most the levels that were sent. */
	if (k->owner[m->tag - 1]) {
		check_fail(k, "member %u (%s): tag %u is held by two pids",
			   i, kind_name(m), m->tag);
		return -EINVAL;
	}
	k->owner[m->tag - 1] = pid;
	e = &k->c->pids[m->tag - 1];
	nums = &k->c->levels[e->off];
	tags = nums + e->depth + 1;
	if (pid->level < base || pid->level - base != e->depth) {
		check_fail(k,
			   "member %u (%s, tag %u): %d pid levels below the root's namespace, want %u",
			   i, kind_name(m), m->tag, (int)pid->level - (int)base, e->depth);
		return -EINVAL;
	}
	for (l = 0; l <= e->depth; l++) {
		struct upid *u = &pid->numbers[base + l];

		if (u->nr != nums[l]) {
			check_fail(k, "member %u (%s, tag %u): pid %d at level %u, want %u",
				   i, kind_name(m), m->tag, u->nr, l, nums[l]);
			return -EINVAL;
		}
		k->ns[k->nr_ns].ns = u->ns;
		k->ns[k->nr_ns].tag = tags[l];
		k->ns[k->nr_ns].member = i;
		k->nr_ns++;
	}
	return 0;
}

/* Check that member i's reference what is the pid of tag. RCU held. */
static int check_ref(struct ctx_check *k, u32 i, const char *what, struct pid *got, u32 tag)
{
	struct ctx_member *m = &k->c->members[i];

	if (!got) {
		check_fail(k, "member %u (%s, tag %u) exited before commit",
			   i, kind_name(m), m->tag);
		return -ESRCH;
	}
	if (tag == CKPT_PIDS_TAG_OUTSIDE) {
		if (pid_nr_ns(got, k->root_ns) == 0)
			return 0;
	} else if (tag == CKPT_PIDS_TAG_ROOT_SESSION) {
		if (got == k->root_session)
			return 0;
	} else if (tag <= k->c->nr_pids && got == k->owner[tag - 1]) {
		return 0;
	}
	check_fail(k, "member %u (%s, tag %u): its %s is pid %d, not tag %u's",
		   i, kind_name(m), m->tag, what, pid_nr_ns(got, k->root_ns), tag);
	return -EINVAL;
}

/* Does a member that is gone leave something unchecked? */
static bool check_needs_task(struct ctx_member *m)
{
	return m->tag || m->tgid || m->pgid || m->sid || m->kind == CKPT_PIDS_KIND_TASK;
}

/* Member i's links: parent, thread group, process group, session. RCU. */
static int check_links(struct ctx_check *k, u32 i)
{
	struct ckpt_ctx *c = k->c;
	struct ctx_member *m = &c->members[i];
	struct task_struct *t = pid_task(m->pid, PIDTYPE_PID), *pt;
	int ret = 0;

	if (!t || !pid_alive(t)) {
		if (!check_needs_task(m))
			return 0;	/* a placeholder's work is done */
		check_fail(k, "member %u (%s, tag %u) exited before commit",
			   i, kind_name(m), m->tag);
		return -ESRCH;
	}
	if (m->parent != CKPT_PIDS_NO_MEMBER) {
		struct ctx_member *pm = &c->members[m->parent];

		pt = pid_task(pm->pid, PIDTYPE_PID);
		if (!pt || !pid_alive(pt)) {
			check_fail(k,
				   "member %u (%s, tag %u): its parent, member %u, exited before commit",
				   i, kind_name(m), m->tag, m->parent);
			return -ESRCH;
		}
		if (!same_thread_group(rcu_dereference(t->real_parent), pt)) {
			check_fail(k, "member %u (%s, tag %u): its parent is not member %u",
				   i, kind_name(m), m->tag, m->parent);
			return -EINVAL;
		}
	}
	if (m->tgid)
		ret = check_ref(k, i, "tgid", task_tgid(t), m->tgid);
	if (!ret && (m->pgid || m->kind == CKPT_PIDS_KIND_TASK))
		ret = check_ref(k, i, "process group", task_pgrp(t), m->pgid);
	if (!ret && (m->sid || m->kind == CKPT_PIDS_KIND_TASK))
		ret = check_ref(k, i, "session", task_session(t), m->sid);
	return ret;
}

static int cmp_ns_by_tag(const void *a, const void *b)
{
	const struct ns_seen *x = a, *y = b;

	return x->tag < y->tag ? -1 : x->tag > y->tag;
}

static int cmp_ns_by_ns(const void *a, const void *b)
{
	const struct ns_seen *x = a, *y = b;

	if (x->ns != y->ns)
		return (unsigned long)x->ns < (unsigned long)y->ns ? -1 : 1;
	return cmp_ns_by_tag(a, b);
}

/* Namespace tags and namespaces must map one to one. */
static int check_ns_bijection(struct ctx_check *k)
{
	u32 i;

	sort(k->ns, k->nr_ns, sizeof(*k->ns), cmp_ns_by_tag, NULL);
	for (i = 1; i < k->nr_ns; i++) {
		if (k->ns[i].tag == k->ns[i - 1].tag && k->ns[i].ns != k->ns[i - 1].ns) {
			check_fail(k, "namespace tag %u names two namespaces (members %u and %u)",
				   k->ns[i].tag, k->ns[i - 1].member, k->ns[i].member);
			return -EINVAL;
		}
	}
	sort(k->ns, k->nr_ns, sizeof(*k->ns), cmp_ns_by_ns, NULL);
	for (i = 1; i < k->nr_ns; i++) {
		if (k->ns[i].ns == k->ns[i - 1].ns && k->ns[i].tag != k->ns[i - 1].tag) {
			check_fail(k,
				   "namespace tags %u and %u name one namespace (members %u and %u)",
				   k->ns[i - 1].tag, k->ns[i].tag, k->ns[i - 1].member,
				   k->ns[i].member);
			return -EINVAL;
		}
	}
	return 0;
}

static int cmp_member_pid(const void *a, const void *b)
{
	const struct ctx_member * const *x = a, * const *y = b;

	if ((*x)->pid == (*y)->pid)
		return 0;
	return (unsigned long)(*x)->pid < (unsigned long)(*y)->pid ? -1 : 1;
}

/* No task attached twice: pid tags map one to one to struct pids. */
static int check_distinct(struct ctx_check *k)
{
	struct ckpt_ctx *c = k->c;
	u32 i;

	for (i = 0; i < c->nr_members; i++)
		k->by_pid[i] = &c->members[i];
	sort(k->by_pid, c->nr_members, sizeof(*k->by_pid), cmp_member_pid, NULL);
	for (i = 1; i < c->nr_members; i++) {
		if (k->by_pid[i]->pid == k->by_pid[i - 1]->pid) {
			check_fail(k, "members %lu and %lu are one task",
				   k->by_pid[i - 1] - c->members, k->by_pid[i] - c->members);
			return -EINVAL;
		}
	}
	return 0;
}

/* A task below the launcher must be a member. RCU held. */
static int check_only_member(struct ckpt_ctx *c, struct task_struct *t, void *arg)
{
	struct ctx_check *k = arg;
	struct ctx_member key = { .pid = task_pid(t) }, *kp = &key;

	if (!key.pid || bsearch(&kp, k->by_pid, c->nr_members, sizeof(*k->by_pid),
				cmp_member_pid))
		return 0;
	check_fail(k, "task %d (%s) below the launcher is not a member",
		   pid_nr_ns(key.pid, ns_of_pid(c->launcher)), t->comm);
	return -EINVAL;
}

static int ctx_validate(struct ckpt_ctx *c, const struct sk_buff *skb,
			struct netlink_ext_ack *extack)
{
	struct ctx_check k = { .c = c };
	struct task_struct *root_task;
	struct ctx_member *root = NULL;
	unsigned int i;
	int ret = 0;

	if (c->pids_added != c->nr_pids || c->members_added != c->nr_members) {
		ckpt_set_msg(skb, extack,
			     "the context is not complete: %u of %u pids, %u of %u members",
			     c->pids_added, c->nr_pids, c->members_added, c->nr_members);
		return -EBUSY;
	}
	if (c->attached != c->nr_members) {
		for (i = 0; i < c->nr_members && c->members[i].pid; i++)
			;
		ckpt_set_msg(skb, extack, "member %u (%s, tag %u) never attached",
			     i, kind_name(&c->members[i]), c->members[i].tag);
		return -ESRCH;
	}
	/* The restart's root: the first task member, whose pid is tag 1. */
	for (i = 0; i < c->nr_members; i++) {
		if (c->members[i].kind == CKPT_PIDS_KIND_TASK && c->members[i].tag == 1) {
			root = &c->members[i];
			break;
		}
	}
	if (!root) {
		NL_SET_ERR_MSG(extack, "no member holds pid tag 1 (the root)");
		return -EINVAL;
	}
	k.root_ns = ns_of_pid(root->pid);
	k.owner = kvcalloc(c->nr_pids, sizeof(*k.owner), GFP_KERNEL_ACCOUNT);
	k.ns = kvmalloc_array(max(c->nr_levels / 2, 1U), sizeof(*k.ns), GFP_KERNEL_ACCOUNT);
	k.by_pid = kvmalloc_array(c->nr_members, sizeof(*k.by_pid), GFP_KERNEL_ACCOUNT);
	if (!k.owner || !k.ns || !k.by_pid) {
		ret = -ENOMEM;
		goto out;
	}
	ret = check_distinct(&k);
	for (i = 0; i < c->nr_members && !ret; i++)
		ret = check_pid(&k, i);
	if (!ret)
		ret = check_ns_bijection(&k);
	if (ret)
		goto out_msg;

	rcu_read_lock();
	root_task = pid_task(root->pid, PIDTYPE_PID);
	k.root_session = root_task ? task_session(root_task) : NULL;
	for (i = 0; i < c->nr_members && !ret; i++)
		ret = check_links(&k, i);
	rcu_read_unlock();
	if (!ret)
		ret = ctx_walk_below(c, check_only_member, &k);

out_msg:
	if (ret && k.msg[0])
		ckpt_set_msg(skb, extack, "%s", k.msg);
out:
	kvfree(k.owner);
	kvfree(k.ns);
	kvfree(k.by_pid);
	return ret;
}

int ckpt_pids_ctx_commit(struct sk_buff *skb, struct genl_info *info)
{
	struct ckpt_ctx *c;
	int ret;

	mutex_lock(&ckpt_ctx_lock);
	c = ctx_find(info, true);
	if (IS_ERR(c)) {
		mutex_unlock(&ckpt_ctx_lock);
		return PTR_ERR(c);
	}
	ctx_unlink(c);
	mutex_unlock(&ckpt_ctx_lock);

	mutex_lock(&c->lock);
	ret = ctx_validate(c, skb, info->extack);
	if (ret)
		ctx_kill(c);
	mutex_unlock(&c->lock);
	ctx_free(c);
	return ret;
}

int ckpt_pids_ctx_abort(struct sk_buff *skb, struct genl_info *info)
{
	struct ckpt_ctx *c;

	mutex_lock(&ckpt_ctx_lock);
	c = ctx_find(info, true);
	if (IS_ERR(c)) {
		mutex_unlock(&ckpt_ctx_lock);
		return PTR_ERR(c);
	}
	ctx_unlink(c);
	mutex_unlock(&ckpt_ctx_lock);
	mutex_lock(&c->lock);
	ctx_kill(c);
	mutex_unlock(&c->lock);
	ctx_free(c);
	return 0;
}

/*
 * The socket that owns a context went away before committing it. Called
 * for every generic-netlink socket released: with no context alive this
 * is one atomic read, else one hash lookup.
 */
void ckpt_ctx_release(struct net *net, u32 portid)
{
	struct ckpt_ctx *c;

	if (!atomic_read(&ckpt_nr_ctxs))
		return;
	mutex_lock(&ckpt_ctx_lock);
	c = ctx_of_port(net, portid);
	if (c)
		ctx_unlink(c);
	mutex_unlock(&ckpt_ctx_lock);
	if (!c)
		return;
	mutex_lock(&c->lock);
	ctx_kill(c);
	mutex_unlock(&c->lock);
	ctx_free(c);
}
