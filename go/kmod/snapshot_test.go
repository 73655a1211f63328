package kmod

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/genetlink/genltest"
	"github.com/mdlayher/netlink"

	"github.com/ckpt-nl/ckpt-nl/go/uapi"
)

func snapshotReply(t testing.TB, withHeader bool, nrTasks uint32) []genetlink.Message {
	ae := netlink.NewAttributeEncoder()
	if withHeader {
		ae.Uint32(uapi.AttrNrPids, 2)
		ae.Uint32(uapi.AttrNrVpids, 1)
		ae.Uint32(uapi.AttrNrTasks, nrTasks)
	}
	ae.Nested(uapi.AttrPid, func(nae *netlink.AttributeEncoder) error {
		nae.Uint32(uapi.PidAttrTag, 1)
		nae.Bytes(uapi.PidAttrNumbers, []byte{1, 0, 0, 0})
		nae.Bytes(uapi.PidAttrNs, []byte{7, 0, 0, 0})
		return nil
	})
	m1, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	ae = netlink.NewAttributeEncoder()
	ae.Nested(uapi.AttrPid, func(nae *netlink.AttributeEncoder) error {
		nae.Uint32(uapi.PidAttrTag, 2)
		nae.Bytes(uapi.PidAttrNumbers, []byte{5, 0, 0, 0, 1, 0, 0, 0})
		nae.Bytes(uapi.PidAttrNs, []byte{7, 0, 0, 0, 8, 0, 0, 0})
		return nil
	})
	for _, tk := range []SnapshotTask{
		{Pid: 1, Tgid: 1, Pgid: 1, Sid: 1, State: uapi.StateAlive, Nr: 4242, Comm: "init"},
		{Pid: 2, Tgid: 2, Pgid: 1, Sid: 1, PPid: 1, State: uapi.StateZombie, ExitCode: 0x300, Nr: 4243, Comm: "z"},
	} {
		ae.Nested(uapi.AttrTask, func(nae *netlink.AttributeEncoder) error {
			nae.Uint32(uapi.TaskAttrPid, tk.Pid)
			nae.Uint32(uapi.TaskAttrTgid, tk.Tgid)
			nae.Uint32(uapi.TaskAttrPgid, tk.Pgid)
			nae.Uint32(uapi.TaskAttrSid, tk.Sid)
			nae.Uint32(uapi.TaskAttrPpid, tk.PPid)
			nae.Uint32(uapi.TaskAttrState, tk.State)
			nae.Uint32(uapi.TaskAttrExitCode, uint32(tk.ExitCode))
			nae.Uint32(uapi.TaskAttrNr, uint32(tk.Nr))
			nae.String(uapi.TaskAttrComm, tk.Comm)
			return nil
		})
	}
	m2, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return []genetlink.Message{{Data: m1}, {Data: m2}}
}

func TestSnapshotDump(t *testing.T) {
	c := fakeClient(t, genltest.CheckRequest(testFamily.ID, uapi.CmdSnapshot, netlink.Request|netlink.Dump,
		func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
			ad, err := netlink.NewAttributeDecoder(greq.Data)
			if err != nil {
				t.Fatal(err)
			}
			got := map[uint16]uint32{}
			for ad.Next() {
				got[ad.Type()] = ad.Uint32()
			}
			if diff := cmp.Diff(map[uint16]uint32{uapi.AttrRootPid: 4242, uapi.AttrMode: uapi.ModeSubtree}, got); diff != "" {
				t.Errorf("request attributes (-want +got):\n%s", diff)
			}
			return snapshotReply(t, true, 2), nil
		}))
	r, err := c.Snapshot(4242, uapi.ModeSubtree)
	if err != nil {
		t.Fatal(err)
	}
	want := &SnapshotReply{
		NrPids: 2, NrVpids: 1, NrTasks: 2,
		Pids: []SnapshotPid{
			{Tag: 1, Numbers: []int32{1}, NS: []uint32{7}},
			{Tag: 2, Numbers: []int32{5, 1}, NS: []uint32{7, 8}},
		},
		Tasks: []SnapshotTask{
			{Pid: 1, Tgid: 1, Pgid: 1, Sid: 1, State: uapi.StateAlive, Nr: 4242, Comm: "init"},
			{Pid: 2, Tgid: 2, Pgid: 1, Sid: 1, PPid: 1, State: uapi.StateZombie, ExitCode: 0x300, Nr: 4243, Comm: "z"},
		},
	}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("Snapshot (-want +got):\n%s", diff)
	}
}

func TestSnapshotDumpInconsistent(t *testing.T) {
	for _, tc := range []struct {
		name   string
		msgs   []genetlink.Message
		errors string
	}{
		{"no header", snapshotReply(t, false, 2), "no header"},
		{"missing task", snapshotReply(t, true, 3), "announced"},
	} {
		_, err := parseSnapshot(tc.msgs)
		if err == nil || !strings.Contains(err.Error(), tc.errors) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func FuzzParseSnapshot(f *testing.F) {
	msgs := snapshotReply(f, true, 2)
	f.Add(msgs[0].Data, msgs[1].Data)
	f.Fuzz(func(t *testing.T, a, b []byte) {
		parseSnapshot([]genetlink.Message{{Data: a}, {Data: b}})
	})
}
