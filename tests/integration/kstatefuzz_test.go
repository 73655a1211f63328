package integration

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/ckpt-nl/ckpt-nl/go/kmod"
	"github.com/ckpt-nl/ckpt-nl/go/uapi"
)

// The stateful kernel-interface fuzzer: random sequences of context
// create, add, attach (from the launcher's main thread, from threads that
// then exit, from children that exit or linger), commit, abort, socket
// close and launcher kill, so that commits and kills meet members in every
// state. TestKernelFuzz only sends single random messages.

// agent is a launcher that attaches on command: "main CTX IDX" (its main
// thread), "thread CTX IDX" (a thread that exits right after), "child CTX
// IDX" (a child that attaches, then exits or sleeps at random). One
// answer line each: "ok" or the error.
func roleAgent() {
	runtime.LockOSThread()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var how string
		var id, idx uint32
		if _, err := fmt.Sscanf(in.Text(), "%s %d %d", &how, &id, &idx); err != nil {
			fmt.Println("bad command")
			continue
		}
		switch how {
		case "main":
			fmt.Println(agentAttach(id, idx))
		case "thread":
			done := make(chan string)
			go func() {
				runtime.LockOSThread() // never unlocked: the thread exits
				done <- agentAttach(id, idx)
			}()
			fmt.Println(<-done)
		case "child":
			cmd := exec.Command("/proc/self/exe", "-test.run=^$")
			cmd.Env = append(os.Environ(), "CKPT_NL_ROLE=agent-child",
				fmt.Sprintf("CKPT_NL_ATTACH=%d %d", id, idx))
			out, err := cmd.Output()
			if err != nil && len(out) == 0 {
				fmt.Println(err)
				continue
			}
			fmt.Println(strings.TrimSpace(string(out)))
		default:
			fmt.Println("bad command")
		}
	}
}

// roleAgentChild attaches, says so, then exits or leaves a lingering
// child of its own (below the launcher, and no member).
func roleAgentChild() {
	var id, idx uint32
	fmt.Sscanf(os.Getenv("CKPT_NL_ATTACH"), "%d %d", &id, &idx)
	fmt.Println(agentAttach(id, idx))
	if idx%2 == 0 {
		cmd := exec.Command("/proc/self/exe", "-test.run=^$")
		cmd.Env = append(os.Environ(), "CKPT_NL_ROLE=sleep")
		cmd.Start()
	}
	os.Stdout.Close()
}

func agentAttach(id, idx uint32) string {
	c, err := kmod.Dial()
	if err != nil {
		return err.Error()
	}
	defer c.Close()
	if err := c.Attach(id, idx); err != nil {
		return err.Error()
	}
	return "ok"
}

// fuzzState is one fuzzing client: a socket, its context, an agent.
type fuzzState struct {
	rng   *rand.Rand
	conn  *rawConn
	ctx   uint32
	nr    [2]uint32 // pids, members of ctx
	agent *helper
	stats map[string]int
}

func (f *fuzzState) count(op string, errno unix.Errno) {
	f.stats[fmt.Sprintf("%s:%v", op, errno == 0)]++
}

func (f *fuzzState) newAgent() error {
	if f.agent != nil {
		f.agent.kill()
	}
	h, err := newHelper("agent", nil)
	f.agent = h
	return err
}

// answer reads the agent's answer, or kills it after 10 s.
func (f *fuzzState) answer() string {
	ch := make(chan string, 1)
	go func() {
		s, _ := f.agent.out.ReadString('\n')
		ch <- strings.TrimSpace(s)
	}()
	select {
	case s := <-ch:
		return s
	case <-time.After(10 * time.Second):
		f.agent.kill()
		return "timeout"
	}
}

// step does one random operation.
func (f *fuzzState) step() error {
	switch op := f.rng.IntN(10); {
	case op == 0: // a new socket: the old one's context dies with it
		f.conn.c.Close()
		c, err := dialRawErr()
		if err != nil {
			return err
		}
		f.conn, f.ctx = c, 0
		f.count("close", 0)
	case op == 1: // the launcher dies
		if err := f.newAgent(); err != nil {
			return err
		}
		f.count("agent", 0)
	case op <= 3:
		np, nm := uint32(1+f.rng.IntN(3)), uint32(1+f.rng.IntN(2))
		id, errno, _ := f.conn.create(f.agent.cmd.Process.Pid, np, nm)
		f.count("create", errno)
		if errno == 0 {
			f.ctx, f.nr = id, [2]uint32{np, nm}
			if f.rng.IntN(4) != 0 {
				f.addAll()
			}
		}
	case op <= 5 && f.rng.IntN(2) == 0:
		f.addAll()
	case op <= 5:
		_, errno, _ := f.conn.do(uapi.CmdCtxAdd, func(ae *netlink.AttributeEncoder) {
			ae.Uint32(uapi.AttrCtx, f.ctx)
			for i := 0; i < 1+f.rng.IntN(4); i++ {
				if f.rng.IntN(2) == 0 {
					ae.Nested(uapi.AttrPid, func(nae *netlink.AttributeEncoder) error {
						n := 1 + f.rng.IntN(2)
						nums, ns := make([]uint32, n), make([]uint32, n)
						for l := range nums {
							nums[l] = uint32(f.rng.IntN(400))
							ns[l] = uint32(f.rng.IntN(4))
						}
						nae.Uint32(uapi.PidAttrTag, uint32(1+f.rng.IntN(3)))
						nae.Bytes(uapi.PidAttrNumbers, u32s(nums...))
						nae.Bytes(uapi.PidAttrNs, u32s(ns...))
						return nil
					})
					continue
				}
				ae.Nested(uapi.AttrTask, func(nae *netlink.AttributeEncoder) error {
					nae.Uint32(uapi.TaskAttrPid, uint32(f.rng.IntN(4)))
					nae.Uint32(uapi.TaskAttrTgid, uint32(f.rng.IntN(4)))
					nae.Uint32(uapi.TaskAttrPgid, []uint32{0, 1, 2, uapi.TagRootSession}[f.rng.IntN(4)])
					nae.Uint32(uapi.TaskAttrSid, []uint32{0, 1, 2, uapi.TagRootSession}[f.rng.IntN(4)])
					nae.Uint32(uapi.TaskAttrKind, uint32(1+f.rng.IntN(4)))
					nae.Uint32(uapi.TaskAttrParent, []uint32{0, 1, uapi.NoMember}[f.rng.IntN(3)])
					return nil
				})
			}
		})
		f.count("add", errno)
	case op <= 7:
		how := []string{"main", "thread", "child"}[f.rng.IntN(3)]
		fmt.Fprintf(f.agent.in, "%s %d %d\n", how, f.ctx, f.rng.IntN(int(f.nr[1])+1)%(int(f.nr[1])+1))
		a := f.answer()
		if a == "timeout" || a == "" {
			if err := f.newAgent(); err != nil {
				return err
			}
		}
		f.count("attach-"+how, map[bool]unix.Errno{true: 0, false: 1}[a == "ok"])
	case op == 8:
		_, errno, _ := f.conn.do(uapi.CmdCtxCommit, func(ae *netlink.AttributeEncoder) { ae.Uint32(uapi.AttrCtx, f.ctx) })
		f.stats["commit:"+unix.ErrnoName(errno)]++ // how far it got
	default:
		_, errno, _ := f.conn.do(uapi.CmdCtxAbort, func(ae *netlink.AttributeEncoder) { ae.Uint32(uapi.AttrCtx, f.ctx) })
		f.count("abort", errno)
	}
	return nil
}

func dialRawErr() (*rawConn, error) {
	k, err := kmod.Dial()
	if err != nil {
		return nil, err
	}
	fam := k.FamilyID()
	k.Close()
	c, err := dialGenl()
	if err != nil {
		return nil, err
	}
	return &rawConn{c: c, fam: fam}, nil
}

// stateFuzz runs n random steps and returns the counts of each outcome.
func stateFuzz(seed uint64, n int) (string, error) {
	f := &fuzzState{rng: rand.New(rand.NewPCG(seed, 12)), stats: map[string]int{}}
	var err error
	if f.conn, err = dialRawErr(); err != nil {
		return "", err
	}
	if err := f.newAgent(); err != nil {
		return "", err
	}
	defer func() {
		f.conn.c.Close()
		f.agent.kill()
	}()
	for i := 0; i < n; i++ {
		if err := f.step(); err != nil {
			return "", err
		}
	}
	return fmt.Sprint(f.stats), nil
}

// roleStateFuzz runs stateFuzz (CKPT_NL_STATEFUZZ="seed count") and
// prints its counts or "error ...".
func roleStateFuzz() {
	var seed uint64
	var n int
	fmt.Sscanf(os.Getenv("CKPT_NL_STATEFUZZ"), "%d %d", &seed, &n)
	s, err := stateFuzz(seed, n)
	if err != nil {
		fmt.Println("error", err)
		return
	}
	fmt.Println(s)
}

// liveContexts reads the module's count of live restart contexts.
func liveContexts(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/sys/module/ckpt_pids/parameters/live_contexts")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestKernelStateFuzz runs the stateful fuzzer as root and as root in a
// user namespace of its own (CKPT_NL_STATEFUZZ_STEPS steps each, default
// 600), then checks that no context is left and the module still answers.
// The guest runs with panic_on_warn.
func TestKernelStateFuzz(t *testing.T) {
	needKmod(t)
	steps := 600
	if v, err := strconv.Atoi(os.Getenv("CKPT_NL_STATEFUZZ_STEPS")); err == nil {
		steps = v
	}
	before := liveContexts(t)
	// Each fuzzer runs as the init of a pid namespace of its own, so that
	// every task it leaves behind dies with it.
	for i, who := range []string{"root", "root in a user namespace"} {
		start := time.Now()
		cmd := exec.Command("/proc/self/exe", "-test.run=^$")
		cmd.Env = append(os.Environ(), "CKPT_NL_ROLE=statefuzz", fmt.Sprintf("CKPT_NL_STATEFUZZ=%d %d", i+1, steps))
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
		if i == 1 {
			cmd.SysProcAttr = &syscall.SysProcAttr{
				Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID,
				UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: attackerUID, Size: 1}},
				GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: attackerUID, Size: 1}},
				Credential:  &syscall.Credential{Uid: 0, Gid: 0},
			}
		}
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil || strings.HasPrefix(string(out), "error") {
			t.Fatalf("%s: %v: %s", who, err, out)
		}
		t.Logf("%s: %d steps in %v: %s", who, steps, time.Since(start).Round(time.Millisecond),
			strings.TrimSpace(string(out)))
	}

	var n int
	for i := 0; i < 100; i++ {
		if n = liveContexts(t); n == before {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n != before {
		t.Errorf("%d restart contexts left behind (%d before)", n-before, before)
	}
	c, err := kmod.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Features(); err != nil {
		t.Fatalf("after fuzzing: %v", err)
	}
}

// addAll sends a context's whole content at once, plausible: the agent's
// own pid as tag 1 now and then, so that commits get past the numbers.
func (f *fuzzState) addAll() {
	_, errno, _ := f.conn.do(uapi.CmdCtxAdd, func(ae *netlink.AttributeEncoder) {
		ae.Uint32(uapi.AttrCtx, f.ctx)
		for tag := uint32(1); tag <= f.nr[0]; tag++ {
			nr := uint32(1 + f.rng.IntN(400))
			if f.rng.IntN(2) == 0 {
				nr = uint32(f.agent.cmd.Process.Pid)
			}
			ae.Nested(uapi.AttrPid, func(nae *netlink.AttributeEncoder) error {
				nae.Uint32(uapi.PidAttrTag, tag)
				nae.Bytes(uapi.PidAttrNumbers, u32s(nr))
				nae.Bytes(uapi.PidAttrNs, u32s(1))
				return nil
			})
		}
		for i := uint32(0); i < f.nr[1]; i++ {
			ae.Nested(uapi.AttrTask, func(nae *netlink.AttributeEncoder) error {
				tag := uint32(f.rng.IntN(int(f.nr[0]) + 1))
				if i == 0 {
					tag = 1
				}
				nae.Uint32(uapi.TaskAttrPid, tag)
				nae.Uint32(uapi.TaskAttrTgid, []uint32{0, tag}[f.rng.IntN(2)])
				nae.Uint32(uapi.TaskAttrPgid, []uint32{0, 1, uapi.TagRootSession}[f.rng.IntN(3)])
				nae.Uint32(uapi.TaskAttrSid, []uint32{0, 1, uapi.TagRootSession}[f.rng.IntN(3)])
				nae.Uint32(uapi.TaskAttrKind, []uint32{uapi.KindTask, uint32(1 + f.rng.IntN(4))}[f.rng.IntN(2)])
				nae.Uint32(uapi.TaskAttrParent, []uint32{0, uapi.NoMember}[f.rng.IntN(2)])
				return nil
			})
		}
	})
	f.count("add-all", errno)
}
