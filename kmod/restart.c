// SPDX-License-Identifier: GPL-2.0
/*
 * Restart contexts (see uapi/ckpt_pids.h): the identity a restart must
 * produce, the member tasks that attach to it, and the in-kernel check of
 * the restored tree at commit.
 *
 * A context is owned by the generic-netlink socket that created it. It
 * holds a module reference, so the module cannot go while one lives. All
 * state is under ctx->lock; the list of contexts under ckpt_ctx_lock.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/idr.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pid_namespace.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>

#include "ckpt_pids.h"

struct ctx_pid {
	u32 depth;			/* 0 until added */
	s32 numbers[CKPT_PIDS_MAX_DEPTH];
	u32 ns[CKPT_PIDS_MAX_DEPTH];	/* namespace tags */
};

struct ctx_member {
	u32 tag, tgid, pgid, sid;	/* 0: not checked */
	u32 kind;
	u32 parent;			/* member index, or CKPT_PIDS_NO_MEMBER */
	struct task_struct *task;	/* once attached */
};

struct ckpt_ctx {
	u32 id;
	struct net *net;
	u32 portid;
	u32 mode;
	struct pid *launcher;
	struct mutex lock;		/* protects the fields below */
	u32 nr_pids, nr_members, pids_added, members_added, attached;
	struct ctx_pid *pids;		/* by tag - 1 */
	struct ctx_member *members;
};

static DEFINE_MUTEX(ckpt_ctx_lock);
static DEFINE_IDR(ckpt_ctxs);

#define CTX_MAX_PIDS	BIT(22)

const struct nla_policy ckpt_pids_ctx_pid_policy[CKPT_PIDS_PID_A_MAX + 1] = {
	[CKPT_PIDS_PID_A_TAG] = NLA_POLICY_MIN(NLA_U32, 1),
	[CKPT_PIDS_PID_A_NUMBERS] = { .type = NLA_BINARY, .len = 4 * CKPT_PIDS_MAX_DEPTH },
	[CKPT_PIDS_PID_A_NS] = { .type = NLA_BINARY, .len = 4 * CKPT_PIDS_MAX_DEPTH },
};

const struct nla_policy ckpt_pids_ctx_task_policy[CKPT_PIDS_TASK_A_MAX + 1] = {
	[CKPT_PIDS_TASK_A_PID] = { .type = NLA_U32 },
	[CKPT_PIDS_TASK_A_TGID] = { .type = NLA_U32 },
	[CKPT_PIDS_TASK_A_PGID] = { .type = NLA_U32 },
	[CKPT_PIDS_TASK_A_SID] = { .type = NLA_U32 },
	[CKPT_PIDS_TASK_A_KIND] = NLA_POLICY_RANGE(NLA_U32, CKPT_PIDS_KIND_TASK,
						   CKPT_PIDS_KIND_INIT),
	[CKPT_PIDS_TASK_A_PARENT] = { .type = NLA_U32 },
};

const struct nla_policy ckpt_pids_ctx_policy[CKPT_PIDS_A_MAX + 1] = {
	[CKPT_PIDS_A_MODE] = NLA_POLICY_RANGE(NLA_U32, CKPT_PIDS_MODE_CONTAINER,
					      CKPT_PIDS_MODE_SUBTREE),
	[CKPT_PIDS_A_LAUNCHER] = NLA_POLICY_MIN(NLA_U32, 1),
	[CKPT_PIDS_A_NR_PIDS] = { .type = NLA_U32 },
	[CKPT_PIDS_A_NR_TASKS] = NLA_POLICY_MIN(NLA_U32, 1),
	[CKPT_PIDS_A_CTX] = NLA_POLICY_MIN(NLA_U32, 1),
	[CKPT_PIDS_A_MEMBER] = { .type = NLA_U32 },
	[CKPT_PIDS_A_PID] = NLA_POLICY_NESTED(ckpt_pids_ctx_pid_policy),
	[CKPT_PIDS_A_TASK] = NLA_POLICY_NESTED(ckpt_pids_ctx_task_policy),
};

/* Kill every member and every descendant of the launcher. */
static void ctx_kill(struct ckpt_ctx *c)
{
	struct task_struct *launcher, *t, *child;
	unsigned int i;
	int round;

	for (i = 0; i < c->nr_members; i++)
		if (c->members[i].task)
			send_sig(SIGKILL, c->members[i].task, 1);
	launcher = get_pid_task(c->launcher, PIDTYPE_PID);
	if (!launcher)
		return;
	/*
	 * The launcher's children are the roots of the restart (a new pid
	 * namespace's init takes its namespace with it); tasks in place are
	 * found below them, a few levels per round, until none is left.
	 */
	for (round = 0; round < 64; round++) {
		bool more = false;

		read_lock(ckpt_tasklist_lock);
		for_each_thread(launcher, t) {
			list_for_each_entry(child, &t->children, sibling) {
				if (!fatal_signal_pending(child) && !(child->flags & PF_EXITING)) {
					send_sig(SIGKILL, child, 1);
					more = true;
				}
			}
		}
		read_unlock(ckpt_tasklist_lock);
		if (!more)
			break;
	}
	put_task_struct(launcher);
}

static void ctx_free(struct ckpt_ctx *c)
{
	unsigned int i;

	for (i = 0; i < c->nr_members; i++)
		if (c->members[i].task)
			put_task_struct(c->members[i].task);
	put_pid(c->launcher);
	kvfree(c->pids);
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

/* Is pid's task a child of the calling process? */
static bool launched_by_caller(struct pid *pid)
{
	struct task_struct *t;
	bool ok = false;

	rcu_read_lock();
	t = pid_task(pid, PIDTYPE_PID);
	if (t)
		ok = same_thread_group(rcu_dereference(t->real_parent), current);
	rcu_read_unlock();
	return ok;
}

int ckpt_pids_ctx_create(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **a = info->attrs;
	struct ckpt_ctx *c;
	struct sk_buff *msg;
	void *hdr;
	int id, ret;

	if (!a[CKPT_PIDS_A_MODE] || !a[CKPT_PIDS_A_LAUNCHER] || !a[CKPT_PIDS_A_NR_PIDS] ||
	    !a[CKPT_PIDS_A_NR_TASKS]) {
		NL_SET_ERR_MSG(info->extack, "needs mode, launcher, nr_pids and nr_tasks");
		return -EINVAL;
	}
	if (!ckpt_pids_capable(skb, task_active_pid_ns(current))) {
		NL_SET_ERR_MSG(info->extack,
			       "needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN over the caller's pid namespace");
		return -EPERM;
	}
	if (nla_get_u32(a[CKPT_PIDS_A_NR_PIDS]) > CTX_MAX_PIDS ||
	    nla_get_u32(a[CKPT_PIDS_A_NR_TASKS]) > CTX_MAX_PIDS) {
		NL_SET_ERR_MSG(info->extack, "too many pids or tasks");
		return -E2BIG;
	}
	if (!try_module_get(THIS_MODULE))
		return -ENODEV;
	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c) {
		module_put(THIS_MODULE);
		return -ENOMEM;
	}
	mutex_init(&c->lock);
	c->net = genl_info_net(info);
	c->portid = info->snd_portid;
	c->mode = nla_get_u32(a[CKPT_PIDS_A_MODE]);
	c->nr_pids = nla_get_u32(a[CKPT_PIDS_A_NR_PIDS]);
	c->nr_members = nla_get_u32(a[CKPT_PIDS_A_NR_TASKS]);
	c->launcher = find_get_pid(nla_get_u32(a[CKPT_PIDS_A_LAUNCHER]));
	c->pids = kvcalloc(max(c->nr_pids, 1U), sizeof(*c->pids), GFP_KERNEL);
	c->members = kvcalloc(c->nr_members, sizeof(*c->members), GFP_KERNEL);
	if (!c->launcher) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[CKPT_PIDS_A_LAUNCHER],
				    "no such launcher process");
		ret = -ESRCH;
		goto err_free;
	}
	if (!launched_by_caller(c->launcher)) {
		/* An abort kills the launcher's descendants: only the caller's own. */
		NL_SET_ERR_MSG_ATTR(info->extack, a[CKPT_PIDS_A_LAUNCHER],
				    "the launcher must be a child of the caller");
		ret = -EPERM;
		goto err_free;
	}
	if (!c->pids || !c->members) {
		ret = -ENOMEM;
		goto err_free;
	}

	mutex_lock(&ckpt_ctx_lock);
	id = idr_alloc(&ckpt_ctxs, c, 1, INT_MAX, GFP_KERNEL);
	mutex_unlock(&ckpt_ctx_lock);
	if (id < 0) {
		ret = id;
		goto err_free;
	}
	c->id = id;

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg) {
		ret = -ENOMEM;
		goto err_remove;
	}
	hdr = genlmsg_put_reply(msg, info, &ckpt_pids_family, 0, CKPT_PIDS_CMD_CTX_CREATE);
	if (!hdr || nla_put_u32(msg, CKPT_PIDS_A_CTX, c->id)) {
		nlmsg_free(msg);
		ret = -EMSGSIZE;
		goto err_remove;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

err_remove:
	mutex_lock(&ckpt_ctx_lock);
	idr_remove(&ckpt_ctxs, c->id);
	mutex_unlock(&ckpt_ctx_lock);
err_free:
	ctx_free(c);
	return ret;
}

static int ctx_add_pid(struct ckpt_ctx *c, struct nlattr *nest, struct netlink_ext_ack *extack)
{
	struct nlattr *tb[CKPT_PIDS_PID_A_MAX + 1];
	struct ctx_pid *p;
	u32 tag, n;
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
		NL_SET_ERR_MSG_ATTR(extack, tb[CKPT_PIDS_PID_A_TAG],
				    "pid tags must come in order, within nr_pids");
		return -EINVAL;
	}
	if (!n || n * 4 != nla_len(tb[CKPT_PIDS_PID_A_NUMBERS]) ||
	    nla_len(tb[CKPT_PIDS_PID_A_NS]) != nla_len(tb[CKPT_PIDS_PID_A_NUMBERS])) {
		NL_SET_ERR_MSG_ATTR(extack, nest,
				    "numbers and namespaces must be u32 arrays of one length");
		return -EINVAL;
	}
	p = &c->pids[tag - 1];
	p->depth = n - 1;
	nla_memcpy(p->numbers, tb[CKPT_PIDS_PID_A_NUMBERS], n * 4);
	nla_memcpy(p->ns, tb[CKPT_PIDS_PID_A_NS], n * 4);
	c->pids_added++;
	return 0;
}

static int ctx_add_member(struct ckpt_ctx *c, struct nlattr *nest, struct netlink_ext_ack *extack)
{
	struct nlattr *tb[CKPT_PIDS_TASK_A_MAX + 1];
	struct ctx_member *m;
	int ret;

	ret = nla_parse_nested(tb, CKPT_PIDS_TASK_A_MAX, nest, ckpt_pids_ctx_task_policy, extack);
	if (ret)
		return ret;
	if (c->members_added == c->nr_members) {
		NL_SET_ERR_MSG_ATTR(extack, nest, "more members than nr_tasks");
		return -E2BIG;
	}
	if (!tb[CKPT_PIDS_TASK_A_KIND] || !tb[CKPT_PIDS_TASK_A_PARENT]) {
		NL_SET_ERR_MSG_ATTR(extack, nest, "a member needs a kind and a parent");
		return -EINVAL;
	}
	m = &c->members[c->members_added];
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
	if ((m->tag && m->tag > c->nr_pids) ||
	    (m->parent != CKPT_PIDS_NO_MEMBER && m->parent >= c->nr_members)) {
		NL_SET_ERR_MSG_ATTR(extack, nest,
				    "member refers to a pid or parent that does not exist");
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
			ret = ctx_add_pid(c, nla, info->extack);
		else if (nla_type(nla) == CKPT_PIDS_A_TASK)
			ret = ctx_add_member(c, nla, info->extack);
		if (ret)
			break;
	}
out:
	mutex_unlock(&c->lock);
	return ret;
}

/* Is current a descendant of task? */
static bool descends_from(struct task_struct *task)
{
	struct task_struct *t;
	bool ok = false;

	rcu_read_lock();
	for (t = current; t->pid > 0; t = rcu_dereference(t->real_parent)) {
		if (same_thread_group(t, task)) {
			ok = true;
			break;
		}
		if (t == rcu_dereference(t->real_parent))
			break;
	}
	rcu_read_unlock();
	return ok;
}

int ckpt_pids_ctx_attach(struct sk_buff *skb, struct genl_info *info)
{
	struct task_struct *launcher;
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

	launcher = get_pid_task(c->launcher, PIDTYPE_PID);
	if (!launcher || !descends_from(launcher)) {
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
	} else if (c->members[i].task) {
		ckpt_set_msg(skb, info->extack,
			     "member %u of restart context %u is already attached", i, c->id);
		ret = -EEXIST;
	} else {
		get_task_struct(current);
		c->members[i].task = current;
		c->attached++;
	}
	if (launcher)
		put_task_struct(launcher);
	mutex_unlock(&c->lock);
	return ret;
}

/* The state commit checks against. */
struct ctx_check {
	struct ckpt_ctx *c;
	struct pid_namespace *root_ns;
	struct pid **owner;			/* pid tag - 1 -> struct pid */
	struct pid_namespace **ns;		/* namespace tag - 1 -> namespace */
	u32 nr_ns;
};

static const char * const kind_names[] = {
	[CKPT_PIDS_KIND_TASK] = "task",
	[CKPT_PIDS_KIND_GHOST] = "ghost",
	[CKPT_PIDS_KIND_PLACEHOLDER] = "placeholder",
	[CKPT_PIDS_KIND_INIT] = "init",
};

/* Check member i's own pid numbers and namespaces; record its pid. */
static int check_pid(struct ctx_check *k, u32 i, const struct sk_buff *skb,
		     struct netlink_ext_ack *extack)
{
	struct ctx_member *m = &k->c->members[i];
	struct pid *pid = task_pid(m->task);
	unsigned int base = k->root_ns->level, l;
	struct ctx_pid *e;

	if (!m->tag)
		return 0;
	e = &k->c->pids[m->tag - 1];
	if (pid->level < base || pid->level - base != e->depth) {
		ckpt_set_msg(skb, extack,
			     "member %u (%s, tag %u): %u pid levels below the root's namespace, want %u",
			     i, kind_names[m->kind], m->tag, pid->level - base, e->depth);
		return -EINVAL;
	}
	for (l = 0; l <= e->depth; l++) {
		struct upid *u = &pid->numbers[base + l];
		u32 t = e->ns[l];

		if (u->nr != e->numbers[l]) {
			ckpt_set_msg(skb, extack,
				     "member %u (%s, tag %u): pid %d at level %u, want %d",
				     i, kind_names[m->kind], m->tag, u->nr, l, e->numbers[l]);
			return -EINVAL;
		}
		if (!t || t > k->nr_ns) {
			ckpt_set_msg(skb, extack, "tag %u: bad namespace tag %u", m->tag, t);
			return -EINVAL;
		}
		if (!k->ns[t - 1])
			k->ns[t - 1] = u->ns;
		if (k->ns[t - 1] != u->ns) {
			ckpt_set_msg(skb, extack,
				     "member %u (%s, tag %u): level %u is not namespace tag %u's",
				     i, kind_names[m->kind], m->tag, l, t);
			return -EINVAL;
		}
	}
	if (k->owner[m->tag - 1] && k->owner[m->tag - 1] != pid) {
		ckpt_set_msg(skb, extack, "tag %u is held by two pids", m->tag);
		return -EINVAL;
	}
	k->owner[m->tag - 1] = pid;
	return 0;
}

/* Check that member i's reference of kind what is the pid of tag. */
static int check_ref(struct ctx_check *k, u32 i, const char *what, struct pid *got, u32 tag,
		     const struct sk_buff *skb, struct netlink_ext_ack *extack)
{
	struct ctx_member *m = &k->c->members[i];
	struct pid *root_session;

	if (tag == CKPT_PIDS_TAG_OUTSIDE) {
		if (pid_nr_ns(got, k->root_ns) == 0)
			return 0;
	} else if (tag == CKPT_PIDS_TAG_ROOT_SESSION) {
		root_session = task_session(k->c->members[0].task);
		if (got == root_session)
			return 0;
	} else if (tag <= k->c->nr_pids && got == k->owner[tag - 1]) {
		return 0;
	}
	ckpt_set_msg(skb, extack, "member %u (%s, tag %u): its %s is pid %d, not tag %u's",
		     i, kind_names[m->kind], m->tag, what, pid_nr_ns(got, k->root_ns), tag);
	return -EINVAL;
}

static int ctx_validate(struct ckpt_ctx *c, const struct sk_buff *skb,
			struct netlink_ext_ack *extack)
{
	struct ctx_check k = { .c = c };
	struct task_struct *root = NULL;
	unsigned int i;
	int ret = 0;

	if (c->attached != c->nr_members) {
		for (i = 0; i < c->nr_members && c->members[i].task; i++)
			;
		ckpt_set_msg(skb, extack, "member %u (%s, tag %u) never attached",
			     i, kind_names[c->members[i].kind], c->members[i].tag);
		return -ESRCH;
	}
	/* The restart's root: the first task member, whose pid is tag 1. */
	for (i = 0; i < c->nr_members; i++) {
		if (c->members[i].kind == CKPT_PIDS_KIND_TASK && c->members[i].tag == 1) {
			root = c->members[i].task;
			break;
		}
	}
	if (!root) {
		NL_SET_ERR_MSG(extack, "no member holds pid tag 1 (the root)");
		return -EINVAL;
	}
	k.root_ns = task_active_pid_ns(root);
	k.nr_ns = 0;
	for (i = 0; i < c->nr_pids; i++) {
		unsigned int l;

		for (l = 0; l <= c->pids[i].depth; l++)
			k.nr_ns = max(k.nr_ns, c->pids[i].ns[l]);
	}
	k.owner = kvcalloc(max(c->nr_pids, 1U), sizeof(*k.owner), GFP_KERNEL);
	k.ns = kvcalloc(max(k.nr_ns, 1U), sizeof(*k.ns), GFP_KERNEL);
	if (!k.owner || !k.ns) {
		ret = -ENOMEM;
		goto out;
	}

	rcu_read_lock();
	for (i = 0; i < c->nr_members && !ret; i++)
		ret = check_pid(&k, i, skb, extack);
	for (i = 0; i < c->nr_members && !ret; i++) {
		struct ctx_member *m = &c->members[i];
		struct task_struct *t = m->task;

		struct pid *parent = task_tgid(rcu_dereference(t->real_parent));

		if (pid_alive(t) && m->parent != CKPT_PIDS_NO_MEMBER &&
		    parent != task_tgid(c->members[m->parent].task)) {
			ckpt_set_msg(skb, extack,
				     "member %u (%s, tag %u): its parent is not member %u",
				     i, kind_names[m->kind], m->tag, m->parent);
			ret = -EINVAL;
			break;
		}
		if (m->tgid)
			ret = check_ref(&k, i, "tgid", task_tgid(t), m->tgid, skb, extack);
		if (!ret && (m->pgid || m->kind == CKPT_PIDS_KIND_TASK))
			ret = check_ref(&k, i, "process group", task_pgrp(t), m->pgid, skb, extack);
		if (!ret && (m->sid || m->kind == CKPT_PIDS_KIND_TASK))
			ret = check_ref(&k, i, "session", task_session(t), m->sid, skb, extack);
	}
	rcu_read_unlock();
out:
	kvfree(k.owner);
	kvfree(k.ns);
	return ret;
}

/* Remove c from the list; the caller frees it. ckpt_ctx_lock held. */
static void ctx_unlink(struct ckpt_ctx *c)
{
	idr_remove(&ckpt_ctxs, c->id);
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

/* The socket that owns contexts went away before committing them. */
void ckpt_ctx_release(struct net *net, u32 portid)
{
	struct ckpt_ctx *c, *dead[16];
	int id, n, found;

	do {
		n = 0;
		mutex_lock(&ckpt_ctx_lock);
		idr_for_each_entry(&ckpt_ctxs, c, id) {
			if (c->portid == portid && net_eq(c->net, net)) {
				ctx_unlink(c);
				dead[n++] = c;
				if (n == ARRAY_SIZE(dead))
					break;
			}
		}
		mutex_unlock(&ckpt_ctx_lock);
		found = n;
		while (n--) {
			mutex_lock(&dead[n]->lock);
			ctx_kill(dead[n]);
			mutex_unlock(&dead[n]->lock);
			ctx_free(dead[n]);
		}
	} while (found == ARRAY_SIZE(dead));
}
