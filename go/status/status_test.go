package status

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ckpt-nl/ckpt-nl/go/kmod"
	"github.com/ckpt-nl/ckpt-nl/go/testenv"
)

func TestProbe(t *testing.T) {
	r := Probe()
	if r.Kernel.Release == "" || strings.HasPrefix(r.Kernel.Release, "unknown") {
		t.Errorf("kernel release %q", r.Kernel.Release)
	}
	var out bytes.Buffer
	if err := r.Write(&out); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())

	if r.Module.Loaded != kmod.Loaded() {
		t.Errorf("module loaded = %v, /sys/module says %v", r.Module.Loaded, kmod.Loaded())
	}
	if testenv.Required("kmod") {
		if !r.Module.Loaded || r.Module.Err != "" || r.Backend != "kmod" {
			t.Errorf("module required: report %+v, backend %s", r.Module, r.Backend)
		}
	}
	if testenv.Required("bpf") && !r.BPF.Iterator {
		t.Errorf("bpf required: %+v", r.BPF)
	}
	if testenv.Required("settid") && !r.SetTID.Supported {
		t.Errorf("clone3 set_tid required: %+v", r.SetTID)
	}
}

// TestProbeUnprivileged checks that an unprivileged run reports what is
// missing instead of failing.
func TestProbeUnprivileged(t *testing.T) {
	r := Probe()
	if r.BPF.Iterator && r.BPF.Err != "" {
		t.Errorf("BPF iterator works but reports an error: %+v", r.BPF)
	}
	if !r.BPF.Iterator && r.BPF.Err == "" {
		t.Errorf("BPF iterator unavailable without a reason: %+v", r.BPF)
	}
	if !r.SetTID.Supported && r.SetTID.Err == "" {
		t.Errorf("set_tid unsupported without a reason: %+v", r.SetTID)
	}
}
