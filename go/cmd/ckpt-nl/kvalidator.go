package main

import (
	"github.com/ckpt-nl/ckpt-nl/go/restore"
	"github.com/ckpt-nl/ckpt-nl/go/restore/kctx"
)

// newKernelValidator returns the in-kernel restart context validator.
func newKernelValidator() (restore.Validator, error) {
	v, err := kctx.New()
	if err != nil {
		return nil, err
	}
	return v, nil
}
