/* SPDX-License-Identifier: GPL-2.0 */
/* Internal declarations shared by the files of the ckpt_pids module. */
#ifndef _CKPT_PIDS_H
#define _CKPT_PIDS_H

#include <linux/sched.h>
#include <net/genetlink.h>

#include "uapi/ckpt_pids.h"

#define CKPT_PIDS_MODULE_VERSION "0.3.0"

/* The CKPT_PIDS_A_FEATURES bits this build implements. */
#define CKPT_PIDS_FEATURES ((u64)(CKPT_PIDS_F_SNAPSHOT | CKPT_PIDS_F_RESTART))

extern struct genl_family ckpt_pids_family;

/* snapshot.c */
extern const struct nla_policy ckpt_pids_snapshot_policy[CKPT_PIDS_A_MODE + 1];
int ckpt_pids_snapshot_start(struct netlink_callback *cb);
int ckpt_pids_snapshot_dumpit(struct sk_buff *skb, struct netlink_callback *cb);
int ckpt_pids_snapshot_done(struct netlink_callback *cb);

/* restart.c */
extern const struct nla_policy ckpt_pids_ctx_create_policy[CKPT_PIDS_A_MAX + 1];
extern const struct nla_policy ckpt_pids_ctx_add_policy[CKPT_PIDS_A_MAX + 1];
extern const struct nla_policy ckpt_pids_ctx_attach_policy[CKPT_PIDS_A_MAX + 1];
extern const struct nla_policy ckpt_pids_ctx_id_policy[CKPT_PIDS_A_MAX + 1];
int ckpt_pids_ctx_create(struct sk_buff *skb, struct genl_info *info);
int ckpt_pids_ctx_add(struct sk_buff *skb, struct genl_info *info);
int ckpt_pids_ctx_attach(struct sk_buff *skb, struct genl_info *info);
int ckpt_pids_ctx_commit(struct sk_buff *skb, struct genl_info *info);
int ckpt_pids_ctx_abort(struct sk_buff *skb, struct genl_info *info);
void ckpt_ctx_release(struct net *net, u32 portid);

/* extack.c */
__printf(3, 4)
void ckpt_set_msg(const struct sk_buff *skb, struct netlink_ext_ack *extack,
		  const char *fmt, ...);
void ckpt_msg_release(struct net *net, u32 portid);
void ckpt_msg_release_all(void);

/* Permission to checkpoint or restart tasks of pid namespace ns. */
bool ckpt_pids_capable(const struct sk_buff *skb, struct pid_namespace *ns);
/* The task with pid nr in the caller's namespace, with a reference. */
struct task_struct *ckpt_get_task(pid_t nr);

#endif /* _CKPT_PIDS_H */
