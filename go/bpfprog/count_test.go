package bpfprog

import (
	"os"
	"testing"

	"github.com/ckpt-nl/ckpt-nl/go/testenv"
)

func TestCounter(t *testing.T) {
	testenv.NeedRoot(t)
	c, err := NewCounter()
	testenv.Need(t, "bpf", err == nil, "task iterator: "+errString(err))
	defer c.Close()

	n, err := c.Count()
	if err != nil {
		t.Fatal(err)
	}
	// Every task has a /proc/PID/task/TID entry: the iterator must see at
	// least the threads of this process and one more task (init).
	threads, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	if n < uint64(len(threads))+1 {
		t.Fatalf("Count() = %d, want at least %d", n, len(threads)+1)
	}
	m, err := c.Count()
	if err != nil {
		t.Fatal(err)
	}
	if m == 0 || m > 2*n+100 {
		t.Fatalf("second Count() = %d after %d: the counter is not reset per walk", m, n)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
