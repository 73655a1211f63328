// Package executor runs plans for real: it starts the freestanding C
// executor (executor/executor.c, embedded in this package and executed
// from a memfd, so the ckpt-nl binary is the only file a user installs)
// with the plan laid out in a shared memory region, and drives it through
// its barriers.
//
// The layout constants are generated from executor/plan.h; the executor
// binary is built by "go generate" with gcc and committed, like the BPF
// objects, so that "go build" needs no C compiler.
package executor

//go:generate go run ../cheader/cgen -in ../../executor/plan.h -out zz_generated.go -pkg executor -prefix CR_
//go:generate gcc -O2 -static -nostdlib -ffreestanding -fno-stack-protector -fno-asynchronous-unwind-tables -fno-pie -no-pie -fcf-protection=none -Wall -Wextra -Werror -Wl,--build-id=none -I../../kmod/uapi -o executor.bin ../../executor/executor.c
