package procfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Children lists the child processes of process pid, in the caller's pid
// namespace, from /proc/PID/task/*/children: every thread's children. A
// thread that exits while it is read is skipped.
func Children(pid int) ([]int, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task/"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("procfs: %w", err)
	}
	var kids []int
	for _, t := range tasks {
		b, err := os.ReadFile(dir + t.Name() + "/children")
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("procfs: %w", err)
		}
		for _, f := range strings.Fields(string(b)) {
			k, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("procfs: %schildren: %q", dir+t.Name()+"/", f)
			}
			kids = append(kids, k)
		}
	}
	return kids, nil
}
