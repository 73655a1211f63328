package main

import (
	"encoding/json"

	"github.com/spf13/pflag"

	"github.com/ckpt-nl/ckpt-nl/go/status"
)

func init() {
	var asJSON bool
	register(&command{
		name:     "status",
		summary:  "show what this machine offers: kernel, module, BPF iterators, clone3 set_tid",
		examples: []string{"ckpt-nl status", "ckpt-nl status --json"},
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&asJSON, "json", false, "print JSON")
		},
		run: func(ctx *runContext, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			r := status.Probe()
			if asJSON {
				enc := json.NewEncoder(ctx.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			return r.Write(ctx.stdout)
		},
	})
}
