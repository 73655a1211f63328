// Command bench measures ckpt-nl against the kernel's own floors, side by
// side in one run: checkpoint of wide trees in nested pid namespaces by
// every backend against a bare BPF task walk, restart against plain
// clone3+set_tid creation of the same tasks, memory per restored task,
// the coordinator's peak memory, image size, and a 32-level namespace
// chain. It writes results as JSON (and, with -report, Markdown and an
// SVG plot of time per task against tree size).
//
// "make bench" runs it on the host and in the VM and writes
// docs/BENCHMARKS.md.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ckpt-nl/ckpt-nl/go/bpfprog"
	"github.com/ckpt-nl/ckpt-nl/go/executor"
	"github.com/ckpt-nl/ckpt-nl/go/image"
	"github.com/ckpt-nl/ckpt-nl/go/kmod"
	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/plan"
	"github.com/ckpt-nl/ckpt-nl/go/restore"
	"github.com/ckpt-nl/ckpt-nl/go/restore/kctx"
	"github.com/ckpt-nl/ckpt-nl/go/scenario"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot/bpfsnap"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot/kmodsnap"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot/procfs"
	"github.com/ckpt-nl/ckpt-nl/go/uapi"
)

// Stat is a measured quantity over several runs.
type Stat struct {
	Runs   int     `json:"runs"`
	Median float64 `json:"median_ms"`
	Min    float64 `json:"min_ms"`
	Max    float64 `json:"max_ms"`
}

func stat(ds []time.Duration) Stat {
	ms := make([]float64, len(ds))
	for i, d := range ds {
		ms[i] = float64(d.Microseconds()) / 1000
	}
	slices.Sort(ms)
	return Stat{Runs: len(ms), Median: ms[len(ms)/2], Min: ms[0], Max: ms[len(ms)-1]}
}

// Size is every measurement at one tree size.
type Size struct {
	Tasks        int             `json:"tasks"`
	Levels       int             `json:"levels"`
	Walk         Stat            `json:"bare_bpf_walk"`
	Checkpoint   map[string]Stat `json:"checkpoint"`
	BPFLoad      Stat            `json:"bpf_program_load"`
	ImageBytes   int             `json:"image_bytes"`
	ImageMeta    int             `json:"image_bytes_with_meta"`
	Vpids        int             `json:"nr_vpids"`
	Floor        Stat            `json:"clone3_set_tid_floor"`
	Restart      Stat            `json:"restart_to_validated"`
	Validate     Stat            `json:"validation"`
	Validation   string          `json:"validation_by"`
	PrivateKiB   float64         `json:"private_kib_per_task_median"`
	CoordPeakMiB float64         `json:"coordinator_peak_mib"`
}

// Result is a whole run.
type Result struct {
	Machine string `json:"machine"`
	Kernel  string `json:"kernel"`
	CPUs    int    `json:"cpus"`
	Date    string `json:"date"`
	Sizes   []Size `json:"sizes"`
	Chain   struct {
		Depth      int     `json:"depth"`
		Checkpoint float64 `json:"checkpoint_ms"`
		Restart    float64 `json:"restart_ms"`
		Equal      bool    `json:"round_trip_equal"`
	} `json:"chain"`
	CRIU *CRIU `json:"criu,omitempty"`
}

func main() {
	sizes := flag.String("sizes", "1000,3000,10000,30000", "tree sizes")
	levels := flag.Int("levels", 4, "pid-namespace levels of the trees")
	runs := flag.Int("runs", 5, "runs of each measurement (3 above 10000 tasks)")
	out := flag.String("o", "bench.json", "JSON results")
	ckptnl := flag.String("ckpt-nl", "", "ckpt-nl binary, for the coordinator's peak memory")
	rep := flag.String("report", "", "instead of measuring: NAME=FILE,... result files to report")
	md := flag.String("md", "docs/BENCHMARKS.md", "Markdown report (with -report)")
	svg := flag.String("svg", "docs/bench.svg", "SVG plot (with -report)")
	print := flag.Bool("print", false, "print the JSON between BEGIN-JSON and END-JSON lines at the end")
	criu := flag.Int("criu", 0, "also compare with criu on a single-level tree of this many tasks (0: no)")
	flag.Parse()
	if *rep != "" {
		if err := report(strings.Split(*rep, ","), *md, *svg); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
		return
	}
	err := run(*sizes, *levels, *runs, *out, *ckptnl, *criu)
	if *print {
		if b, rerr := os.ReadFile(*out); rerr == nil {
			fmt.Printf("BEGIN-JSON\n%s\nEND-JSON\n", b)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func run(sizesFlag string, levels, runs int, out, ckptnl string, criu int) error {
	var r Result
	r.Kernel = snapshot.KernelRelease()
	r.CPUs = runtime.NumCPU()
	r.Date = time.Now().UTC().Format(time.RFC3339)
	if h, err := os.Hostname(); err == nil {
		r.Machine = h
	}
	// Room for 30,000 tasks and their pids, given back at the end.
	for _, k := range []struct{ path, v string }{
		{"/proc/sys/kernel/pid_max", "4194304"}, {"/proc/sys/kernel/threads-max", "1000000"},
	} {
		if old, err := os.ReadFile(k.path); err == nil {
			defer os.WriteFile(k.path, old, 0)
			os.WriteFile(k.path, []byte(k.v), 0)
		}
	}

	for _, f := range strings.Split(sizesFlag, ",") {
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return err
		}
		k := runs
		if n > 10000 {
			k = 3
		}
		sz, err := measure(n, levels, k, ckptnl)
		if err != nil {
			return fmt.Errorf("%d tasks: %w", n, err)
		}
		r.Sizes = append(r.Sizes, *sz)
		save(out, &r)
	}
	if len(r.Sizes) > 0 {
		if err := chain(&r); err != nil {
			return fmt.Errorf("chain: %w", err)
		}
		save(out, &r)
	}
	if criu > 0 {
		c, err := criuCompare(criu, min(runs, 3))
		if err != nil {
			return fmt.Errorf("criu comparison: %w", err)
		}
		r.CRIU = c
	}
	return save(out, &r)
}

func save(path string, r *Result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// build runs a scenario to its parked state.
func build(sc scenario.Scenario) (*executor.Run, error) {
	return buildWith(sc, executor.Options{})
}

// buildWith is build with executor options.
func buildWith(sc scenario.Scenario, opt executor.Options) (*executor.Run, error) {
	run, err := executor.Start(sc.Plan, opt)
	if err != nil {
		return nil, err
	}
	t := 10 * time.Minute
	if err := run.WaitBarrier(1, t); err != nil {
		run.Kill()
		return nil, err
	}
	run.Open(1)
	if err := run.WaitSettled(t); err != nil {
		run.Kill()
		return nil, err
	}
	return run, nil
}

func backends() []snapshot.Backend {
	var bs []snapshot.Backend
	if ok, _ := kmodsnap.Available(); ok {
		bs = append(bs, kmodsnap.Backend{})
	}
	if ok, _ := bpfsnap.Available(); ok {
		bs = append(bs, bpfsnap.Backend{})
	}
	return append(bs, procfs.Backend{})
}

func measure(n, levels, runs int, ckptnl string) (*Size, error) {
	sz := &Size{Tasks: n, Levels: levels, Checkpoint: map[string]Stat{}}
	sc := scenario.Wide(n, levels)
	logf("%d tasks in %d levels: building", n, levels)
	run, err := build(sc)
	if err != nil {
		return nil, err
	}
	root := run.Pid(sc.Root)

	// The floor of a walk: a BPF task iterator that only counts.
	counter, err := bpfprog.NewCounter()
	if err == nil {
		var ds []time.Duration
		for i := 0; i < runs; i++ {
			t0 := time.Now()
			if _, err := counter.Count(); err != nil {
				return nil, err
			}
			ds = append(ds, time.Since(t0))
		}
		sz.Walk = stat(ds)
		counter.Close()
		var loads []time.Duration
		for i := 0; i < runs; i++ {
			t0 := time.Now()
			s, err := bpfprog.NewSnapshotter(1, 1)
			if err != nil {
				break
			}
			c, err := bpfprog.NewChangeCounter(1)
			loads = append(loads, time.Since(t0))
			s.Close()
			if err == nil {
				c.Close()
			}
		}
		if len(loads) > 0 {
			sz.BPFLoad = stat(loads)
		}
	}

	// The BPF backend with its programs loaded once, as a tool that
	// checkpoints repeatedly would keep them.
	if sess, err := bpfsnap.Open(snapshot.Request{Pid: root, Mode: model.ModeContainer}); err == nil {
		var ds []time.Duration
		for i := 0; i < runs; i++ {
			t0 := time.Now()
			if _, err := sess.Snapshot(); err != nil {
				sess.Close()
				return nil, fmt.Errorf("bpf session: %w", err)
			}
			ds = append(ds, time.Since(t0))
		}
		sess.Close()
		sz.Checkpoint["bpf-warm"] = stat(ds)
		logf("  checkpoint bpf (programs loaded): median %.1f ms", sz.Checkpoint["bpf-warm"].Median)
	}

	// The kernel's part alone: the module's dump as it comes off the
	// socket, the iterator's records as read; no model built.
	if c, err := kmod.Dial(); err == nil {
		var ds []time.Duration
		for i := 0; i < runs; i++ {
			t0 := time.Now()
			if _, err := c.Snapshot(root, uapi.ModeContainer); err != nil {
				c.Close()
				return nil, fmt.Errorf("kmod dump: %w", err)
			}
			ds = append(ds, time.Since(t0))
		}
		c.Close()
		sz.Checkpoint["kmod-dump"] = stat(ds)
	}
	if it, err := bpfprog.NewSnapshotter(nsInode(root), nsInode(os.Getpid())); err == nil {
		var ds []time.Duration
		for i := 0; i < runs; i++ {
			t0 := time.Now()
			if _, err := it.Read(); err != nil {
				it.Close()
				return nil, fmt.Errorf("bpf read: %w", err)
			}
			ds = append(ds, time.Since(t0))
		}
		it.Close()
		sz.Checkpoint["bpf-read"] = stat(ds)
	}

	var snap *model.Snapshot
	for _, be := range backends() {
		var ds []time.Duration
		for i := 0; i < runs; i++ {
			t0 := time.Now()
			s, err := be.Snapshot(snapshot.Request{Pid: root, Mode: model.ModeContainer})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", be.Name(), err)
			}
			ds = append(ds, time.Since(t0))
			snap = s
		}
		sz.Checkpoint[be.Name()] = stat(ds)
		logf("  checkpoint %s: median %.1f ms", be.Name(), sz.Checkpoint[be.Name()].Median)
	}
	run.Kill()
	b, _ := image.Encode(snap, image.Options{NoMeta: true})
	sz.ImageBytes = len(b)
	b, _ = image.Encode(snap, image.Options{})
	sz.ImageMeta = len(b)
	sz.Vpids = snap.NrVpids()

	// The floor of a restart: the same tasks created with clone3 and
	// set_tid by the same executor, and nothing else.
	p, err := plan.MakeForest(snap, plan.Options{})
	if err != nil {
		return nil, err
	}
	floor := plan.Floor(p)
	var fl []time.Duration
	for i := 0; i < runs; i++ {
		t0 := time.Now()
		fr, err := executor.Start(floor, executor.Options{})
		if err != nil {
			return nil, err
		}
		if err := fr.WaitBarrier(1, 10*time.Minute); err != nil {
			fr.Kill()
			return nil, err
		}
		fl = append(fl, time.Since(t0))
		top := fr.Pid(1)
		fr.Kill()
		waitGone(top)
	}
	sz.Floor = stat(fl)

	var rs, vs []time.Duration
	var last *restore.Result
	for i := 0; i < runs; i++ {
		opt := restore.Options{Reader: backends()[0]}
		if v, err := kctx.New(); err == nil {
			opt.Validator = v
		}
		res, err := restore.Restore(snap, opt)
		if opt.Validator != nil {
			opt.Validator.Close()
		}
		if err != nil {
			return nil, err
		}
		var total time.Duration
		for _, st := range res.Stages {
			if strings.HasPrefix(st.Name, "check") {
				continue // reading the tree back is not part of the restart
			}
			total += st.Took
			if st.Name == "validate" {
				vs = append(vs, st.Took)
			}
		}
		rs = append(rs, total)
		if last != nil {
			last.Kill()
		}
		last = res
		sz.Validation = res.Validation
	}
	sz.Restart = stat(rs)
	if len(vs) > 0 {
		sz.Validate = stat(vs)
	}
	sz.PrivateKiB = privateKiB(last)
	last.Kill()
	logf("  restart: median %.1f ms (floor %.1f ms), %.1f KiB private per task", sz.Restart.Median, sz.Floor.Median, sz.PrivateKiB)

	if ckptnl != "" {
		sz.CoordPeakMiB, err = coordinatorPeak(ckptnl, snap)
		if err != nil {
			return nil, err
		}
	}
	return sz, nil
}

func nsInode(pid int) uint32 {
	var st syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/pid", pid), &st); err != nil {
		return 0
	}
	return uint32(st.Ino)
}

func waitGone(pid int) {
	for i := 0; i < 500; i++ {
		if err := syscall.Kill(pid, 0); err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// privateKiB is the median private memory of up to 50 restored tasks.
func privateKiB(res *restore.Result) float64 {
	var ks []float64
	for i := range res.Tree.Tasks {
		if len(ks) == 50 {
			break
		}
		t := &res.Tree.Tasks[i]
		if t.State == model.Zombie || t.IsThread() {
			continue
		}
		pid := res.Root
		if i > 0 {
			continue
		}
		ks = append(ks, private(pid))
	}
	// The root's children, in our namespace, through /proc.
	kids, _ := procfs.Children(res.Root)
	for _, kid := range kids {
		if len(ks) == 50 {
			break
		}
		ks = append(ks, private(kid))
	}
	slices.Sort(ks)
	if len(ks) == 0 {
		return 0
	}
	return ks[len(ks)/2]
}

func private(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0
	}
	var kib float64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "Private_Clean:" || f[0] == "Private_Dirty:") {
			v, _ := strconv.ParseFloat(f[1], 64)
			kib += v
		}
	}
	return kib
}

// coordinatorPeak runs ckpt-nl restart on s and returns its peak RSS.
func coordinatorPeak(bin string, s *model.Snapshot) (float64, error) {
	dir, err := os.MkdirTemp("", "bench-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	img := filepath.Join(dir, "t.img")
	if err := image.WriteFile(img, s, image.Options{}); err != nil {
		return 0, err
	}
	cmd := exec.Command(bin, "restart", img)
	outb, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("ckpt-nl restart: %w", err)
	}
	if f := strings.Fields(string(outb)); len(f) > 0 {
		if root, err := strconv.Atoi(f[len(f)-1]); err == nil {
			syscall.Kill(root, syscall.SIGKILL)
		}
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return float64(ru.Maxrss) / 1024, nil
}

// chain checkpoints and restarts a container with the deepest chain of
// pid namespaces the kernel allows below it.
func chain(r *Result) error {
	depth := 32
	sc := scenario.Chain(depth)
	run, err := build(sc)
	if err != nil {
		// One level less if the checkpointer itself is not in the
		// initial namespace.
		depth = 31
		sc = scenario.Chain(depth)
		if run, err = build(sc); err != nil {
			return err
		}
	}
	be := backends()[0]
	t0 := time.Now()
	s, err := be.Snapshot(snapshot.Request{Pid: run.Pid(sc.Root), Mode: model.ModeContainer})
	if err != nil {
		run.Kill()
		return err
	}
	r.Chain.Depth = depth
	r.Chain.Checkpoint = float64(time.Since(t0).Microseconds()) / 1000
	top := run.Pid(sc.Root)
	run.Kill()
	waitGone(top)
	t0 = time.Now()
	res, err := restore.Restore(s, restore.Options{Reader: be})
	if err != nil {
		return err
	}
	r.Chain.Restart = float64(time.Since(t0).Microseconds()) / 1000
	got, err := be.Snapshot(snapshot.Request{Pid: res.Root, Mode: model.ModeContainer})
	r.Chain.Equal = err == nil && len(model.Diff(s, got)) == 0
	res.Kill()
	logf("chain of %d levels: checkpoint %.1f ms, restart %.1f ms, equal %v", depth, r.Chain.Checkpoint, r.Chain.Restart, r.Chain.Equal)
	return nil
}
