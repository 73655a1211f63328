package integration

import (
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"

	"github.com/ckpt-nl/ckpt-nl/go/kmod"
	"github.com/ckpt-nl/ckpt-nl/go/uapi"
)

// TestKernelFuzz throws random and mutated messages at the family from
// several sockets at once: every command, wrong types, missing and extra
// attributes, huge counts, stale context ids. The guest runs with
// panic_on_warn, so an oops or WARN ends the run; afterwards the module
// must still answer, no restart context may be left once the sockets are
// closed, and the VM harness unloads it (no leaked references).
// CKPT_NL_KFUZZ sets the number of messages (default 5,000; 100,000 in
// make reliability).
func TestKernelFuzz(t *testing.T) {
	needKmod(t)
	total := 5000
	if v, err := strconv.Atoi(os.Getenv("CKPT_NL_KFUZZ")); err == nil {
		total = v
	}
	probe, err := kmod.Dial()
	if err != nil {
		t.Fatal(err)
	}
	fam := probe.FamilyID()
	probe.Close()
	sleeper := startSleeper(t)
	before := liveContexts(t)

	const workers = 4
	var wg sync.WaitGroup
	var mu sync.Mutex
	sent, errs := 0, 0
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 42))
			c, err := genetlink.Dial(&netlink.Config{Strict: true})
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for i := 0; i < total/workers; i++ {
				cmd := uint8(rng.IntN(int(uapi.CmdMax) + 3))
				flags := netlink.Request | netlink.Acknowledge
				if rng.IntN(4) == 0 {
					flags = netlink.Request | netlink.Dump
				}
				msg := genetlink.Message{Header: genetlink.Header{Command: cmd, Version: uint8(rng.IntN(3))},
					Data: fuzzAttrs(rng, sleeper)}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				_, err := c.Execute(msg, fam, flags)
				mu.Lock()
				sent++
				if err != nil {
					errs++
				}
				mu.Unlock()
			}
		}(uint64(w) + 1)
	}
	wg.Wait()
	t.Logf("%d messages from %d sockets in %v, %d refused", sent, workers, time.Since(start), errs)
	// Every socket is closed: nothing of theirs may be left.
	n := liveContexts(t)
	for i := 0; i < 100 && n != before; i++ {
		time.Sleep(20 * time.Millisecond)
		n = liveContexts(t)
	}
	if n != before {
		t.Errorf("%d restart contexts left behind by closed sockets (%d before)", n-before, before)
	}
	// Still sane.
	c, err := kmod.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Features(); err != nil {
		t.Fatalf("after fuzzing: %v", err)
	}
}

// fuzzAttrs builds random attributes: well-typed ones with random
// values, wrong types, nests of junk, and now and then a long run.
func fuzzAttrs(rng *rand.Rand, sleeper int) []byte {
	ae := netlink.NewAttributeEncoder()
	n := rng.IntN(6)
	if rng.IntN(20) == 0 {
		n = 200
	}
	for i := 0; i < n; i++ {
		typ := uint16(rng.IntN(int(uapi.AttrMax) + 4))
		switch rng.IntN(6) {
		case 0:
			ae.Uint32(typ, rng.Uint32())
		case 1:
			// Plausible: small values, existing context ids.
			v := uint32(rng.IntN(8))
			if typ == uapi.AttrLauncher {
				v = uint32(sleeper) // never a live tree of ours
			}
			ae.Uint32(typ, v)
		case 2:
			b := make([]byte, rng.IntN(300))
			for k := range b {
				b[k] = byte(rng.Uint32())
			}
			ae.Bytes(typ, b)
		case 3:
			ae.Nested(typ, func(nae *netlink.AttributeEncoder) error {
				for k := 0; k < rng.IntN(12); k++ {
					nt := uint16(rng.IntN(int(uapi.TaskAttrMax) + 3))
					if rng.IntN(2) == 0 {
						nae.Uint32(nt, rng.Uint32()%64)
					} else {
						nb := make([]byte, rng.IntN(140))
						for x := range nb {
							nb[x] = byte(rng.Uint32())
						}
						nae.Bytes(nt, nb)
					}
				}
				return nil
			})
		case 4:
			ae.Uint64(typ, rng.Uint64())
		default:
			ae.String(typ, "x")
		}
	}
	b, err := ae.Encode()
	if err != nil {
		return nil
	}
	if rng.IntN(10) == 0 && len(b) > 4 { // a truncated or bit-flipped tail
		b = b[:rng.IntN(len(b))]
	} else if rng.IntN(10) == 0 && len(b) > 0 {
		b[rng.IntN(len(b))] ^= byte(1 << rng.IntN(8))
	}
	return b
}
