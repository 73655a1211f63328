// Package kmod talks to the ckpt_pids kernel module: it loads and unloads
// the module and is the client of its generic-netlink family.
//
// A Client is made with Dial, which resolves the family; when the module is
// not loaded Dial returns an error matching ErrNotLoaded (and, like every
// error here, the underlying errno, so errors.Is(err, unix.ENOENT) works).
// Tests pass a fake connection to newClient, in the manner of wgctrl-go.
package kmod
