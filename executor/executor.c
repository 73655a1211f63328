// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The ckpt-nl executor: the program every restored (and every test-built)
 * task runs instead of the Go runtime. It is freestanding (no libc, raw
 * system calls) so that a parked task costs a few private pages.
 *
 * The coordinator starts it with the plan's memfd as fd 3 (see plan.h).
 * The process it starts runs task 0 (the launcher); every task it creates
 * with clone3 runs its own slice of the plan in the same binary: creating
 * children with the set_tid array and checking the pid clone3 returns,
 * setsid, setpgid, meeting the coordinator at barriers, and finally
 * exiting, stopping or sleeping as the plan says. On any failure a task
 * records the action and errno in the plan, wakes the coordinator, and
 * exits.
 */
#include <linux/types.h>
#include <linux/sched.h>
#include <linux/futex.h>
#include <linux/mman.h>
#include <linux/prctl.h>
#include <linux/wait.h>
#include <linux/netlink.h>
#include <linux/genetlink.h>
#include <asm/unistd.h>
#include <asm/signal.h>

#include "plan.h"
#include "ckpt_pids.h"

#define PLAN_FD		3
#define THREAD_STACK	(64 * 1024)
#define GUARD_PAGE	4096

/* errno values used here */
#define E_INVAL		22
#define E_EXIST		17
#define E_CANCELED	125
#define E_CHILD		10
#define E_INTR		4
#define E_SRCH		3
#define E_IO		5

/*
 * The executor writes no global variable. A page of .data or of the stack
 * that a process wrote gets an anon_vma, which every fork links into a
 * chain one longer than its creator's (mm/rmap.c anon_vma_fork): a chain
 * of n processes would cost O(n^2). So the plan lives at a fixed address
 * (shared, no anon_vma), the main stack is MADV_WIPEONFORK (a new process
 * starts at the top of a zeroed copy) and thread stacks MADV_DONTFORK.
 */
#define PLAN_ADDR	0x100000000000UL

#define hdr		((struct cr_header *)PLAN_ADDR)
#define tasks		((struct cr_task *)(PLAN_ADDR + CR_HEADER_SIZE))
#define actions		((struct cr_action *)(PLAN_ADDR + CR_HEADER_SIZE + \
				(unsigned long)hdr->nr_tasks * CR_TASK_SIZE))
#define arrived		((__u32 *)(actions + hdr->nr_actions))	/* futex per barrier */

/* ---- system calls ------------------------------------------------------ */

static inline long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

#define sys0(n)			sys6(n, 0, 0, 0, 0, 0, 0)
#define sys1(n, a)		sys6(n, (long)(a), 0, 0, 0, 0, 0)
#define sys2(n, a, b)		sys6(n, (long)(a), (long)(b), 0, 0, 0, 0)
#define sys3(n, a, b, c)	sys6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sys4(n, a, b, c, d)	sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)

static void __attribute__((noreturn)) exit_group(int code)
{
	for (;;)
		sys1(__NR_exit_group, code);
}

static void __attribute__((noreturn)) exit_thread(int code)
{
	for (;;)
		sys1(__NR_exit, code);
}

static long futex_wait(__u32 *addr, __u32 val)
{
	return sys4(__NR_futex, addr, FUTEX_WAIT, val, 0);
}

static void futex_wake(__u32 *addr)
{
	sys3(__NR_futex, addr, FUTEX_WAKE, 0x7fffffff);
}

static __u32 load(__u32 *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store(__u32 *p, __u32 v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static void add(__u32 *p)
{
	__atomic_add_fetch(p, 1, __ATOMIC_ACQ_REL);
}

/*
 * clone3 for a thread: the child starts on its own stack, so it must not
 * return through this function; it calls run(arg) and ends there.
 */
static long clone3_thread(struct clone_args *args, void (*run)(long), long arg)
{
	register long r12 __asm__("r12") = (long)run;
	register long r13 __asm__("r13") = arg;
	long ret;

	__asm__ volatile("syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "xor %%ebp, %%ebp\n\t"
			 "mov %%r13, %%rdi\n\t"
			 "call *%%r12\n\t"
			 "mov $60, %%eax\n\t"
			 "xor %%edi, %%edi\n\t"
			 "syscall\n\t"
			 "hlt\n"
			 "1:"
			 : "=a"(ret)
			 : "a"(__NR_clone3), "D"(args), "S"(sizeof(*args)), "r"(r12), "r"(r13)
			 : "rcx", "r11", "memory");
	return ret;
}

/*
 * clone3 for a process: the child starts over at the top of the main
 * stack (its own copy), not below its creator's frames, so a chain of
 * any depth costs each task one frame's worth of stack.
 */
static long clone3_process(struct clone_args *args, void (*run)(long), long arg)
{
	register long r12 __asm__("r12") = (long)run;
	register long r13 __asm__("r13") = arg;
	register long r14 __asm__("r14") = (long)hdr->stack_base;
	long ret;

	__asm__ volatile("syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "mov %%r14, %%rsp\n\t"
			 "xor %%ebp, %%ebp\n\t"
			 "mov %%r13, %%rdi\n\t"
			 "call *%%r12\n\t"
			 "hlt\n"
			 "1:"
			 : "=a"(ret)
			 : "a"(__NR_clone3), "D"(args), "S"(sizeof(*args)), "r"(r12), "r"(r13),
			   "r"(r14)
			 : "rcx", "r11", "memory");
	return ret;
}

/* The compiler may emit calls to these. */
void *memset(void *s, int c, unsigned long n)
{
	unsigned char *p = s;

	while (n--)
		*p++ = (unsigned char)c;
	return s;
}

void *memcpy(void *d, const void *s, unsigned long n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;

	while (n--)
		*dp++ = *sp++;
	return d;
}

/* ---- the plan ---------------------------------------------------------- */

static void __attribute__((noreturn)) run_task(long idx);

static void __attribute__((noreturn)) fail(long idx, __u32 action, long err)
{
	struct cr_task *t = &tasks[idx];

	t->err = (__s32)(err < 0 ? -err : err);
	t->failed_action = action;
	store(&t->state, CR_STATE_FAILED);
	futex_wake(&t->state);
	add(&hdr->failed);
	futex_wake(&hdr->failed);
	if (t->flags & CR_FLAG_THREAD)
		exit_thread(127);
	exit_group(127);
}

static void thread_main(long idx)
{
	run_task(idx);
}

static void do_clone(long self, __u32 ai, long child)
{
	struct cr_task *c;
	struct clone_args args;
	__u32 st;
	long ret;

	if (child <= 0 || (__u32)child >= hdr->nr_tasks)
		fail(self, ai, E_INVAL);
	c = &tasks[child];
	memset(&args, 0, sizeof(args));
	args.exit_signal = (__u64)c->exit_signal;
	if (c->set_tid_size) {
		args.set_tid = (__u64)(unsigned long)c->set_tid;
		args.set_tid_size = c->set_tid_size;
	}
	if (c->flags & CR_FLAG_PARENT)
		args.flags |= CLONE_PARENT;
	if (c->flags & CR_FLAG_NEWPID)
		args.flags |= CLONE_NEWPID;
	if (c->flags & CR_FLAG_THREAD) {
		/* A guard page below the stack: an overflow faults. */
		long stack = sys6(__NR_mmap, 0, GUARD_PAGE + THREAD_STACK, 3 /* RW */,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);

		if (stack < 0 && stack > -4096)
			fail(self, ai, stack);
		ret = sys3(__NR_mprotect, stack, GUARD_PAGE, 0 /* PROT_NONE */);
		if (ret >= 0)
			ret = sys3(__NR_madvise, stack, GUARD_PAGE + THREAD_STACK, MADV_DONTFORK);
		if (ret < 0)
			fail(self, ai, ret);
		args.flags |= CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
			      CLONE_THREAD | CLONE_SYSVSEM;
		args.exit_signal = 0;
		args.stack = (__u64)(stack + GUARD_PAGE);
		args.stack_size = THREAD_STACK;
		ret = clone3_thread(&args, thread_main, child);
	} else {
		ret = clone3_process(&args, thread_main, child);
	}
	if (ret < 0)
		fail(self, ai, ret);
	c->pid = (__s32)ret;
	if (c->expect && ret != c->expect)
		fail(self, ai, E_EXIST);
	/* Wait until the child has done its part of the creation. */
	while ((st = load(&c->state)) < CR_STATE_PARKED)
		futex_wait(&c->state, st);
	if (st == CR_STATE_FAILED)
		fail(self, ai, E_CANCELED);
}

/*
 * attach sends CKPT_PIDS_CMD_CTX_ATTACH for this task (member idx - 1 of
 * context hdr->context) on a fresh generic-netlink socket, and returns the
 * kernel's answer (0 or -errno).
 */
static long attach(long idx)
{
	struct {
		struct nlmsghdr nh;
		struct genlmsghdr gh;
		struct nlattr ctx_attr;
		__u32 ctx;
		struct nlattr member_attr;
		__u32 member;
	} req;
	struct sockaddr_nl {
		unsigned short nl_family;
		unsigned short nl_pad;
		__u32 nl_pid;
		__u32 nl_groups;
	} sa = { .nl_family = 16 /* AF_NETLINK */ };
	union {
		struct nlmsghdr nh;
		char buf[1024];
	} resp;
	long fd, ret;

	fd = sys3(__NR_socket, 16 /* AF_NETLINK */, 3 /* SOCK_RAW */ | 02000000 /* CLOEXEC */,
		  NETLINK_GENERIC);
	if (fd < 0)
		return fd;
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = sizeof(req);
	req.nh.nlmsg_type = hdr->genl_family;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	req.nh.nlmsg_seq = 1;
	req.gh.cmd = CKPT_PIDS_CMD_CTX_ATTACH;
	req.gh.version = CKPT_PIDS_GENL_VERSION;
	req.ctx_attr.nla_len = sizeof(req.ctx_attr) + sizeof(req.ctx);
	req.ctx_attr.nla_type = CKPT_PIDS_A_CTX;
	req.ctx = load(&hdr->context);
	req.member_attr.nla_len = sizeof(req.member_attr) + sizeof(req.member);
	req.member_attr.nla_type = CKPT_PIDS_A_MEMBER;
	req.member = (__u32)(idx - 1);
	ret = sys6(__NR_sendto, fd, (long)&req, sizeof(req), 0, (long)&sa, sizeof(sa));
	if (ret >= 0)
		ret = sys6(__NR_recvfrom, fd, (long)&resp, sizeof(resp), 0, 0, 0);
	sys1(__NR_close, fd);
	if (ret < 0)
		return ret;
	if ((unsigned long)ret < sizeof(struct nlmsghdr) + sizeof(int) ||
	    resp.nh.nlmsg_type != NLMSG_ERROR)
		return -E_INVAL;
	return ((struct nlmsgerr *)NLMSG_DATA(&resp.nh))->error;
}

/* Children created from now on go to the pid namespace of pid nr. */
static long enter_pid_ns(long nr)
{
	long fd = sys2(__NR_pidfd_open, nr, 0);
	long ret;

	if (fd < 0)
		return fd;
	ret = sys2(__NR_setns, fd, CLONE_NEWPID);
	sys1(__NR_close, fd);
	return ret;
}

/* Write nr to ns_last_pid: the next pid of this task's namespace is nr + 1. */
static long write_last_pid(long nr)
{
	char buf[16];
	int n = 0, i;
	char tmp[16];
	long fd, ret;

	if (nr < 0)
		return -E_INVAL;
	do {
		tmp[n++] = (char)('0' + nr % 10);
		nr /= 10;
	} while (nr);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	fd = sys4(__NR_openat, -100 /* AT_FDCWD */, "/proc/sys/kernel/ns_last_pid",
		  01 /* O_WRONLY */ | 02000000 /* O_CLOEXEC */, 0);
	if (fd < 0)
		return fd;
	ret = sys3(__NR_write, fd, buf, n);
	sys1(__NR_close, fd);
	if (ret >= 0 && ret != n)
		ret = -E_IO;
	return ret < 0 ? ret : 0;
}

static void barrier(long self, __u32 k)
{
	struct cr_task *t = &tasks[self];
	__u32 phase;

	if (load(&t->state) == CR_STATE_RUNNING) {
		store(&t->state, CR_STATE_PARKED);
		futex_wake(&t->state);
	}
	add(&arrived[k]);
	futex_wake(&arrived[k]);
	while ((phase = load(&hdr->phase)) < k)
		futex_wait(&hdr->phase, phase);
}

/*
 * settle moves task i to a final state once: the task itself and a group
 * member exiting the whole group may race to do it.
 */
static void settle(long i, __u32 state)
{
	__u32 cur = load(&tasks[i].state);

	while (cur < CR_STATE_EXITED) {
		if (__atomic_compare_exchange_n(&tasks[i].state, &cur, state, 0,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			futex_wake(&tasks[i].state);
			add(&hdr->done);
			futex_wake(&hdr->done);
			return;
		}
	}
}

/* Settle every other task of self's thread group. */
static void settle_group(long self, __u32 state)
{
	__u32 j;

	for (j = tasks[self].group; j && j < hdr->nr_tasks; j = tasks[j].group_next)
		if (j != (__u32)self)
			settle(j, state);
	settle(self, state);
}

static void finished(long self, __u32 state)
{
	settle(self, state);
}

static void die(long self, __s32 status)
{
	int sig = status & 0x7f;
	struct { unsigned long handler, flags, restorer, mask; } act = { 0 };
	unsigned long set = 0;

	finished(self, CR_STATE_EXITED);
	/* exit_group ends every thread of the group: settle them. */
	settle_group(self, CR_STATE_KILLED);
	if (!sig)
		exit_group((status >> 8) & 0xff);
	/* Die by the signal, as the checkpointed task did. */
	sys4(__NR_rt_sigaction, sig, &act, 0, sizeof(set));
	set = 1UL << (sig - 1);
	sys4(__NR_rt_sigprocmask, SIG_UNBLOCK, &set, 0, sizeof(set));
	sys2(__NR_kill, sys0(__NR_getpid), sig);
	exit_group(128 + sig);
}

/*
 * Hold t->alive as a robust futex: the kernel marks it FUTEX_OWNER_DIED
 * when this thread ends, however it ends.
 */
static void hold_alive(struct cr_task *t)
{
	struct robust_list_head *head = (struct robust_list_head *)t->robust_head;
	struct robust_list *entry = (struct robust_list *)&t->robust_entry;

	entry->next = &head->list;
	head->list.next = entry;
	head->futex_offset = (long)((char *)&t->alive - (char *)entry);
	head->list_op_pending = 0;
	store(&t->alive, (__u32)sys0(__NR_gettid));
	sys2(__NR_set_robust_list, head, sizeof(*head));
}

static void __attribute__((noreturn)) run_task(long idx)
{
	struct cr_task *t = &tasks[idx];
	__u32 i, end = t->first_action + t->nr_actions;
	long ret;

	hold_alive(t);
	store(&t->state, CR_STATE_RUNNING);
	if (t->comm[0])
		sys2(__NR_prctl, PR_SET_NAME, t->comm);
	if (end > hdr->nr_actions || end < t->first_action)
		fail(idx, t->first_action, E_INVAL);
	for (i = t->first_action; i < end; i++) {
		struct cr_action *a = &actions[i];

		switch (a->op) {
		case CR_OP_CLONE:
			do_clone(idx, i, a->a);
			break;
		case CR_OP_SETSID:
			ret = sys0(__NR_setsid);
			if (ret < 0)
				fail(idx, i, ret);
			break;
		case CR_OP_SETPGID:
			ret = sys2(__NR_setpgid, a->b, a->a);
			if (ret < 0)
				fail(idx, i, ret);
			break;
		case CR_OP_SUBREAPER:
			ret = sys2(__NR_prctl, PR_SET_CHILD_SUBREAPER, 1);
			if (ret < 0)
				fail(idx, i, ret);
			break;
		case CR_OP_ATTACH:
			ret = attach(idx);
			if (ret < 0)
				fail(idx, i, ret);
			break;
		case CR_OP_PDEATHSIG:
			ret = sys2(__NR_prctl, PR_SET_PDEATHSIG, a->a);
			if (ret < 0)
				fail(idx, i, ret);
			break;
		case CR_OP_BARRIER:
			if (a->a <= 0 || (__u32)a->a >= hdr->nr_barriers)
				fail(idx, i, E_INVAL);
			barrier(idx, (__u32)a->a);
			break;
		case CR_OP_EXIT:
			die(idx, a->a);
			break;
		case CR_OP_EXIT_THREAD:
			finished(idx, CR_STATE_EXITED);
			exit_thread(0);
		case CR_OP_STOP:
			/* A group stop freezes every thread: settle them. */
			settle_group(idx, CR_STATE_DONE);
			sys2(__NR_kill, sys0(__NR_getpid), SIGSTOP);
			for (;;)
				sys0(__NR_pause);
		case CR_OP_REAP:
			if (a->a <= 0 || (__u32)a->a >= hdr->nr_tasks)
				fail(idx, i, E_INVAL);
			do {
				ret = sys4(__NR_wait4, a->b ? a->b : tasks[a->a].pid, 0, __WALL, 0);
			} while (ret == -E_INTR);
			if (ret < 0)
				fail(idx, i, ret);
			break;
		case CR_OP_WAIT_EXIT:
			do {
				ret = sys6(__NR_waitid, P_PID, a->b, 0,
					   WEXITED | WNOWAIT | __WALL, 0, 0);
			} while (ret == -E_INTR);
			if (ret < 0)
				fail(idx, i, ret);
			break;
		case CR_OP_WAIT_GONE:
			/* kill(b, 0) finds the thread until release_task unhashes it
			 * and frees its pid, both under tasklist_lock. */
			while ((ret = sys2(__NR_kill, a->b, 0)) == 0)
				sys0(__NR_sched_yield);
			if (ret != -E_SRCH)
				fail(idx, i, ret);
			break;
		case CR_OP_SETNS:
			ret = enter_pid_ns(a->a);
			if (ret < 0)
				fail(idx, i, ret);
			break;
		case CR_OP_LAST_PID:
			ret = write_last_pid(a->a);
			if (ret < 0)
				fail(idx, i, ret);
			break;
		case CR_OP_REAP_ALL:
			finished(idx, CR_STATE_DONE);
			for (;;) {
				ret = sys4(__NR_wait4, -1, 0, __WALL, 0);
				if (ret == -E_CHILD)
					sys0(__NR_pause);
			}
		default:
			fail(idx, i, E_INVAL);
		}
	}
	finished(idx, CR_STATE_DONE);
	for (;;)
		sys0(__NR_pause);
}

/*
 * wipe_stack_on_fork marks the main stack MADV_WIPEONFORK, from below sp
 * to the page that holds the executable's name (AT_EXECFN, at the top of
 * the stack). Holes in the range are fine: madvise applies to what is
 * mapped and reports ENOMEM for the rest.
 */
static void wipe_stack_on_fork(unsigned long *sp)
{
	unsigned long *p = sp + 1 + sp[0] + 1;	/* past argc, argv, NULL */
	unsigned long top = 0, low;

	while (*p)
		p++;				/* envp */
	for (p++; p[0]; p += 2)			/* auxv */
		if (p[0] == 31 /* AT_EXECFN */)
			top = (p[1] + 4096) & ~4095UL;
	if (!top)
		top = ((unsigned long)p + 4096) & ~4095UL;
	low = ((unsigned long)sp & ~4095UL) - 256 * 1024;
	sys3(__NR_madvise, low, top - low, MADV_WIPEONFORK);
}

void __attribute__((noreturn, used)) cr_main(unsigned long *sp)
{
	struct cr_header h;
	unsigned long size;
	long p;

	if (sys4(__NR_pread64, PLAN_FD, &h, sizeof(h), 0) != sizeof(h))
		exit_group(120);
	if (h.magic != CR_MAGIC || h.version != CR_VERSION || h.nr_tasks == 0)
		exit_group(121);
	size = CR_HEADER_SIZE + (unsigned long)h.nr_tasks * CR_TASK_SIZE +
	       (unsigned long)h.nr_actions * CR_ACTION_SIZE +
	       (unsigned long)h.nr_barriers * sizeof(__u32);
	p = sys6(__NR_mmap, PLAN_ADDR, size, 3 /* RW */, MAP_SHARED | MAP_FIXED_NOREPLACE,
		 PLAN_FD, 0);
	if (p != (long)PLAN_ADDR)
		exit_group(122);
	sys1(__NR_close, PLAN_FD);
	hdr->stack_base = (unsigned long)sp & ~15UL;
	wipe_stack_on_fork(sp);
	run_task(0);
}

_Static_assert(sizeof(struct cr_header) == CR_HEADER_SIZE, "cr_header size");
_Static_assert(sizeof(struct cr_task) == CR_TASK_SIZE, "cr_task size");
_Static_assert(sizeof(struct cr_action) == CR_ACTION_SIZE, "cr_action size");

__asm__(".globl _start\n"
	"_start:\n"
	"	xor %ebp, %ebp\n"
	"	mov %rsp, %rdi\n"
	"	and $-16, %rsp\n"
	"	call cr_main\n"
	"	hlt\n");
