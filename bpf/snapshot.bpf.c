// SPDX-License-Identifier: GPL-2.0
//go:build ignore

/*
 * snapshot: the BPF backend's task iterator. For every task whose pid is
 * in the checkpoint root's pid namespace (or below it) it writes a task
 * record naming its pid objects by struct pid address, preceded by an
 * object record, with numbers and namespace inodes from the root's
 * namespace down, for each distinct object the task refers to. Go (go/snapshot/
 * bpfsnap) keeps the descendants of the root and builds the model.
 *
 * Records, native-endian, each starting with {u32 type, u32 size}:
 *   REC_TASK  struct rec_task
 *   REC_PID   struct rec_pid, then depth+1 struct rec_level
 */
#include "core.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "pidns.h"

char LICENSE[] SEC("license") = "GPL";

#define PF_KTHREAD	0x00200000
#define REC_TASK	1
#define REC_PID		2

/* Set by the loader before the program is loaded. */
const volatile __u32 root_ns_inum;	/* the root's pid namespace */
const volatile __u32 caller_ns_inum;	/* the reader's, for its pid numbers */

/*
 * The levels of those namespaces, learnt from the first task met in each
 * (-1 until then): after that a task is tested with one lookup instead of
 * a search of its levels.
 */
int root_level = -1;
int caller_level = -1;

/* level_at reports whether pid p's namespace at *cached is inum, learning
 * *cached by a search the first time. */
static __always_inline int level_in(__u64 p, __u32 inum, int *cached)
{
	int l = *cached;

	if (l >= 0)
		return pid_level(p) >= (__u32)l && pid_ns_inum(p, l) == inum ? l : -1;
	l = level_of(p, inum);
	if (l >= 0)
		*cached = l;
	return l;
}

struct rec_task {
	__u32 type, size;
	__u64 pid, tgid, pgid, sid, ppid;	/* struct pid addresses */
	__u32 state, exit_state;
	__s32 exit_code, caller_nr;		/* the tid as the reader sees it */
	char comm[16];
};

struct rec_pid {
	__u32 type, size;
	__u64 key;
	__s32 depth;				/* -1: outside the root namespace */
	__u32 pad;
};

struct rec_level {
	__s32 nr;
	__u32 ns_inum;
};

/* Scratch space for one pid record, per CPU. */
struct pid_buf {
	struct rec_pid rec;
	struct rec_level lv[MAX_LEVELS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pid_buf);
} scratch SEC(".maps");

struct fill {
	__u64 pid;
	__u32 base;
	struct pid_buf *buf;
};

static long fill_cb(__u32 l, void *data)
{
	struct fill *f = data;
	struct rec_level *lv = &f->buf->lv[l & (MAX_LEVELS - 1)];

	lv->nr = pid_nr_at(f->pid, f->base + l);
	lv->ns_inum = pid_ns_inum(f->pid, f->base + l);
	return 0;
}

static __always_inline void write_pid(struct seq_file *seq, struct pid *p,
				      int root_level)
{
	__u32 zero = 0, level;
	__u64 size, n;
	struct pid_buf *buf;
	struct fill f;
	__s32 depth = -1;

	if (!p)
		return;
	buf = bpf_map_lookup_elem(&scratch, &zero);
	if (!buf)
		return;
	level = pid_level((__u64)p);
	if (level >= (__u32)root_level && level - root_level < MAX_LEVELS &&
	    pid_ns_inum((__u64)p, root_level) == root_ns_inum)
		depth = level - root_level;
	buf->rec.type = REC_PID;
	buf->rec.key = (__u64)p;
	buf->rec.depth = depth;
	buf->rec.pad = 0;
	n = depth >= 0 ? (__u32)depth + 1 : 0;	/* 0 when outside */
	/* Keep the compiler from merging the bound into other arithmetic. */
	asm volatile("" : "+r"(n));
	if (n > MAX_LEVELS)
		return;
	f.pid = (__u64)p;
	f.base = root_level;
	f.buf = buf;
	if (n == 1) {
		fill_cb(0, &f);
	} else if (n) {
		bpf_loop(n, fill_cb, &f, 0);
	}
	size = sizeof(buf->rec) + n * sizeof(struct rec_level);
	asm volatile("" : "+r"(size));
	if (size > sizeof(*buf))
		return;
	buf->rec.size = size;
	bpf_seq_write(seq, buf, size);
}

SEC("iter/task")
int snapshot_tasks(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct rec_task rec = { .type = REC_TASK, .size = sizeof(rec) };
	struct pid *pid, *tgid, *pgid, *sid, *ppid;
	int rl, cl;

	if (!task || (task->flags & PF_KTHREAD))
		return 0;
	pid = task->thread_pid;
	if (!pid)
		return 0;
	rl = level_in((__u64)pid, root_ns_inum, &root_level);
	if (rl < 0)
		return 0;
	tgid = BPF_CORE_READ(task, signal, pids[PIDTYPE_TGID]);
	pgid = BPF_CORE_READ(task, signal, pids[PIDTYPE_PGID]);
	sid = BPF_CORE_READ(task, signal, pids[PIDTYPE_SID]);
	ppid = BPF_CORE_READ(task, real_parent, group_leader, thread_pid);

	/*
	 * Each distinct object this task refers to; Go drops the repeats
	 * across tasks. (Deduplicating here would need state that survives
	 * the seq_file retrying a task whose records overflowed its buffer.)
	 */
	write_pid(seq, pid, rl);
	if (tgid != pid)
		write_pid(seq, tgid, rl);
	if (pgid != tgid && pgid != pid)
		write_pid(seq, pgid, rl);
	if (sid != pgid && sid != tgid && sid != pid)
		write_pid(seq, sid, rl);
	if (ppid != sid && ppid != pgid && ppid != tgid && ppid != pid)
		write_pid(seq, ppid, rl);

	rec.pid = (__u64)pid;
	rec.tgid = (__u64)tgid;
	rec.pgid = (__u64)pgid;
	rec.sid = (__u64)sid;
	rec.ppid = (__u64)ppid;
	rec.state = task->__state;
	rec.exit_state = task->exit_state;
	rec.exit_code = task->exit_code;
	cl = level_in((__u64)pid, caller_ns_inum, &caller_level);
	rec.caller_nr = cl >= 0 ? pid_nr_at((__u64)pid, cl) : 0;
	BPF_CORE_READ_STR_INTO(&rec.comm, task, comm);
	bpf_seq_write(seq, &rec, sizeof(rec));
	return 0;
}
