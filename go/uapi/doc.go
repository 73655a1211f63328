// Package uapi holds the numbers of the ckpt_pids generic-netlink family:
// its name, version, commands and attributes.
//
// The constants are generated from the module's uapi header,
// kmod/uapi/ckpt_pids.h, the one source of these numbers; a test fails when
// the generated file and the header disagree. Run "go generate" in this
// directory after changing the header.
package uapi

//go:generate go run ../cheader/cgen -in ../../kmod/uapi/ckpt_pids.h -out zz_generated.go
