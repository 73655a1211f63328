package kmod

import (
	"encoding/binary"
	"fmt"

	"github.com/mdlayher/netlink"

	"github.com/ckpt-nl/ckpt-nl/go/uapi"
)

// Member is one task of a restart context: the pid tag it holds, the tags
// its thread group, process group and session must be (0: not checked,
// or outside), why it exists (uapi.Kind*), and the member index of its
// parent at commit (uapi.NoMember for none).
type Member struct {
	Tag, Tgid, Pgid, Sid uint32
	Kind                 uint32
	Parent               uint32
}

// ContextPid is an expected pid object: numbers and namespace tags from
// the restart root's namespace down.
type ContextPid struct {
	Numbers []int32
	NS      []uint32
}

// maxBatch bounds the attributes of one CTX_ADD message.
const maxBatch = 32 << 10

// CreateContext creates a restart context owned by this client's socket,
// with its expected pid objects (tags 1, 2, ... in order) and members,
// and returns its id. launcher is the pid of the process whose
// descendants the restart creates.
func (c *Client) CreateContext(mode uint32, launcher int, pids []ContextPid, members []Member) (uint32, error) {
	ae := netlink.NewAttributeEncoder()
	ae.Uint32(uapi.AttrMode, mode)
	ae.Uint32(uapi.AttrLauncher, uint32(launcher))
	ae.Uint32(uapi.AttrNrPids, uint32(len(pids)))
	ae.Uint32(uapi.AttrNrTasks, uint32(len(members)))
	b, err := ae.Encode()
	if err != nil {
		return 0, err
	}
	msgs, err := c.execute(uapi.CmdCtxCreate, 0, b)
	if err != nil {
		return 0, err
	}
	var id uint32
	for _, m := range msgs {
		ad, err := netlink.NewAttributeDecoder(m.Data)
		if err != nil {
			return 0, fmt.Errorf("kmod: create context: %w", err)
		}
		for ad.Next() {
			if ad.Type() == uapi.AttrCtx {
				id = ad.Uint32()
			}
		}
	}
	if id == 0 {
		return 0, fmt.Errorf("kmod: create context: no id in the reply")
	}
	if err := c.fillContext(id, pids, members); err != nil {
		c.AbortContext(id)
		return 0, err
	}
	return id, nil
}

// fillContext sends the expectations in messages of at most maxBatch.
func (c *Client) fillContext(id uint32, pids []ContextPid, members []Member) error {
	var ae *netlink.AttributeEncoder
	size := 0
	start := func() {
		ae = netlink.NewAttributeEncoder()
		ae.Uint32(uapi.AttrCtx, id)
		size = 0
	}
	flush := func() error {
		b, err := ae.Encode()
		if err != nil {
			return err
		}
		_, err = c.execute(uapi.CmdCtxAdd, netlink.Acknowledge, b)
		start()
		return err
	}
	start()
	for i, p := range pids {
		nums, ns := make([]byte, 4*len(p.Numbers)), make([]byte, 4*len(p.NS))
		for l := range p.Numbers {
			binary.NativeEndian.PutUint32(nums[4*l:], uint32(p.Numbers[l]))
			binary.NativeEndian.PutUint32(ns[4*l:], p.NS[l])
		}
		tag := uint32(i + 1)
		ae.Nested(uapi.AttrPid, func(nae *netlink.AttributeEncoder) error {
			nae.Uint32(uapi.PidAttrTag, tag)
			nae.Bytes(uapi.PidAttrNumbers, nums)
			nae.Bytes(uapi.PidAttrNs, ns)
			return nil
		})
		if size += 24 + 2*len(nums); size > maxBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	for _, m := range members {
		m := m
		ae.Nested(uapi.AttrTask, func(nae *netlink.AttributeEncoder) error {
			nae.Uint32(uapi.TaskAttrPid, m.Tag)
			nae.Uint32(uapi.TaskAttrTgid, m.Tgid)
			nae.Uint32(uapi.TaskAttrPgid, m.Pgid)
			nae.Uint32(uapi.TaskAttrSid, m.Sid)
			nae.Uint32(uapi.TaskAttrKind, m.Kind)
			nae.Uint32(uapi.TaskAttrParent, m.Parent)
			return nil
		})
		if size += 52; size > maxBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

func (c *Client) ctxCommand(cmd uint8, id uint32) error {
	ae := netlink.NewAttributeEncoder()
	ae.Uint32(uapi.AttrCtx, id)
	b, err := ae.Encode()
	if err != nil {
		return err
	}
	_, err = c.execute(cmd, netlink.Acknowledge, b)
	return err
}

// CommitContext validates the restored tree in the kernel. On success
// the context is gone and the tree is the caller's; on failure the kernel
// has killed the restart.
func (c *Client) CommitContext(id uint32) error { return c.ctxCommand(uapi.CmdCtxCommit, id) }

// AbortContext kills the restart and drops its context.
func (c *Client) AbortContext(id uint32) error { return c.ctxCommand(uapi.CmdCtxAbort, id) }

// Attach attaches the calling task to context id as member. The executor
// attaches its tasks itself, in C; this serves tests of the checks.
func (c *Client) Attach(id, member uint32) error {
	ae := netlink.NewAttributeEncoder()
	ae.Uint32(uapi.AttrCtx, id)
	ae.Uint32(uapi.AttrMember, member)
	b, err := ae.Encode()
	if err != nil {
		return err
	}
	_, err = c.execute(uapi.CmdCtxAttach, netlink.Acknowledge, b)
	return err
}

// FamilyID is the family's generic-netlink id, which the executor's tasks
// use to attach.
func (c *Client) FamilyID() uint16 { return c.family.ID }
