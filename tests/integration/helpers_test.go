package integration

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-nl/ckpt-nl/go/executor"
	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/scenario"
	"github.com/ckpt-nl/ckpt-nl/go/sim"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot/bpfsnap"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot/kmodsnap"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot/procfs"
	"github.com/ckpt-nl/ckpt-nl/go/testenv"
)

// built is a scenario standing as real tasks.
type built struct {
	sc   scenario.Scenario
	run  *executor.Run
	root int // the checkpoint root's pid in our namespace
	want *model.Snapshot
}

// build makes scenario name (seed) for real and predicts its snapshot.
func build(t testing.TB, name string, seed uint64) *built {
	t.Helper()
	return buildWith(t, name, seed, executor.Options{})
}

// buildWith is build with executor options.
func buildWith(t testing.TB, name string, seed uint64, opt executor.Options) *built {
	t.Helper()
	testenv.NeedRoot(t)
	sc, err := scenario.Get(name, seed)
	if err != nil {
		t.Fatal(err)
	}
	res, err := sim.Run(sc.Plan, sim.Forward)
	if err != nil {
		t.Fatal(err)
	}
	want, err := res.Snapshot(sc.Root, sc.Mode)
	if err != nil {
		t.Fatal(err)
	}
	r := startWith(t, sc, opt)
	b := &built{sc: sc, run: r, want: want}
	// The root's pid in our namespace: the launcher created it, or find
	// it below the container's init by its numbers.
	if sc.Plan.Tasks[sc.Root].Creator == 0 {
		b.root = r.Pid(sc.Root)
	} else {
		init := r.Pid(1)
		b.root, err = locate(init, sc.Plan.Tasks[sc.Root].Numbers)
		if err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// start runs a scenario's plan to the end: the tree stands, parked.
func start(t testing.TB, sc scenario.Scenario) *executor.Run {
	t.Helper()
	return startWith(t, sc, executor.Options{})
}

// startWith is start with executor options.
func startWith(t testing.TB, sc scenario.Scenario, opt executor.Options) *executor.Run {
	t.Helper()
	testenv.NeedRoot(t)
	r, err := executor.Start(sc.Plan, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Kill)
	if err := r.WaitBarrier(1, time.Minute); err != nil {
		t.Fatal(err)
	}
	r.Open(1)
	if err := r.WaitSettled(time.Minute); err != nil {
		t.Fatal(err)
	}
	return r
}

// locate finds, below process top, the process whose innermost numbers
// are nums (through /proc NSpid).
func locate(top int, nums []int32) (int, error) {
	queue := []int{top}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(st), "\n") {
			if !strings.HasPrefix(line, "NSpid:") {
				continue
			}
			f := strings.Fields(line)[1:]
			if len(f) >= len(nums) {
				match := true
				for i, n := range nums {
					if f[len(f)-len(nums)+i] != strconv.Itoa(int(n)) {
						match = false
					}
				}
				if match {
					return p, nil
				}
			}
		}
		kids, _ := procfs.Children(p)
		queue = append(queue, kids...)
	}
	return 0, fmt.Errorf("no task with pids %v below %d", nums, top)
}

// backends are the snapshot backends this machine offers, each with
// whether the environment requires it.
func backends(t testing.TB) []snapshot.Backend {
	t.Helper()
	bs := []snapshot.Backend{procfs.Backend{}}
	if ok, why := bpfsnap.Available(); ok {
		bs = append(bs, bpfsnap.Backend{})
	} else if testenv.Required("bpf") {
		t.Fatalf("bpf backend required but unavailable: %s", why)
	}
	if ok, why := kmodsnap.Available(); ok {
		bs = append(bs, kmodsnap.Backend{})
	} else if testenv.Required("kmod") {
		t.Fatalf("kmod backend required but unavailable: %s", why)
	}
	return bs
}
