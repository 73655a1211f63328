// SPDX-License-Identifier: GPL-2.0
//go:build ignore

/*
 * count: the bare kernel walk. A task iterator that only counts the tasks it
 * visits and writes the count (a __u64) when the walk ends. It is the floor
 * the snapshot backends are measured against, and the status probe for BPF
 * iterator support.
 */
#include "core.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

__u64 nr_tasks;

SEC("iter/task")
int count_tasks(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;

	if (ctx->meta->seq_num == 0)
		nr_tasks = 0;
	if (!ctx->task) {
		bpf_seq_write(seq, &nr_tasks, sizeof(nr_tasks));
		return 0;
	}
	nr_tasks++;
	return 0;
}
