// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel symbols ckpt_pids needs that the kernel does not export to
 * modules: tasklist_lock, to read a tree atomically (fork, exit, setsid and
 * setpgid all write-lock it), and ptrace_may_access, for the same access
 * check /proc applies. They are looked up once at load through
 * kallsyms_lookup_name, itself found with a kprobe; the module refuses to
 * load when any is missing.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kprobes.h>
#include <linux/ptrace.h>
#include <linux/sched/task.h>

#include "ckpt_pids.h"

rwlock_t *ckpt_tasklist_lock;
static bool (*ckpt_ptrace_may_access_fn)(struct task_struct *task,
					 unsigned int mode);

bool ckpt_ptrace_may_access(struct task_struct *task, unsigned int mode)
{
	return ckpt_ptrace_may_access_fn(task, mode);
}

int ckpt_ksyms_init(void)
{
	unsigned long (*lookup)(const char *name);
	struct kprobe kp = { .symbol_name = "kallsyms_lookup_name" };
	int ret;

	ret = register_kprobe(&kp);
	if (ret < 0) {
		pr_err("cannot find kallsyms_lookup_name (kprobes): %d\n", ret);
		return ret;
	}
	lookup = (unsigned long (*)(const char *))kp.addr;
	unregister_kprobe(&kp);

	ckpt_tasklist_lock = (rwlock_t *)lookup("tasklist_lock");
	ckpt_ptrace_may_access_fn = (void *)lookup("ptrace_may_access");
	if (!ckpt_tasklist_lock || !ckpt_ptrace_may_access_fn) {
		pr_err("cannot resolve tasklist_lock or ptrace_may_access\n");
		return -ENOENT;
	}
	return 0;
}
