package bpfsnap

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/ckpt-nl/ckpt-nl/go/bpfprog"
	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot"
)

// records builds iterator output: a pid record per object, then a task.
func records(t testing.TB) []byte {
	le := binary.NativeEndian
	var b []byte
	// pid writes an object record; no numbers means outside the root's
	// namespace (depth -1).
	pid := func(key uint64, nums ...int32) {
		depth := int32(len(nums) - 1)
		r := make([]byte, bpfprog.RecPidSize+len(nums)*bpfprog.RecLevel)
		le.PutUint32(r, bpfprog.RecPid)
		le.PutUint32(r[4:], uint32(len(r)))
		le.PutUint64(r[8:], key)
		le.PutUint32(r[16:], uint32(depth))
		for i, n := range nums {
			le.PutUint32(r[bpfprog.RecPidSize+i*8:], uint32(n))
			le.PutUint32(r[bpfprog.RecPidSize+i*8+4:], uint32(100+i))
		}
		b = append(b, r...)
	}
	task := func(p, tg, pg, sid, pp uint64, state, exitState uint32, callerNr int32, comm string) {
		r := make([]byte, bpfprog.RecTaskSize)
		le.PutUint32(r, bpfprog.RecTask)
		le.PutUint32(r[4:], bpfprog.RecTaskSize)
		for i, k := range []uint64{p, tg, pg, sid, pp} {
			le.PutUint64(r[8+8*i:], k)
		}
		le.PutUint32(r[48:], state)
		le.PutUint32(r[52:], exitState)
		le.PutUint32(r[60:], uint32(callerNr))
		copy(r[64:], comm)
		b = append(b, r...)
	}
	pid(0xa, 1)
	pid(0xf) // the root's parent, outside
	task(0xa, 0xa, 0xa, 0xa, 0xf, 1, 0, 4242, "init")
	pid(0xb, 7, 1)
	task(0xb, 0xb, 0xa, 0xa, 0xa, taskStopped, 0, 4243, "child")
	pid(0xc, 8)
	task(0xc, 0xc, 0xa, 0xa, 0xa, 0, exitZombie, 4244, "zombie")
	pid(0xd, 9)
	task(0xd, 0xd, 0xa, 0xa, 0xa, 0, exitDead, 4245, "reaped")
	return b
}

func TestParse(t *testing.T) {
	raw, err := Parse(records(t), snapshot.Request{Pid: 4242, Mode: model.ModeContainer})
	if err != nil {
		t.Fatal(err)
	}
	s, err := model.Build(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Tasks) != 3 {
		t.Fatalf("%d tasks, want 3 (the one being reaped dropped)", len(s.Tasks))
	}
	if s.Tasks[1].State != model.Stopped || s.Tasks[2].State != model.Zombie || s.Tasks[0].Comm != "init" {
		t.Errorf("tasks = %+v", s.Tasks)
	}
	if got := s.Pids[1].Numbers; len(got) != 2 || got[1] != 1 {
		t.Errorf("nested pid numbers = %v, want [7 1]", got)
	}
}

func TestParseErrors(t *testing.T) {
	good := records(t)
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"truncated", good[:len(good)-3], "out of bounds"},
		{"unknown type", append([]byte{9, 0, 0, 0, 8, 0, 0, 0}, good...), "unknown record type 9"},
		{"no root", good, "not a process"},
	} {
		req := snapshot.Request{Pid: 4242}
		if tc.name == "no root" {
			req.Pid = 1
		}
		_, err := Parse(tc.b, req)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(records(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		raw, err := Parse(b, snapshot.Request{Pid: 4242, Mode: model.ModeSubtree})
		if err != nil {
			return
		}
		model.Build(raw)
	})
}
