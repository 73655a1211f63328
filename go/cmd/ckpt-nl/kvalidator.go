package main

import (
	"errors"

	"github.com/ckpt-nl/ckpt-nl/go/restore"
)

// newKernelValidator returns the in-kernel restart context validator.
func newKernelValidator() (restore.Validator, error) {
	return nil, errors.New("kmod restart contexts are not available yet")
}
