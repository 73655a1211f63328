/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * ckpt_pids: checkpoint and restart of pid objects, over generic netlink.
 *
 * This header is the contract between the ckpt_pids module and its users.
 * The Go control plane generates its constants from it (go/uapi); nothing
 * else defines a command or attribute number.
 *
 * The family is CKPT_PIDS_GENL_NAME, version CKPT_PIDS_GENL_VERSION. Values
 * start at 1. Every operation has its own policy: an attribute an operation
 * does not list is rejected with an extended-ack message naming it.
 *
 * CKPT_PIDS_CMD_GET_FEATURES
 *	Request: no attributes. No privilege is needed.
 *	Reply:	CKPT_PIDS_A_VERSION		u32, CKPT_PIDS_GENL_VERSION
 *		CKPT_PIDS_A_MODULE_VERSION	string, the module's version
 *		CKPT_PIDS_A_FEATURES		u64, CKPT_PIDS_F_* bits
 *		CKPT_PIDS_A_MAX_DEPTH		u32, CKPT_PIDS_MAX_DEPTH
 *		CKPT_PIDS_A_KERNEL_RELEASE	string, utsname()->release
 *	A client checks CKPT_PIDS_A_FEATURES before using an operation; a
 *	module that lacks a feature answers its command with -EOPNOTSUPP.
 *
 * CKPT_PIDS_CMD_SNAPSHOT (dump; CKPT_PIDS_F_SNAPSHOT)
 *	Snapshots the tree under a root task: the root and its descendants by
 *	parentage, every thread included. Before the first message the tree
 *	is read twice, lock-free, and kept only when both reads agree (a
 *	change undone between them is not seen); after 8 differing pairs the
 *	dump fails with -EBUSY. The dump then streams that copy. Errors, with
 *	their extended-ack message, come back in the dump's NLMSG_DONE.
 *	Request: CKPT_PIDS_A_ROOT_PID	u32, the root's pid in the caller's
 *					pid namespace; a process, not a thread
 *		 CKPT_PIDS_A_MODE	u32, CKPT_PIDS_MODE_*
 *	Needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN in the user namespace
 *	that owns the root's pid namespace, and read access to every task of
 *	the tree (PTRACE_MODE_READ_REALCREDS's uid, gid, capability and
 *	dumpable rules; LSM ptrace policies are not consulted). In container
 *	mode the root must be pid 1 of its namespace and every pid a task
 *	refers to must be in it, else -EBUSY names the task.
 *	Reply: the first message carries CKPT_PIDS_A_NR_PIDS,
 *	CKPT_PIDS_A_NR_VPIDS and CKPT_PIDS_A_NR_TASKS (u32 each); then come
 *	CKPT_PIDS_A_PID nests, one per pid object in tag order, and
 *	CKPT_PIDS_A_TASK nests, one per task, parent before child:
 *	  CKPT_PIDS_A_PID: CKPT_PIDS_PID_A_TAG		u32, 1, 2, 3...
 *			   CKPT_PIDS_PID_A_NUMBERS	binary, depth+1 u32: the
 *				pid's number at each level from the root's
 *				namespace down to its own
 *			   CKPT_PIDS_PID_A_NS		binary, depth+1 u32: the
 *				inode of the namespace at each level
 *	  CKPT_PIDS_A_TASK: CKPT_PIDS_TASK_A_PID, _TGID, _PGID, _SID, _PPID
 *				u32 tags; 0 (CKPT_PIDS_TAG_OUTSIDE) for a pid
 *				outside the root's namespace or the root's
 *				parent, CKPT_PIDS_TAG_ROOT_SESSION for the
 *				session a subtree root inherited
 *			    CKPT_PIDS_TASK_A_STATE	u32, CKPT_PIDS_STATE_*
 *			    CKPT_PIDS_TASK_A_EXIT_CODE	u32, wait status (zombies)
 *			    CKPT_PIDS_TASK_A_NR		u32, the task's pid in the
 *				caller's namespace
 *			    CKPT_PIDS_TASK_A_COMM	string
 *
 * Restart contexts (CKPT_PIDS_F_RESTART). A context holds the identity a
 * restart must produce: the expected pid objects and one member per task
 * the restart creates (restored tasks, ghosts, placeholders, an init the
 * restarter provides). Each member task attaches itself; commit validates
 * the whole tree in the kernel. A context belongs to the socket that
 * created it (one per socket): closing that socket before commit, an
 * abort, or a failed commit kills every member and every descendant of
 * the launcher that the creator could kill(2) itself. After a successful
 * commit the context is gone and the tree is the user's.
 *
 * CKPT_PIDS_CMD_CTX_CREATE
 *	Request: CKPT_PIDS_A_MODE, CKPT_PIDS_A_LAUNCHER (u32, the pid, in the
 *		 caller's namespace, of the process whose descendants are the
 *		 restart: a child of the caller it may signal),
 *		 CKPT_PIDS_A_NR_PIDS, CKPT_PIDS_A_NR_TASKS (members; each at
 *		 most the max_members module parameter, else -E2BIG).
 *	Needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN in the user namespace
 *	owning the launcher's pid namespace. -EBUSY if the socket already
 *	owns a context. Reply: CKPT_PIDS_A_CTX (u32, the context id).
 * CKPT_PIDS_CMD_CTX_ADD
 *	Request: CKPT_PIDS_A_CTX, then CKPT_PIDS_A_PID nests (tag, numbers,
 *	and in CKPT_PIDS_PID_A_NS the namespace *tags* of each level) and
 *	CKPT_PIDS_A_TASK nests for members, in order: CKPT_PIDS_TASK_A_PID,
 *	_TGID, _PGID, _SID tags (0 when not checked), CKPT_PIDS_TASK_A_KIND
 *	(CKPT_PIDS_KIND_*) and CKPT_PIDS_TASK_A_PARENT (u32, the member index
 *	of the task's parent at commit, or CKPT_PIDS_NO_MEMBER). Several
 *	messages may add to one context until it has them all. Pid numbers
 *	must be 1..PID_MAX_LIMIT and namespace tags 1..nr_pids * 32, else
 *	-ERANGE naming the tag and the level.
 * CKPT_PIDS_CMD_CTX_ATTACH
 *	Request: CKPT_PIDS_A_CTX, CKPT_PIDS_A_MEMBER (u32). Sent by the member
 *	task itself, which must be the context's launcher or descend from it.
 * CKPT_PIDS_CMD_CTX_COMMIT
 *	Request: CKPT_PIDS_A_CTX. With every member attached, checks every
 *	member's pid numbers at every level from the restart root's pid
 *	namespace down, that pid tags and namespace tags map one to one to
 *	struct pids and namespaces, that tasks sharing a tag share one struct
 *	pid (thread group, process group, session), and each member's
 *	parent, and that every task below the launcher is a member. The tree
 *	is read under RCU, not atomically. A member that exited fails the
 *	commit with -ESRCH. Errors name the member and the tag.
 * CKPT_PIDS_CMD_CTX_ABORT
 *	Request: CKPT_PIDS_A_CTX. Kills the restart.
 */
#ifndef _UAPI_LINUX_CKPT_PIDS_H
#define _UAPI_LINUX_CKPT_PIDS_H

#define CKPT_PIDS_GENL_NAME	"ckpt_pids"
#define CKPT_PIDS_GENL_VERSION	1

/* The deepest pid-namespace nesting an image describes (levels 0..31). */
#define CKPT_PIDS_MAX_DEPTH	32

/* Reserved pid-object tags. */
#define CKPT_PIDS_TAG_OUTSIDE		0
#define CKPT_PIDS_TAG_ROOT_SESSION	0xffffffff

/* Bits of CKPT_PIDS_A_FEATURES. */
enum ckpt_pids_feature {
	CKPT_PIDS_F_SNAPSHOT = 1 << 0,
	CKPT_PIDS_F_RESTART = 1 << 1,
};

/* CKPT_PIDS_TASK_A_KIND: why a restart context member exists. */
enum ckpt_pids_kind {
	CKPT_PIDS_KIND_TASK = 1,	/* a task of the image */
	CKPT_PIDS_KIND_GHOST,		/* holds a dead leader's pid */
	CKPT_PIDS_KIND_PLACEHOLDER,	/* gives an orphan its parent */
	CKPT_PIDS_KIND_INIT,		/* an init the restarter provides */
};

#define CKPT_PIDS_NO_MEMBER	0xffffffff

enum ckpt_pids_mode {
	CKPT_PIDS_MODE_CONTAINER = 1,
	CKPT_PIDS_MODE_SUBTREE,
};

enum ckpt_pids_state {
	CKPT_PIDS_STATE_ALIVE = 1,
	CKPT_PIDS_STATE_STOPPED,
	CKPT_PIDS_STATE_ZOMBIE,
	CKPT_PIDS_STATE_TRACED,		/* in a tracing stop (ptrace) */
};

enum ckpt_pids_cmd {
	CKPT_PIDS_CMD_UNSPEC,
	CKPT_PIDS_CMD_GET_FEATURES,
	CKPT_PIDS_CMD_SNAPSHOT,
	CKPT_PIDS_CMD_CTX_CREATE,
	CKPT_PIDS_CMD_CTX_ADD,
	CKPT_PIDS_CMD_CTX_ATTACH,
	CKPT_PIDS_CMD_CTX_COMMIT,
	CKPT_PIDS_CMD_CTX_ABORT,
	__CKPT_PIDS_CMD_MAX
};

#define CKPT_PIDS_CMD_MAX (__CKPT_PIDS_CMD_MAX - 1)

enum ckpt_pids_attr {
	CKPT_PIDS_A_UNSPEC,
	CKPT_PIDS_A_VERSION,
	CKPT_PIDS_A_MODULE_VERSION,
	CKPT_PIDS_A_FEATURES,
	CKPT_PIDS_A_MAX_DEPTH,
	CKPT_PIDS_A_KERNEL_RELEASE,
	CKPT_PIDS_A_PAD,
	CKPT_PIDS_A_ROOT_PID,
	CKPT_PIDS_A_MODE,
	CKPT_PIDS_A_NR_PIDS,
	CKPT_PIDS_A_NR_VPIDS,
	CKPT_PIDS_A_NR_TASKS,
	CKPT_PIDS_A_PID,
	CKPT_PIDS_A_TASK,
	CKPT_PIDS_A_CTX,
	CKPT_PIDS_A_LAUNCHER,
	CKPT_PIDS_A_MEMBER,
	__CKPT_PIDS_A_MAX
};

#define CKPT_PIDS_A_MAX (__CKPT_PIDS_A_MAX - 1)

enum ckpt_pids_pid_attr {
	CKPT_PIDS_PID_A_UNSPEC,
	CKPT_PIDS_PID_A_TAG,
	CKPT_PIDS_PID_A_NUMBERS,
	CKPT_PIDS_PID_A_NS,
	__CKPT_PIDS_PID_A_MAX
};

#define CKPT_PIDS_PID_A_MAX (__CKPT_PIDS_PID_A_MAX - 1)

enum ckpt_pids_task_attr {
	CKPT_PIDS_TASK_A_UNSPEC,
	CKPT_PIDS_TASK_A_PID,
	CKPT_PIDS_TASK_A_TGID,
	CKPT_PIDS_TASK_A_PGID,
	CKPT_PIDS_TASK_A_SID,
	CKPT_PIDS_TASK_A_PPID,
	CKPT_PIDS_TASK_A_STATE,
	CKPT_PIDS_TASK_A_EXIT_CODE,
	CKPT_PIDS_TASK_A_NR,
	CKPT_PIDS_TASK_A_COMM,
	CKPT_PIDS_TASK_A_KIND,
	CKPT_PIDS_TASK_A_PARENT,
	__CKPT_PIDS_TASK_A_MAX
};

#define CKPT_PIDS_TASK_A_MAX (__CKPT_PIDS_TASK_A_MAX - 1)

#endif /* _UAPI_LINUX_CKPT_PIDS_H */
