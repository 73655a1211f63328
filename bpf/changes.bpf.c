// SPDX-License-Identifier: GPL-2.0
//go:build ignore

/*
 * changes: a generation counter of the events that change a tree's
 * identity, for the BPF and procfs backends to detect a snapshot torn by
 * them: fork, exit, setsid and setpgid. Only tasks in the watched pid
 * namespace (or below it) count, so unrelated activity on the machine does
 * not force retries. All attach through BTF (no tracefs needed).
 */
#include "core.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "pidns.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 watch_ns_inum;	/* 0: count everything */

__u64 generation;

static __always_inline int watched(struct task_struct *task)
{
	if (!watch_ns_inum)
		return 1;
	return level_of((__u64)BPF_CORE_READ(task, thread_pid), watch_ns_inum) >= 0;
}

static __always_inline void bump(struct task_struct *task)
{
	if (watched(task))
		__sync_fetch_and_add(&generation, 1);
}

/*
 * Each program runs after its change is complete, so a change that lands
 * while a snapshot is read always moves the generation between the
 * reader's two looks at it. (sched_process_exit fires before the exiting
 * task's children are re-parented; its last switch away comes after.)
 */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	bump(parent);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	if (prev->exit_state)
		bump(prev);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *task)
{
	bump(task);
	return 0;
}

/*
 * setsid and setpgid change a task's session or group in place. The raw
 * sys_exit tracepoint sees every system call return, so it needs neither
 * tracefs nor BPF trampolines (which some kernels lack); the filter on
 * the call number costs a few instructions per call while loaded.
 */
#define NR_SETPGID	109	/* x86-64 */
#define NR_SETSID	112

SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret)
{
	long nr = BPF_CORE_READ(regs, orig_ax);

	if ((nr == NR_SETSID || nr == NR_SETPGID) && ret >= 0)
		bump(bpf_get_current_task_btf());
	return 0;
}
