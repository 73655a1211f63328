// SPDX-License-Identifier: GPL-2.0
/*
 * Formatted extended-ack messages. Kernels from 6.2 format them into the
 * extack itself (NL_SET_ERR_MSG_FMT, _msg_buf, 80 bytes): there the
 * module uses that. Older ones carry only a pointer to a message that
 * must outlive the handler, so each socket that gets an error has one
 * buffer, kept until the socket is released (NETLINK_URELEASE), and the
 * release path costs one atomic read while no socket holds a buffer.
 * Messages name the task and tag at fault. ckpt_set_msg may sleep: call
 * it outside RCU and spinlocks.
 */

#include <linux/hashtable.h>
#include <linux/slab.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>
#include <net/sock.h>

#include "ckpt_pids.h"

#ifdef NL_SET_ERR_MSG_FMT

void ckpt_set_msg(const struct sk_buff *skb, struct netlink_ext_ack *extack,
		  const char *fmt, ...)
{
	va_list args;

	if (!extack)
		return;
	va_start(args, fmt);
	vsnprintf(extack->_msg_buf, sizeof(extack->_msg_buf), fmt, args);
	va_end(args);
	extack->_msg = extack->_msg_buf;
}

void ckpt_msg_release(struct net *net, u32 portid)
{
}

void ckpt_msg_release_all(void)
{
}

#else

#define CKPT_MSG_LEN 160

struct ckpt_msgbuf {
	struct hlist_node node;
	struct net *net;
	u32 portid;
	char msg[CKPT_MSG_LEN];
};

static DEFINE_SPINLOCK(ckpt_msg_lock);
static DEFINE_HASHTABLE(ckpt_msgs, 6);
static atomic_t ckpt_nr_msgs = ATOMIC_INIT(0);

static struct ckpt_msgbuf *ckpt_msg_find(struct net *net, u32 portid)
{
	struct ckpt_msgbuf *b;

	hash_for_each_possible(ckpt_msgs, b, node, portid)
		if (b->portid == portid && net_eq(b->net, net))
			return b;
	return NULL;
}

void ckpt_set_msg(const struct sk_buff *skb, struct netlink_ext_ack *extack,
		  const char *fmt, ...)
{
	struct net *net = sock_net(skb->sk);
	u32 portid = NETLINK_CB(skb).portid;
	struct ckpt_msgbuf *b, *fresh;
	va_list args;

	if (!extack)
		return;
	might_sleep();
	fresh = kzalloc(sizeof(*fresh), GFP_KERNEL_ACCOUNT);

	spin_lock(&ckpt_msg_lock);
	b = ckpt_msg_find(net, portid);
	if (!b && fresh) {
		b = fresh;
		fresh = NULL;
		b->net = net;
		b->portid = portid;
		hash_add(ckpt_msgs, &b->node, portid);
		atomic_inc(&ckpt_nr_msgs);
	}
	if (b) {
		va_start(args, fmt);
		vsnprintf(b->msg, sizeof(b->msg), fmt, args);
		va_end(args);
		extack->_msg = b->msg;
	} else {
		extack->_msg = "out of memory for the error message";
	}
	spin_unlock(&ckpt_msg_lock);
	kfree(fresh);
}

void ckpt_msg_release(struct net *net, u32 portid)
{
	struct ckpt_msgbuf *b;

	if (!atomic_read(&ckpt_nr_msgs))
		return;
	spin_lock(&ckpt_msg_lock);
	b = ckpt_msg_find(net, portid);
	if (b) {
		hash_del(&b->node);
		atomic_dec(&ckpt_nr_msgs);
	}
	spin_unlock(&ckpt_msg_lock);
	kfree(b);
}

void ckpt_msg_release_all(void)
{
	struct ckpt_msgbuf *b;
	struct hlist_node *tmp;
	int bkt;

	spin_lock(&ckpt_msg_lock);
	hash_for_each_safe(ckpt_msgs, bkt, tmp, b, node) {
		hash_del(&b->node);
		atomic_dec(&ckpt_nr_msgs);
		kfree(b);
	}
	spin_unlock(&ckpt_msg_lock);
}

#endif /* NL_SET_ERR_MSG_FMT */
