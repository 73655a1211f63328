package integration

// The attacks of issue 12 on the module's restart contexts, each tried
// the way a local user would: as root, and as root in a user namespace
// of its own (what unshare -Urp gives any user on Debian). Each test
// failed (or crashed the guest) before the fix it names.

import (
	"bufio"
	encbin "encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/ckpt-nl/ckpt-nl/go/kmod"
	"github.com/ckpt-nl/ckpt-nl/go/uapi"
)

// attackerUID is the host uid the user-namespace attacker maps to root.
const attackerUID = 4242

// role runs a helper role of the test binary (see TestMain): it returns
// true when the process was a helper (and has done its work).
func role() bool {
	switch os.Getenv("CKPT_NL_ROLE") {
	case "attach-thread":
		roleAttachThread()
	case "attacker":
		roleAttacker()
	case "victim-parent":
		roleVictimParent()
	case "victim-middle":
		roleVictimMiddle()
	case "agent":
		roleAgent()
	case "agent-child":
		roleAgentChild()
	case "statefuzz":
		roleStateFuzz()
	case "pidns-creator":
		rolePidnsCreator()
	case "lone-launcher":
		roleLoneLauncher()
	case "sleep":
		for {
			time.Sleep(time.Hour) // unlike select{}, not a deadlock to the runtime
		}
	default:
		return false
	}
	return true
}

// rawConn is a generic-netlink socket for hand-made ckpt_pids requests.
type rawConn struct {
	c   *genetlink.Conn
	fam uint16
}

func dialRaw(t testing.TB) *rawConn {
	t.Helper()
	k, err := kmod.Dial()
	if err != nil {
		t.Fatal(err)
	}
	fam := k.FamilyID()
	k.Close()
	c, err := dialGenl()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{c: c, fam: fam}
}

// dialGenl opens a generic-netlink socket with extended acks.
func dialGenl() (*genetlink.Conn, error) {
	return genetlink.Dial(&netlink.Config{Strict: true})
}

// do sends cmd with attrs and returns the replies, or the errno and the
// extended-ack message.
func (r *rawConn) do(cmd uint8, attrs func(ae *netlink.AttributeEncoder)) ([]genetlink.Message, unix.Errno, string) {
	flags := netlink.Request | netlink.Acknowledge
	if cmd == uapi.CmdCtxCreate {
		flags = netlink.Request // the reply is the answer; an ack would follow it
	}
	ae := netlink.NewAttributeEncoder()
	attrs(ae)
	b, err := ae.Encode()
	if err != nil {
		return nil, unix.EINVAL, err.Error()
	}
	msgs, err := r.c.Execute(genetlink.Message{Header: genetlink.Header{Command: cmd, Version: uapi.GenlVersion},
		Data: b}, r.fam, flags)
	if err == nil {
		return msgs, 0, ""
	}
	var oe *netlink.OpError
	var errno unix.Errno
	if errors.As(err, &oe) && errors.As(oe.Err, &errno) {
		return nil, errno, oe.Message
	}
	return nil, unix.EIO, err.Error()
}

// create sends CTX_CREATE and returns the context id (0 on error).
func (r *rawConn) create(launcher int, nrPids, nrTasks uint32) (uint32, unix.Errno, string) {
	msgs, errno, msg := r.do(uapi.CmdCtxCreate, func(ae *netlink.AttributeEncoder) {
		ae.Uint32(uapi.AttrMode, uapi.ModeSubtree)
		ae.Uint32(uapi.AttrLauncher, uint32(launcher))
		ae.Uint32(uapi.AttrNrPids, nrPids)
		ae.Uint32(uapi.AttrNrTasks, nrTasks)
	})
	if errno != 0 {
		return 0, errno, msg
	}
	for _, m := range msgs {
		ad, err := netlink.NewAttributeDecoder(m.Data)
		if err != nil {
			continue
		}
		for ad.Next() {
			if ad.Type() == uapi.AttrCtx {
				return ad.Uint32(), 0, ""
			}
		}
	}
	return 0, unix.EIO, "no context id in the reply"
}

func u32s(v ...uint32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		encbin.NativeEndian.PutUint32(b[4*i:], x)
	}
	return b
}

// addPid sends one CKPT_PIDS_A_PID nest to context id.
func (r *rawConn) addPid(id, tag uint32, numbers, ns []uint32) (unix.Errno, string) {
	_, errno, msg := r.do(uapi.CmdCtxAdd, func(ae *netlink.AttributeEncoder) {
		ae.Uint32(uapi.AttrCtx, id)
		ae.Nested(uapi.AttrPid, func(nae *netlink.AttributeEncoder) error {
			nae.Uint32(uapi.PidAttrTag, tag)
			nae.Bytes(uapi.PidAttrNumbers, u32s(numbers...))
			nae.Bytes(uapi.PidAttrNs, u32s(ns...))
			return nil
		})
	})
	return errno, msg
}

// TestContextBounds: counts beyond the module's max_members, a second
// context on one socket, and out-of-range pid numbers and namespace tags
// are refused with messages that name them (before: a 4M-member context
// asked for about 1.1 GiB, any number of contexts per socket, and a
// namespace tag of 0x10000000 made commit ask kvmalloc for gigabytes, a
// WARN). Creating a context costs nothing until its content is sent.
func TestContextBounds(t *testing.T) {
	needKmod(t)
	r := dialRaw(t)
	sleeper := startSleeper(t)

	_, errno, msg := r.create(sleeper, 1<<22, 1<<22)
	if errno != unix.E2BIG || !strings.Contains(msg, "max_members") {
		t.Fatalf("create with 4M members = %v %q, want E2BIG naming max_members", errno, msg)
	}
	t.Logf("4M members: %v: %s", errno, msg)

	before := memFree(t)
	id, errno, msg := r.create(sleeper, 1<<16, 1<<16)
	if errno != 0 {
		t.Fatalf("create with 64K members: %v %s", errno, msg)
	}
	if used := before - memFree(t); used > 4<<20 {
		t.Errorf("an empty 64K-member context took %d KiB of memory", used>>10)
	}
	if _, errno, msg := r.create(sleeper, 1, 1); errno != unix.EBUSY {
		t.Errorf("a second context on one socket = %v %q, want EBUSY", errno, msg)
	}
	for _, c := range []struct {
		name        string
		numbers, ns []uint32
		want        string
	}{
		{"namespace tag 0x10000000", []uint32{5}, []uint32{0x10000000}, "namespace tag 268435456 at level 0"},
		{"namespace tag 0", []uint32{5, 6}, []uint32{1, 0}, "namespace tag 0 at level 1"},
		{"pid number 0", []uint32{0}, []uint32{1}, "number 0 at level 0"},
		{"pid number beyond PID_MAX_LIMIT", []uint32{7, 1 << 23}, []uint32{1, 2}, "number 8388608 at level 1"},
	} {
		errno, msg := r.addPid(id, 1, c.numbers, c.ns)
		if errno != unix.ERANGE || !strings.Contains(msg, c.want) || !strings.Contains(msg, "pid tag 1") {
			t.Errorf("%s: %v %q, want ERANGE naming %q and the pid tag", c.name, errno, msg, c.want)
		}
	}
	if _, errno, msg := r.do(uapi.CmdCtxAbort, func(ae *netlink.AttributeEncoder) { ae.Uint32(uapi.AttrCtx, id) }); errno != 0 {
		t.Fatalf("abort: %v %s", errno, msg)
	}
	// Committing a context that never got its content.
	id, errno, msg = r.create(sleeper, 3, 2)
	if errno != 0 {
		t.Fatalf("create: %v %s", errno, msg)
	}
	_, errno, msg = r.do(uapi.CmdCtxCommit, func(ae *netlink.AttributeEncoder) { ae.Uint32(uapi.AttrCtx, id) })
	if errno != unix.EBUSY || !strings.Contains(msg, "0 of 2 members") {
		t.Errorf("commit of an empty context = %v %q, want EBUSY saying what is missing", errno, msg)
	}
}

// memFree is MemFree of /proc/meminfo in bytes.
func memFree(t testing.TB) int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemFree:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no MemFree in /proc/meminfo")
	return 0
}

// TestContextPolicies: every context command refuses an attribute it
// does not use (before, all five shared one policy).
func TestContextPolicies(t *testing.T) {
	needKmod(t)
	r := dialRaw(t)
	sleeper := startSleeper(t)
	for _, c := range []struct {
		cmd   uint8
		name  string
		attrs func(ae *netlink.AttributeEncoder)
	}{
		{uapi.CmdCtxCreate, "create with a context id", func(ae *netlink.AttributeEncoder) {
			ae.Uint32(uapi.AttrMode, uapi.ModeSubtree)
			ae.Uint32(uapi.AttrLauncher, uint32(sleeper))
			ae.Uint32(uapi.AttrNrPids, 1)
			ae.Uint32(uapi.AttrNrTasks, 1)
			ae.Uint32(uapi.AttrCtx, 1)
		}},
		{uapi.CmdCtxAdd, "add with nr_pids", func(ae *netlink.AttributeEncoder) {
			ae.Uint32(uapi.AttrCtx, 1)
			ae.Uint32(uapi.AttrNrPids, 1)
		}},
		{uapi.CmdCtxAttach, "attach with a launcher", func(ae *netlink.AttributeEncoder) {
			ae.Uint32(uapi.AttrCtx, 1)
			ae.Uint32(uapi.AttrMember, 0)
			ae.Uint32(uapi.AttrLauncher, 1)
		}},
		{uapi.CmdCtxCommit, "commit with a member", func(ae *netlink.AttributeEncoder) {
			ae.Uint32(uapi.AttrCtx, 1)
			ae.Uint32(uapi.AttrMember, 0)
		}},
		{uapi.CmdCtxAbort, "abort with nr_tasks", func(ae *netlink.AttributeEncoder) {
			ae.Uint32(uapi.AttrCtx, 1)
			ae.Uint32(uapi.AttrNrTasks, 1)
		}},
	} {
		_, errno, msg := r.do(c.cmd, c.attrs)
		if errno != unix.EINVAL || msg == "" {
			t.Errorf("%s = %v %q, want EINVAL with a message", c.name, errno, msg)
			continue
		}
		t.Logf("%s: %s", c.name, msg)
	}
}

// helper starts the test binary in a helper role with pipes to it.
type helper struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func startHelper(t *testing.T, role string, attr *syscall.SysProcAttr) *helper {
	t.Helper()
	h, err := newHelper(role, attr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.kill)
	return h
}

// newHelper is startHelper for any goroutine: the caller kills it.
func newHelper(role string, attr *syscall.SysProcAttr) (*helper, error) {
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), "CKPT_NL_ROLE="+role)
	cmd.SysProcAttr = attr
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", role, err)
	}
	return &helper{cmd: cmd, in: in, out: bufio.NewReader(out)}, nil
}

func (h *helper) kill() {
	h.cmd.Process.Kill()
	h.cmd.Wait()
}

// line reads the helper's next line, or fails after a minute.
func (h *helper) line(t *testing.T) string {
	t.Helper()
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := h.out.ReadString('\n')
		ch <- res{strings.TrimSpace(s), err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("helper: %v", r.err)
		}
		return r.s
	case <-time.After(time.Minute):
		t.Fatal("helper: no answer in a minute")
	}
	return ""
}

func (h *helper) send(t *testing.T, format string, args ...any) {
	t.Helper()
	if _, err := fmt.Fprintf(h.in, format+"\n", args...); err != nil {
		t.Fatal(err)
	}
}

// roleAttachThread attaches one of its threads to a context and lets the
// thread exit: "tid N", then on "go CTX", "attached" or the error, then
// "gone" once the thread is released.
func roleAttachThread() {
	runtime.LockOSThread() // keep the goroutine below off the main thread
	in := bufio.NewScanner(os.Stdin)
	tids := make(chan int)
	done := make(chan string)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		tids <- unix.Gettid()
		in.Scan()
		var id uint32
		fmt.Sscanf(in.Text(), "go %d", &id)
		c, err := kmod.Dial()
		if err != nil {
			done <- err.Error()
			return
		}
		err = c.Attach(id, 0)
		c.Close()
		if err != nil {
			done <- err.Error()
			return
		}
		done <- "attached"
	}()
	tid := <-tids
	if tid == os.Getpid() {
		fmt.Println("error: the goroutine runs on the main thread")
	}
	fmt.Printf("tid %d\n", tid)
	fmt.Println(<-done)
	for i := 0; i < 500; i++ {
		if _, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", tid)); err != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("gone")
	for {
		time.Sleep(time.Hour)
	}
}

// TestCommitExitedMember: a member thread that exits (and is released at
// once, as threads are) before commit: commit fails naming the member
// instead of dereferencing the thread's vanished pid (before: a NULL
// pointer dereference in the commit path, a kernel panic).
func TestCommitExitedMember(t *testing.T) {
	needKmod(t)
	h := startHelper(t, "attach-thread", nil)
	var tid int
	if _, err := fmt.Sscanf(h.line(t), "tid %d", &tid); err != nil {
		t.Fatal(err)
	}
	c, err := kmod.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id, err := c.CreateContext(uapi.ModeSubtree, h.cmd.Process.Pid,
		[]kmod.ContextPid{{Numbers: []int32{int32(tid)}, NS: []uint32{1}}},
		[]kmod.Member{{Tag: 1, Kind: uapi.KindTask, Parent: uapi.NoMember}})
	if err != nil {
		t.Fatal(err)
	}
	h.send(t, "go %d", id)
	if s := h.line(t); s != "attached" {
		t.Fatalf("attach: %s", s)
	}
	if s := h.line(t); s != "gone" {
		t.Fatalf("helper: %s", s)
	}
	err = c.CommitContext(id)
	var ke *kmod.Error
	if !errors.As(err, &ke) || ke.Errno != syscall.ESRCH || !strings.Contains(ke.Message, "member 0") ||
		!strings.Contains(ke.Message, "exited") {
		t.Fatalf("commit with an exited member = %v, want ESRCH naming member 0 as exited", err)
	}
	t.Logf("kernel said: %s", ke.Message)
}

// roleVictimParent (root, started inside the attacker's pid namespace)
// starts victim-middle, says its pid (in that namespace) and exits, so
// that the attacker's init inherits it.
func roleVictimParent() {
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), "CKPT_NL_ROLE=victim-middle")
	if err := cmd.Start(); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Printf("middle %d\n", cmd.Process.Pid)
	os.Exit(0)
}

// roleVictimMiddle starts the victim proper, a sleeper, and waits.
func roleVictimMiddle() {
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), "CKPT_NL_ROLE=sleep")
	if err := cmd.Start(); err != nil {
		os.Exit(1)
	}
	cmd.Wait()
	os.Exit(1)
}

// roleAttacker is root in a user and pid namespace of its own (a host
// uid without privilege). Commands on stdin, one answer line each:
// "own": a context whose launcher is its own child, then abort;
// "launcher N": kill(N, 0), then a context with launcher N aborted, and
// another dropped by closing its socket.
func roleAttacker() {
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		switch f[0] {
		case "own":
			child := exec.Command("/proc/self/exe", "-test.run=^$")
			child.Env = append(os.Environ(), "CKPT_NL_ROLE=sleep")
			if err := child.Start(); err != nil {
				fmt.Println("error", err)
				continue
			}
			fmt.Println(attackerContext(child.Process.Pid, true))
			child.Process.Kill()
			child.Wait()
		case "launcher":
			n, _ := strconv.Atoi(f[1])
			kill := "kill ok"
			if err := unix.Kill(n, 0); err != nil {
				kill = "kill " + err.Error()
			}
			fmt.Printf("%s; abort: %s; close: %s\n", kill, attackerContext(n, true), attackerContext(n, false))
		}
	}
}

// attackerContext creates a one-member context with launcher n and
// aborts it (or closes its socket): what the kernel said.
func attackerContext(n int, abort bool) string {
	c, err := kmod.Dial()
	if err != nil {
		return "dial: " + err.Error()
	}
	defer c.Close()
	id, err := c.CreateContext(uapi.ModeSubtree, n, []kmod.ContextPid{{Numbers: []int32{1}, NS: []uint32{1}}},
		[]kmod.Member{{Tag: 1, Kind: uapi.KindTask, Parent: uapi.NoMember}})
	if err != nil {
		return "create: " + err.Error()
	}
	if abort {
		if err := c.AbortContext(id); err != nil {
			return "abort: " + err.Error()
		}
		return "created and aborted"
	}
	return "created and closed"
}

// childrenOf lists the processes whose parent is ppid (host pids).
func childrenOf(ppid int) []int {
	var kids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(st)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) > 1 && f[1] == strconv.Itoa(ppid) && f[0] != "Z" {
			kids = append(kids, pid)
		}
	}
	return kids
}

// procAlive: the process exists and is not a zombie.
func procAlive(pid int) bool {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !strings.Contains(string(st), ") Z ")
}

// TestAbortSparesOtherUsers: root in a user namespace of its own (as any
// user can be on Debian) is pid 1 of its pid namespace, so it inherits
// the orphans of a root process that entered that namespace. Making such
// an orphan its launcher, then aborting or closing the socket, killed the
// orphan's children, root's processes it could not kill(2) itself. Now a
// launcher the caller may not signal is refused, and a kill reaches only
// tasks the creator could signal; the same attacker still restarts its
// own tasks.
func TestAbortSparesOtherUsers(t *testing.T) {
	needKmod(t)
	a := startHelper(t, "attacker", &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: attackerUID, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: attackerUID, Size: 1}},
		// Root inside, attackerUID outside: no privilege on the host.
		Credential: &syscall.Credential{Uid: 0, Gid: 0},
	})
	if s := a.line(t); s != "ready" {
		t.Fatalf("attacker: %s", s)
	}
	a.send(t, "own")
	if s := a.line(t); s != "created and aborted" {
		t.Fatalf("root in a user namespace, own launcher: %s", s)
	}

	// Root enters the attacker's pid namespace and leaves an orphan there.
	apid := a.cmd.Process.Pid
	errc := make(chan error, 1)
	var v *helper
	go func() {
		runtime.LockOSThread() // this thread's pid namespace changes: it dies with the goroutine
		fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/pid", apid), unix.O_RDONLY, 0)
		if err == nil {
			err = unix.Setns(fd, unix.CLONE_NEWPID)
			unix.Close(fd)
		}
		if err == nil {
			v, err = newHelper("victim-parent", nil)
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.kill)
	var middleNS int
	if _, err := fmt.Sscanf(v.line(t), "middle %d", &middleNS); err != nil {
		t.Fatal(err)
	}
	v.cmd.Wait()
	var middle, victim int
	for i := 0; i < 500 && victim == 0; i++ {
		if kids := childrenOf(apid); len(kids) == 1 {
			middle = kids[0]
			if gk := childrenOf(middle); len(gk) == 1 {
				victim = gk[0]
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if victim == 0 {
		t.Fatal("the orphan and its child did not appear under the attacker")
	}
	t.Cleanup(func() { syscall.Kill(middle, syscall.SIGKILL); syscall.Kill(victim, syscall.SIGKILL) })

	a.send(t, "launcher %d", middleNS)
	got := a.line(t)
	t.Logf("attacker: %s", got)
	if !strings.Contains(got, "kill operation not permitted") {
		t.Errorf("the attacker could kill(2) root's process: %s", got)
	}
	time.Sleep(200 * time.Millisecond)
	if !procAlive(middle) || !procAlive(victim) {
		t.Fatalf("root's processes were killed by the attacker's context (%s)", got)
	}
	if strings.Contains(got, "created") {
		t.Errorf("a launcher the caller may not signal was accepted: %s", got)
	}
}

// roleLoneLauncher is a launcher that leads its own session and attaches
// itself (its main thread) as the only member: "pid N", then on "go CTX"
// "attached" or the error. With CKPT_NL_EXTRA=1 it first starts a child
// that is no member.
func roleLoneLauncher() {
	runtime.LockOSThread() // the main thread attaches: tid == pid
	if _, err := unix.Setsid(); err != nil {
		fmt.Println("error: setsid:", err)
	}
	if os.Getenv("CKPT_NL_EXTRA") == "1" {
		extra := exec.Command("/proc/self/exe", "-test.run=^$")
		extra.Env = append(os.Environ(), "CKPT_NL_ROLE=sleep", "CKPT_NL_EXTRA=")
		if err := extra.Start(); err != nil {
			fmt.Println("error:", err)
		}
	}
	if unix.Gettid() != os.Getpid() {
		fmt.Println("error: not on the main thread")
	}
	fmt.Printf("pid %d\n", os.Getpid())
	in := bufio.NewScanner(os.Stdin)
	in.Scan()
	var id uint32
	fmt.Sscanf(in.Text(), "go %d", &id)
	c, err := kmod.Dial()
	if err == nil {
		err = c.Attach(id, 0)
		c.Close()
	}
	if err != nil {
		fmt.Println(err)
	} else {
		fmt.Println("attached")
	}
	for {
		time.Sleep(time.Hour)
	}
}

// TestCommitOnlyMembers: commit refuses a tree in which a task below
// the launcher is no member (before, nothing checked it); the same tree
// without that task commits, and stays.
func TestCommitOnlyMembers(t *testing.T) {
	needKmod(t)
	for _, extra := range []bool{false, true} {
		h := newHelperT(t, "lone-launcher", extra)
		var pid int
		if _, err := fmt.Sscanf(h.line(t), "pid %d", &pid); err != nil {
			t.Fatal(err)
		}
		c, err := kmod.Dial()
		if err != nil {
			t.Fatal(err)
		}
		id, err := c.CreateContext(uapi.ModeSubtree, h.cmd.Process.Pid,
			[]kmod.ContextPid{{Numbers: []int32{int32(pid)}, NS: []uint32{1}}},
			[]kmod.Member{{Tag: 1, Tgid: 1, Pgid: 1, Sid: 1, Kind: uapi.KindTask, Parent: uapi.NoMember}})
		if err != nil {
			t.Fatal(err)
		}
		h.send(t, "go %d", id)
		if s := h.line(t); s != "attached" {
			t.Fatalf("attach: %s", s)
		}
		err = c.CommitContext(id)
		c.Close()
		if !extra {
			if err != nil {
				t.Fatalf("commit of a tree of members only: %v", err)
			}
			if !procAlive(pid) {
				t.Fatal("the committed tree was killed")
			}
			continue
		}
		var ke *kmod.Error
		if !errors.As(err, &ke) || ke.Errno != syscall.EINVAL || !strings.Contains(ke.Message, "is not a member") {
			t.Fatalf("commit with a task that is no member = %v, want EINVAL naming it", err)
		}
		t.Logf("kernel said: %s", ke.Message)
	}
}

// newHelperT is startHelper for lone-launcher, with or without an extra
// child.
func newHelperT(t *testing.T, role string, extra bool) *helper {
	t.Helper()
	if extra {
		t.Setenv("CKPT_NL_EXTRA", "1")
	} else {
		t.Setenv("CKPT_NL_EXTRA", "")
	}
	return startHelper(t, role, nil)
}

// rolePidnsCreator is root in a user namespace of its own but still in
// the initial pid namespace (unshare -Ur, then unshare -p without
// --fork): its child is pid 1 of a pid namespace its user namespace owns.
// It restarts into that namespace: one line, "created and aborted" or the
// error.
func rolePidnsCreator() {
	// Go probes clone(CLONE_PIDFD) with a child that exits at once, on
	// its first fork: let that happen here, or the probe would be the
	// new namespace's init, and its death the namespace's end.
	probe := exec.Command("/proc/self/exe", "-test.run=^$")
	probe.Env = append(os.Environ(), "CKPT_NL_ROLE=", "CKPT_NL_EXIT=1")
	probe.Run()
	res := make(chan string)
	go func() {
		runtime.LockOSThread() // this thread's children go to the new namespace; it dies with us
		if err := unix.Unshare(unix.CLONE_NEWPID); err != nil {
			res <- "unshare: " + err.Error()
			return
		}
		child := exec.Command("/proc/self/exe", "-test.run=^$")
		child.Env = append(os.Environ(), "CKPT_NL_ROLE=sleep")
		if err := child.Start(); err != nil {
			res <- "start: " + err.Error()
			return
		}
		s := attackerContext(child.Process.Pid, true)
		child.Process.Kill()
		child.Wait()
		res <- s
	}()
	fmt.Println(<-res)
}

// TestCreateInOwnPidNamespace: creating a context needs the capability
// over the launcher's pid namespace, where the restart's pids go (clone3's
// set_tid rule), not over the caller's own: root in a user namespace that
// made a pid namespace for its children may restart into it (before,
// EPERM: the caller's pid namespace is the initial one).
func TestCreateInOwnPidNamespace(t *testing.T) {
	needKmod(t)
	h := startHelper(t, "pidns-creator", &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: attackerUID, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: attackerUID, Size: 1}},
		Credential:  &syscall.Credential{Uid: 0, Gid: 0},
	})
	if s := h.line(t); s != "created and aborted" {
		t.Fatalf("root in a user namespace, launcher in its own pid namespace: %s", s)
	}
}
