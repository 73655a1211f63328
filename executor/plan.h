/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The plan the executor follows, as laid out in the shared memory region
 * (a memfd mapped MAP_SHARED by the coordinator and inherited by every task
 * the executor creates). This header is the whole contract between the C
 * executor and the Go side (go/executor), which generates its constants
 * from it and checks its struct sizes against CR_*_SIZE.
 *
 * Layout: struct cr_header at offset 0, then nr_tasks struct cr_task, then
 * nr_actions struct cr_action, then nr_barriers __u32 arrival counters
 * (arrived[k] for barrier k; arrived[0] is unused). Task i runs actions
 * [first_action, first_action + nr_actions). Task 0 is the launcher: the
 * executor process the coordinator started.
 *
 * Synchronisation is by futexes on words of the region:
 *  - a creator waits on the child's state until it is >= CR_STATE_PARKED;
 *  - a task reaching CR_OP_BARRIER k increments arrived[k], wakes it, and
 *    waits until phase >= k; the coordinator opens phase k once
 *    arrived[k] == expected[k];
 *  - a failed task sets its err and state, increments failed and wakes it;
 *  - a task that settles (runs out of actions, exits, stops) moves its
 *    state to a final one and increments done; a task whose group exits
 *    under it is settled by the exiting task (CR_STATE_KILLED), so done
 *    reaches nr_tasks exactly once the plan has run;
 *  - every task registers its cr_task.alive word as a held robust futex
 *    (set_robust_list, holding its own tid): however the task ends, even
 *    by SIGKILL, the kernel sets FUTEX_OWNER_DIED in it at exit
 *    (kernel/futex/core.c exit_robust_list), so the coordinator tells a
 *    task that died unexpectedly (OWNER_DIED with a state below
 *    CR_STATE_EXITED) from one that parks or exits as planned.
 */
#ifndef CKPT_NL_EXECUTOR_PLAN_H
#define CKPT_NL_EXECUTOR_PLAN_H

#define CR_MAGIC	0x31505243	/* "CRP1" */
#define CR_VERSION	2
#define CR_MAX_LEVELS	32

#define CR_HEADER_SIZE	128
#define CR_TASK_SIZE	256
#define CR_ACTION_SIZE	16

/* cr_task.state */
enum cr_state {
	CR_STATE_NEW,
	CR_STATE_RUNNING,
	CR_STATE_PARKED,	/* reached its first barrier */
	CR_STATE_EXITED,	/* about to exit, or exited */
	CR_STATE_FAILED,
	CR_STATE_DONE,		/* ran all its actions; sleeps */
	CR_STATE_KILLED,	/* its thread group exited under it */
};

/* cr_task.flags */
enum cr_flags {
	CR_FLAG_THREAD	= 1 << 0,	/* CLONE_THREAD and friends */
	CR_FLAG_PARENT	= 1 << 1,	/* CLONE_PARENT */
	CR_FLAG_NEWPID	= 1 << 2,	/* CLONE_NEWPID */
};

/* cr_action.op */
enum cr_op {
	CR_OP_NONE,
	CR_OP_CLONE,		/* a: child task; waits until it parks or exits */
	CR_OP_SETSID,
	CR_OP_SETPGID,		/* setpgid(b, a): b == 0 itself, a == 0 own group */
	CR_OP_SUBREAPER,	/* prctl(PR_SET_CHILD_SUBREAPER, 1) */
	CR_OP_BARRIER,		/* a: barrier number, 1..nr_barriers-1 */
	CR_OP_EXIT,		/* a: wait status: exit(a >> 8), or die by signal a & 0x7f */
	CR_OP_EXIT_THREAD,	/* end this thread only (a dead group leader) */
	CR_OP_STOP,		/* stop by SIGSTOP */
	CR_OP_REAP,		/* a: child task, b: its pid here (0: the pid its
				 * creator saw); wait for it to exit, reap it */
	CR_OP_REAP_ALL,		/* reap any child, forever (an init) */
	CR_OP_ATTACH,		/* attach to restart context hdr->context as member idx - 1 */
	CR_OP_PDEATHSIG,	/* prctl(PR_SET_PDEATHSIG, a) */
	CR_OP_SETNS,		/* children go to the pid namespace of pid a */
	CR_OP_LAST_PID,		/* write a to /proc/sys/kernel/ns_last_pid */
	CR_OP_WAIT_EXIT,	/* a: child task, b: its pid here; wait until it
				 * is a zombie, without reaping it */
	CR_OP_WAIT_GONE,	/* a: task, b: its pid here; wait until no task
				 * has pid b (a thread of the group released) */
};

#ifndef __GO_CGEN__
#include <linux/types.h>

struct cr_header {
	__u32 magic;
	__u32 version;
	__u32 nr_tasks;
	__u32 nr_actions;
	__u32 phase;				/* futex: the open barrier */
	__u32 failed;				/* futex: count of failed tasks */
	__u32 done;				/* futex: count of tasks in DONE */
	__u16 genl_family;			/* for CR_OP_ATTACH */
	__u16 reserved;
	__u32 context;				/* for CR_OP_ATTACH: the restart context */
	__u32 nr_barriers;			/* arrival counters after the actions */
	__u64 stack_base;			/* the executor's: where processes start */
	__u32 pad[20];
};

struct cr_task {
	__u32 state;		/* futex, enum cr_state */
	__u32 first_action;
	__u32 nr_actions;
	__u32 flags;		/* enum cr_flags */
	__s32 expect;		/* pid clone3 must return in the creator; 0: any */
	__s32 pid;		/* what clone3 returned in the creator */
	__s32 err;		/* errno of the failed action */
	__u32 failed_action;	/* absolute index of the failed action */
	__u32 set_tid_size;
	__s32 exit_signal;
	__u32 group;		/* task index of its thread-group leader */
	__u32 group_next;	/* next task of the group; 0 ends the list */
	__s32 set_tid[CR_MAX_LEVELS];	/* clone3 order: innermost first */
	char comm[16];		/* the task's name (PR_SET_NAME); "" keeps it */
	__u32 alive;		/* robust futex: its tid, then FUTEX_OWNER_DIED */
	__u32 reserved;
	__u64 robust_head[3];	/* struct robust_list_head: next, offset, pending */
	__u64 robust_entry;	/* struct robust_list: next (back to the head) */
	__u32 pad[6];
};

struct cr_action {
	__u32 op;		/* enum cr_op */
	__s32 a;
	__s32 b;
	__u32 reserved;
};
#endif /* __GO_CGEN__ */

#endif /* CKPT_NL_EXECUTOR_PLAN_H */
