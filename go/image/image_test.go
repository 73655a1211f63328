package image

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/model/modeltest"
)

func sample(t testing.TB) *model.Snapshot {
	s := modeltest.Build(t, model.ModeContainer, modeltest.JobControl())
	s.Meta = model.Meta{Backend: "procfs", Kernel: "6.1.0-56-amd64", Created: 1764259200, RootPid: 4242}
	s.Tasks[1].Argv = []string{"/bin/sh", "-i"}
	return s
}

func TestRoundTrip(t *testing.T) {
	for _, opt := range []Options{{}, {NoMeta: true}} {
		s := sample(t)
		b, err := Encode(s, opt)
		if err != nil {
			t.Fatal(err)
		}
		if len(b)%8 != 0 {
			t.Errorf("image length %d not 8-aligned", len(b))
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if opt.NoMeta {
			s.Meta = model.Meta{}
			for i := range s.Tasks {
				s.Tasks[i].Comm, s.Tasks[i].Argv = "", nil
			}
		}
		if diff := cmp.Diff(s, got); diff != "" {
			t.Errorf("round trip %+v (-want +got):\n%s", opt, diff)
		}
	}
}

func TestSize(t *testing.T) {
	s := sample(t)
	b, err := Encode(s, Options{NoMeta: true})
	if err != nil {
		t.Fatal(err)
	}
	// Identity only: 32 bytes per task, 16 per one-level pid object, plus
	// the fixed header, section headers and checksum.
	fixed := headerSize + 3*sectionSize + len(s.Namespaces)*nsEntrySize + checksumSize
	perTask := float64(len(b)-fixed) / float64(len(s.Tasks))
	if perTask > 64 {
		t.Errorf("%.1f bytes per task, over 64", perTask)
	}
}

// fix recomputes the checksum so a test reaches the decoder's later checks.
func fix(b []byte) []byte {
	n := len(b) - checksumSize
	binary.LittleEndian.PutUint32(b[n:], crc32.Checksum(b[:n], castagnoli))
	return b
}

func TestDecodeErrors(t *testing.T) {
	good, err := Encode(sample(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	pidSec := headerSize + sectionSize + 2*nsEntrySize // start of the pid section header
	tests := []struct {
		name string
		edit func(b []byte) []byte
		want string
	}{
		{"empty", func(b []byte) []byte { return nil }, "bad magic"},
		{"not an image", func(b []byte) []byte { return []byte("#!/bin/sh\necho hi\n") }, "bad magic"},
		{"truncated", func(b []byte) []byte { return b[:len(b)-24] }, "truncated: header says"},
		{"trailing data", func(b []byte) []byte { return append(b, make([]byte, 8)...) }, "trailing data"},
		{"bit flip", func(b []byte) []byte { b[pidSec+20] ^= 0x10; return b }, "checksum mismatch"},
		{"new version", func(b []byte) []byte { b[8] = 9; return fix(b) }, "format version 9 is not supported"},
		{"unknown flag", func(b []byte) []byte { b[12] |= 0x80; return fix(b) }, "unknown flags 0x80"},
		{"deep pid", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[pidSec+sectionSize+8:], 40)
			return fix(b)
		}, "pid section: entry 0: depth 40 exceeds 31"},
		{"huge pid count", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[pidSec+4:], 1<<30)
			return fix(b)
		}, "pid section: 1073741824 entries cannot fit"},
		{"pid section oversized", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[pidSec+8:], 1<<30)
			return fix(b)
		}, "pid section: 1073741824 bytes, but only"},
		{"nr_vpids lies", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[pidSec+12:], 5)
			return fix(b)
		}, "nr_vpids says 5"},
		{"huge nr_vpids", func(b []byte) []byte {
			// Found by FuzzDecodeUnchecked: the count was used to size an
			// allocation before it was bounded.
			binary.LittleEndian.PutUint32(b[pidSec+12:], 1<<30)
			return fix(b)
		}, "nr_vpids 1073741824 cannot fit"},
		{"sections reordered", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[headerSize:], secTasks)
			return fix(b)
		}, "namespace section: found section kind 3"},
		{"contradicting tags", func(b []byte) []byte {
			// The second pid object claims tag 9.
			binary.LittleEndian.PutUint32(b[pidSec+sectionSize+pidEntrySize(0):], 9)
			return fix(b)
		}, "pid section: entry 1: tag 9, want 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.edit(append([]byte(nil), good...))
			_, err := Decode(b)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Decode() = %v, want an error containing %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "image: ") {
				t.Errorf("error %q does not say it is about the image", err)
			}
		})
	}
	if _, err := Decode([]byte("nope")); !errors.Is(err, ErrNotImage) {
		t.Errorf("Decode(garbage) = %v, want ErrNotImage", err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.img")
	s := sample(t)
	if err := WriteFile(path, s, Options{}); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := model.Diff(s, got); len(d) != 0 {
		t.Errorf("read back differs: %q", d)
	}
	// An invalid snapshot leaves neither the file nor a temporary behind.
	bad := sample(t)
	bad.Tasks[1].Pgid = 99
	if err := WriteFile(filepath.Join(dir, "b.img"), bad, Options{}); err == nil {
		t.Fatal("WriteFile of an invalid snapshot succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after a failed write, want only a.img", len(entries))
	}
}

func FuzzDecode(f *testing.F) {
	for _, opt := range []Options{{}, {NoMeta: true}} {
		b, err := Encode(sample(f), opt)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b)
		if err != nil {
			return
		}
		// Whatever decodes must encode again to the same identity.
		out, err := Encode(s, Options{})
		if err != nil {
			t.Fatalf("decoded image does not encode: %v", err)
		}
		s2, err := Decode(out)
		if err != nil {
			t.Fatalf("re-encoded image does not decode: %v", err)
		}
		if d := model.Diff(s, s2); len(d) != 0 {
			t.Fatalf("round trip changed the identity: %q", d)
		}
	})
}

// FuzzDecodeUnchecked skips the checksum so the fuzzer explores the
// parser rather than CRC collisions.
func FuzzDecodeUnchecked(f *testing.F) {
	b, err := Encode(sample(f), Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b[:len(b)-checksumSize])
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) < headerSize || len(body)%8 != 0 {
			return
		}
		b := append(append([]byte(nil), body...), make([]byte, checksumSize)...)
		binary.LittleEndian.PutUint32(b[16:], uint32(len(b)))
		s, err := Decode(fix(b))
		if err != nil {
			return
		}
		if _, err := Encode(s, Options{}); err != nil {
			t.Fatalf("decoded image does not encode: %v", err)
		}
	})
}
