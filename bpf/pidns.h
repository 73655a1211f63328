/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Walking a struct pid's levels with bpf_loop: the loop body is verified
 * once, not once per possible iteration, which keeps load times in
 * milliseconds on kernels whose verifier unrolls bounded loops.
 */
#ifndef CKPT_NL_PIDNS_H
#define CKPT_NL_PIDNS_H

#include "core.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define MAX_LEVELS 32

/*
 * The namespace inode and number of pid p at level l (0 if unreadable).
 * Levels go up to 32 (MAX_PID_NS_LEVEL): the index mask keeps 0..63.
 */
static __always_inline __u32 pid_ns_inum(__u64 p, __u32 l)
{
	struct pid *pid = (struct pid *)p;
	struct pid_namespace *ns = 0;
	__u32 inum = 0;

	bpf_core_read(&ns, sizeof(ns), &pid->numbers[l & 63].ns);
	if (ns)
		bpf_core_read(&inum, sizeof(inum), &ns->ns.inum);
	return inum;
}

static __always_inline __s32 pid_nr_at(__u64 p, __u32 l)
{
	struct pid *pid = (struct pid *)p;
	__s32 nr = 0;

	bpf_core_read(&nr, sizeof(nr), &pid->numbers[l & 63].nr);
	return nr;
}

static __always_inline __u32 pid_level(__u64 p)
{
	struct pid *pid = (struct pid *)p;
	__u32 level = 0;

	bpf_core_read(&level, sizeof(level), &pid->level);
	return level;
}

struct level_search {
	__u64 pid;
	__u32 inum;
	int found;
};

static long level_search_cb(__u32 l, void *data)
{
	struct level_search *s = data;

	if (pid_ns_inum(s->pid, l) == s->inum) {
		s->found = l;
		return 1;
	}
	return 0;
}

/* The level at which pid p's namespace is the one with inode inum, or -1. */
static __always_inline int level_of(__u64 p, __u32 inum)
{
	struct level_search s = { .pid = p, .inum = inum, .found = -1 };

	if (!p)
		return -1;
	bpf_loop(pid_level(p) + 1, level_search_cb, &s, 0);
	return s.found;
}

#endif /* CKPT_NL_PIDNS_H */
