package history

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ckpt-nl/ckpt-nl/go/executor"
	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/plan"
	"github.com/ckpt-nl/ckpt-nl/go/restore"
	"github.com/ckpt-nl/ckpt-nl/go/snapshot/procfs"
	"github.com/ckpt-nl/ckpt-nl/go/testenv"
)

// BenchmarkRestartHistory restarts the image of a random history of 1,000
// and of 10,000 tasks and, in the same run, its floor (plan.Floor: the
// same tasks made by clone3 with set_tid and nothing else), alternately,
// and reports both medians and their ratio. The restart time excludes
// reading the tree back (the "check" stage).
func BenchmarkRestartHistory(b *testing.B) {
	testenv.NeedRoot(b)
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			img := historyImage(b, n)
			p, err := plan.MakeForest(img, plan.Options{})
			if err != nil {
				b.Fatal(err)
			}
			floor := plan.Floor(p)
			var rs, fs []time.Duration
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				fr, err := executor.Start(floor, executor.Options{})
				if err != nil {
					b.Fatal(err)
				}
				if err := fr.WaitBarrier(1, 10*time.Minute); err != nil {
					fr.Kill()
					b.Fatal(err)
				}
				fs = append(fs, time.Since(t0))
				top := fr.Pid(1)
				fr.Kill()
				waitGone(top)

				res, err := restore.Restore(img, restore.Options{Reader: procfs.Backend{}})
				if err != nil {
					b.Fatal(err)
				}
				var took time.Duration
				for _, st := range res.Stages {
					if !strings.HasPrefix(st.Name, "check") {
						took += st.Took
					}
				}
				rs = append(rs, took)
				top = res.Top
				res.Kill()
				waitGone(top)
			}
			r, f := median(rs), median(fs)
			b.ReportMetric(float64(len(img.Tasks)), "tasks")
			b.ReportMetric(r.Seconds()*1e3, "restart-ms")
			b.ReportMetric(f.Seconds()*1e3, "floor-ms")
			b.ReportMetric(r.Seconds()/f.Seconds(), "restart/floor")
		})
	}
}

// historyImage builds the history of n tasks (seed n) and checkpoints it.
func historyImage(b *testing.B, n int) *model.Snapshot {
	b.Helper()
	h := Generate(uint64(n), opts(n))
	r, err := h.Build(time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Kill()
	return settled(b, h, r.Pid(1))
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// waitGone waits until pid has disappeared (a pid namespace's teardown
// takes a while for thousands of tasks), so runs do not overlap.
func waitGone(pid int) {
	for i := 0; i < 3000 && pid > 0; i++ {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
