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
 */
#ifndef _UAPI_LINUX_CKPT_PIDS_H
#define _UAPI_LINUX_CKPT_PIDS_H

#define CKPT_PIDS_GENL_NAME	"ckpt_pids"
#define CKPT_PIDS_GENL_VERSION	1

/* The deepest pid-namespace nesting an image describes (levels 0..31). */
#define CKPT_PIDS_MAX_DEPTH	32

enum ckpt_pids_cmd {
	CKPT_PIDS_CMD_UNSPEC,
	CKPT_PIDS_CMD_GET_FEATURES,
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
	__CKPT_PIDS_A_MAX
};

#define CKPT_PIDS_A_MAX (__CKPT_PIDS_A_MAX - 1)

#endif /* _UAPI_LINUX_CKPT_PIDS_H */
