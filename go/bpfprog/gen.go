// Package bpfprog holds ckpt-nl's compiled eBPF programs and loads them:
// the task counter (the bare kernel walk), the snapshot iterator and the
// change counter.
//
// The objects are generated from bpf/*.bpf.c by bpf2go and committed, so a
// plain "go build" needs no clang; "make generate" rebuilds them and
// "make check-generated" fails when they are stale.
package bpfprog

//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target bpfel count ../../bpf/count.bpf.c -- -I../../bpf
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target bpfel snapshot ../../bpf/snapshot.bpf.c -- -I../../bpf
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target bpfel changes ../../bpf/changes.bpf.c -- -I../../bpf
