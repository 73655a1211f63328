// Package status probes what this machine offers ckpt-nl: the kernel, the
// ckpt_pids module and its family, BPF task iterators, and clone3 with
// set_tid. It is the first diagnostic a user runs (ckpt-nl status).
package status

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ckpt-nl/ckpt-nl/go/bpfprog"
	"github.com/ckpt-nl/ckpt-nl/go/kmod"
)

// Report is the result of all probes. Err fields are empty when the probe
// succeeded and say what is missing, and how to fix it, when not.
type Report struct {
	Kernel  Kernel `json:"kernel"`
	Module  Module `json:"module"`
	BPF     BPF    `json:"bpf"`
	SetTID  SetTID `json:"clone3_set_tid"`
	Backend string `json:"checkpoint_backend"` // what --backend auto picks
}

// Kernel identifies the running kernel.
type Kernel struct {
	Release string `json:"release"`
	Version string `json:"version"`
	Machine string `json:"machine"`
}

// Module describes the ckpt_pids module and its generic-netlink family.
type Module struct {
	Loaded        bool   `json:"loaded"`
	FamilyVersion uint32 `json:"family_version,omitempty"`
	ModuleVersion string `json:"module_version,omitempty"`
	Features      uint64 `json:"features"`
	MaxDepth      uint32 `json:"max_depth,omitempty"`
	Err           string `json:"error,omitempty"`
}

// BPF describes BPF task-iterator support.
type BPF struct {
	BTF      bool   `json:"btf"`
	Iterator bool   `json:"task_iterator"`
	Tasks    uint64 `json:"tasks_seen,omitempty"`
	Err      string `json:"error,omitempty"`
}

// SetTID describes clone3 with a set_tid array.
type SetTID struct {
	Supported bool   `json:"supported"`
	Err       string `json:"error,omitempty"`
}

// Probe runs every probe. It never fails: what a probe could not do is in
// the report.
func Probe() Report {
	var r Report
	r.Kernel = probeKernel()
	r.Module = probeModule()
	r.BPF = probeBPF()
	r.SetTID = probeSetTID()
	switch {
	case r.Module.Loaded && r.Module.Err == "":
		r.Backend = "kmod"
	case r.BPF.Iterator:
		r.Backend = "bpf"
	default:
		r.Backend = "procfs"
	}
	return r
}

func probeKernel() Kernel {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return Kernel{Release: "unknown: " + err.Error()}
	}
	return Kernel{
		Release: unix.ByteSliceToString(u.Release[:]),
		Version: unix.ByteSliceToString(u.Version[:]),
		Machine: unix.ByteSliceToString(u.Machine[:]),
	}
}

func probeModule() Module {
	var m Module
	c, err := kmod.Dial()
	if err != nil {
		if errors.Is(err, kmod.ErrNotLoaded) {
			m.Err = "not loaded: run 'ckpt-nl load' (or 'modprobe ckpt_pids' when installed)"
		} else {
			m.Err = err.Error()
		}
		return m
	}
	defer c.Close()
	m.Loaded = true
	f, err := c.Features()
	if err != nil {
		m.Err = err.Error()
		return m
	}
	m.FamilyVersion = f.Version
	m.ModuleVersion = f.ModuleVersion
	m.Features = f.Bits
	m.MaxDepth = f.MaxDepth
	return m
}

func probeBPF() BPF {
	var b BPF
	_, err := os.Stat("/sys/kernel/btf/vmlinux")
	b.BTF = err == nil
	c, err := bpfprog.NewCounter()
	if err != nil {
		b.Err = err.Error()
		if errors.Is(err, unix.EPERM) {
			b.Err += " (needs CAP_BPF and CAP_PERFMON, or root)"
		}
		return b
	}
	defer c.Close()
	n, err := c.Count()
	if err != nil {
		b.Err = err.Error()
		return b
	}
	b.Iterator = true
	b.Tasks = n
	return b
}

func probeSetTID() SetTID {
	if err := clone3SetTID(); err != nil {
		s := SetTID{Err: err.Error()}
		if errors.Is(err, unix.EPERM) {
			s.Err += " (needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN over the target pid namespace)"
		}
		return s
	}
	return SetTID{Supported: true}
}

// Write prints r for people.
func (r Report) Write(w io.Writer) error {
	var b strings.Builder
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "no"
	}
	fmt.Fprintf(&b, "kernel:            %s %s\n", r.Kernel.Release, r.Kernel.Machine)
	fmt.Fprintf(&b, "module ckpt_pids:  %s", map[bool]string{true: "loaded", false: "not loaded"}[r.Module.Loaded])
	if r.Module.Loaded && r.Module.Err == "" {
		fmt.Fprintf(&b, ", version %s, family v%d, features %#x, max depth %d",
			r.Module.ModuleVersion, r.Module.FamilyVersion, r.Module.Features, r.Module.MaxDepth)
	}
	b.WriteString("\n")
	if r.Module.Err != "" {
		fmt.Fprintf(&b, "                   %s\n", r.Module.Err)
	}
	fmt.Fprintf(&b, "bpf task iterator: %s (btf %s", yes(r.BPF.Iterator), yes(r.BPF.BTF))
	if r.BPF.Iterator {
		fmt.Fprintf(&b, ", %d tasks seen", r.BPF.Tasks)
	}
	b.WriteString(")\n")
	if r.BPF.Err != "" {
		fmt.Fprintf(&b, "                   %s\n", r.BPF.Err)
	}
	fmt.Fprintf(&b, "clone3 set_tid:    %s\n", yes(r.SetTID.Supported))
	if r.SetTID.Err != "" {
		fmt.Fprintf(&b, "                   %s\n", r.SetTID.Err)
	}
	fmt.Fprintf(&b, "checkpoint backend (auto): %s\n", r.Backend)
	_, err := io.WriteString(w, b.String())
	return err
}
