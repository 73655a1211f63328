// SPDX-License-Identifier: GPL-2.0
/*
 * ckpt_pids: the generic-netlink family of ckpt-nl.
 *
 * The family is the module's only interface; its contract, with every
 * command and attribute, is documented in uapi/ckpt_pids.h.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/netlink.h>
#include <linux/notifier.h>
#include <linux/utsname.h>
#include <net/genetlink.h>

#include "ckpt_pids.h"

static int ckpt_pids_get_features(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;

	hdr = genlmsg_put_reply(msg, info, &ckpt_pids_family, 0,
				CKPT_PIDS_CMD_GET_FEATURES);
	if (!hdr)
		goto err_msgsize;

	if (nla_put_u32(msg, CKPT_PIDS_A_VERSION, CKPT_PIDS_GENL_VERSION) ||
	    nla_put_string(msg, CKPT_PIDS_A_MODULE_VERSION, CKPT_PIDS_MODULE_VERSION) ||
	    nla_put_u64_64bit(msg, CKPT_PIDS_A_FEATURES, CKPT_PIDS_FEATURES,
			      CKPT_PIDS_A_PAD) ||
	    nla_put_u32(msg, CKPT_PIDS_A_MAX_DEPTH, CKPT_PIDS_MAX_DEPTH) ||
	    nla_put_string(msg, CKPT_PIDS_A_KERNEL_RELEASE, utsname()->release))
		goto err_msgsize;

	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

err_msgsize:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

static const struct genl_ops ckpt_pids_ops[] = {
	{
		/* No policy: the core rejects every attribute. */
		.cmd = CKPT_PIDS_CMD_GET_FEATURES,
		.doit = ckpt_pids_get_features,
	},
	{
		.cmd = CKPT_PIDS_CMD_SNAPSHOT,
		.start = ckpt_pids_snapshot_start,
		.dumpit = ckpt_pids_snapshot_dumpit,
		.done = ckpt_pids_snapshot_done,
		.policy = ckpt_pids_snapshot_policy,
		.maxattr = ARRAY_SIZE(ckpt_pids_snapshot_policy) - 1,
	},
	{
		.cmd = CKPT_PIDS_CMD_CTX_CREATE,
		.doit = ckpt_pids_ctx_create,
		.policy = ckpt_pids_ctx_create_policy,
		.maxattr = ARRAY_SIZE(ckpt_pids_ctx_create_policy) - 1,
	},
	{
		.cmd = CKPT_PIDS_CMD_CTX_ADD,
		.doit = ckpt_pids_ctx_add,
		.policy = ckpt_pids_ctx_add_policy,
		.maxattr = ARRAY_SIZE(ckpt_pids_ctx_add_policy) - 1,
	},
	{
		/* Unprivileged: the member must descend from the launcher. */
		.cmd = CKPT_PIDS_CMD_CTX_ATTACH,
		.doit = ckpt_pids_ctx_attach,
		.policy = ckpt_pids_ctx_attach_policy,
		.maxattr = ARRAY_SIZE(ckpt_pids_ctx_attach_policy) - 1,
	},
	{
		.cmd = CKPT_PIDS_CMD_CTX_COMMIT,
		.doit = ckpt_pids_ctx_commit,
		.policy = ckpt_pids_ctx_id_policy,
		.maxattr = ARRAY_SIZE(ckpt_pids_ctx_id_policy) - 1,
	},
	{
		.cmd = CKPT_PIDS_CMD_CTX_ABORT,
		.doit = ckpt_pids_ctx_abort,
		.policy = ckpt_pids_ctx_id_policy,
		.maxattr = ARRAY_SIZE(ckpt_pids_ctx_id_policy) - 1,
	},
};

struct genl_family ckpt_pids_family __ro_after_init = {
	.name = CKPT_PIDS_GENL_NAME,
	.version = CKPT_PIDS_GENL_VERSION,
	.maxattr = CKPT_PIDS_A_MAX,
	.netnsok = true,
	.parallel_ops = true,
	.module = THIS_MODULE,
	.ops = ckpt_pids_ops,
	.n_ops = ARRAY_SIZE(ckpt_pids_ops),
};

/* What a generic-netlink socket leaves behind when it is released. */
static int ckpt_pids_netlink_event(struct notifier_block *nb,
				   unsigned long event, void *ptr)
{
	struct netlink_notify *n = ptr;

	if (event != NETLINK_URELEASE || n->protocol != NETLINK_GENERIC)
		return NOTIFY_DONE;
	ckpt_ctx_release(n->net, n->portid);
	ckpt_msg_release(n->net, n->portid);
	return NOTIFY_DONE;
}

static struct notifier_block ckpt_pids_netlink_notifier = {
	.notifier_call = ckpt_pids_netlink_event,
};

static int __init ckpt_pids_init(void)
{
	int ret;

	ret = netlink_register_notifier(&ckpt_pids_netlink_notifier);
	if (ret)
		return ret;
	ret = genl_register_family(&ckpt_pids_family);
	if (ret) {
		pr_err("cannot register generic netlink family: %d\n", ret);
		goto err_notifier;
	}
	pr_info("version %s loaded\n", CKPT_PIDS_MODULE_VERSION);
	return 0;

err_notifier:
	netlink_unregister_notifier(&ckpt_pids_netlink_notifier);
	return ret;
}

static void __exit ckpt_pids_exit(void)
{
	genl_unregister_family(&ckpt_pids_family);
	netlink_unregister_notifier(&ckpt_pids_netlink_notifier);
	ckpt_msg_release_all();
}

module_init(ckpt_pids_init);
module_exit(ckpt_pids_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Checkpoint and restart of pid objects over generic netlink");
MODULE_AUTHOR("The ckpt-nl authors");
MODULE_VERSION(CKPT_PIDS_MODULE_VERSION);
MODULE_ALIAS_GENL_FAMILY(CKPT_PIDS_GENL_NAME);
