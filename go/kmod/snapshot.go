package kmod

import (
	"encoding/binary"
	"fmt"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"

	"github.com/ckpt-nl/ckpt-nl/go/uapi"
)

// SnapshotPid is one pid object of a module snapshot.
type SnapshotPid struct {
	Tag     uint32
	Numbers []int32  // from the root's namespace down
	NS      []uint32 // namespace inode at each level
}

// SnapshotTask is one task of a module snapshot; pid objects by tag.
type SnapshotTask struct {
	Pid, Tgid, Pgid, Sid, PPid uint32
	State                      uint32 // uapi.State*
	ExitCode                   int32
	Nr                         int32 // pid in the caller's namespace
	Comm                       string
}

// SnapshotReply is what CKPT_PIDS_CMD_SNAPSHOT returns.
type SnapshotReply struct {
	NrPids, NrVpids, NrTasks uint32
	Pids                     []SnapshotPid
	Tasks                    []SnapshotTask
}

// Snapshot dumps the tree under root (a pid in our namespace) in mode
// (uapi.ModeContainer or uapi.ModeSubtree).
func (c *Client) Snapshot(root int, mode uint32) (*SnapshotReply, error) {
	ae := netlink.NewAttributeEncoder()
	ae.Uint32(uapi.AttrRootPid, uint32(root))
	ae.Uint32(uapi.AttrMode, mode)
	attrs, err := ae.Encode()
	if err != nil {
		return nil, err
	}
	msgs, err := c.execute(uapi.CmdSnapshot, netlink.Dump, attrs)
	if err != nil {
		return nil, err
	}
	return parseSnapshot(msgs)
}

func parseSnapshot(msgs []genetlink.Message) (*SnapshotReply, error) {
	r := &SnapshotReply{}
	header := false
	for _, m := range msgs {
		ad, err := netlink.NewAttributeDecoder(m.Data)
		if err != nil {
			return nil, fmt.Errorf("kmod: snapshot: %w", err)
		}
		for ad.Next() {
			switch ad.Type() {
			case uapi.AttrNrPids:
				r.NrPids, header = ad.Uint32(), true
			case uapi.AttrNrVpids:
				r.NrVpids = ad.Uint32()
			case uapi.AttrNrTasks:
				r.NrTasks = ad.Uint32()
			case uapi.AttrPid:
				var p SnapshotPid
				ad.Nested(func(nad *netlink.AttributeDecoder) error {
					for nad.Next() {
						switch nad.Type() {
						case uapi.PidAttrTag:
							p.Tag = nad.Uint32()
						case uapi.PidAttrNumbers:
							for _, v := range u32s(nad.Bytes()) {
								p.Numbers = append(p.Numbers, int32(v))
							}
						case uapi.PidAttrNs:
							p.NS = u32s(nad.Bytes())
						}
					}
					return nil
				})
				r.Pids = append(r.Pids, p)
			case uapi.AttrTask:
				var t SnapshotTask
				ad.Nested(func(nad *netlink.AttributeDecoder) error {
					for nad.Next() {
						switch nad.Type() {
						case uapi.TaskAttrPid:
							t.Pid = nad.Uint32()
						case uapi.TaskAttrTgid:
							t.Tgid = nad.Uint32()
						case uapi.TaskAttrPgid:
							t.Pgid = nad.Uint32()
						case uapi.TaskAttrSid:
							t.Sid = nad.Uint32()
						case uapi.TaskAttrPpid:
							t.PPid = nad.Uint32()
						case uapi.TaskAttrState:
							t.State = nad.Uint32()
						case uapi.TaskAttrExitCode:
							t.ExitCode = int32(nad.Uint32())
						case uapi.TaskAttrNr:
							t.Nr = int32(nad.Uint32())
						case uapi.TaskAttrComm:
							t.Comm = nad.String()
						}
					}
					return nil
				})
				r.Tasks = append(r.Tasks, t)
			}
		}
		if err := ad.Err(); err != nil {
			return nil, fmt.Errorf("kmod: snapshot: %w", err)
		}
	}
	switch {
	case !header:
		return nil, fmt.Errorf("kmod: snapshot: the dump has no header")
	case len(r.Pids) != int(r.NrPids) || len(r.Tasks) != int(r.NrTasks):
		return nil, fmt.Errorf("kmod: snapshot: %d pids and %d tasks, the header announced %d and %d",
			len(r.Pids), len(r.Tasks), r.NrPids, r.NrTasks)
	}
	vpids := 0
	for i, p := range r.Pids {
		if p.Tag != uint32(i+1) || len(p.Numbers) == 0 || len(p.NS) != len(p.Numbers) {
			return nil, fmt.Errorf("kmod: snapshot: pid record %d is malformed (tag %d, %d numbers, %d namespaces)",
				i, p.Tag, len(p.Numbers), len(p.NS))
		}
		vpids += len(p.Numbers) - 1
	}
	if vpids != int(r.NrVpids) {
		return nil, fmt.Errorf("kmod: snapshot: nr_vpids %d, records sum to %d", r.NrVpids, vpids)
	}
	return r, nil
}

func u32s(b []byte) []uint32 {
	out := make([]uint32, len(b)/4)
	for i := range out {
		out[i] = binary.NativeEndian.Uint32(b[4*i:])
	}
	return out
}
