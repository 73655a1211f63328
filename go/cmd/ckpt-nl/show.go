package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/ckpt-nl/ckpt-nl/go/image"
	"github.com/ckpt-nl/ckpt-nl/go/model"
)

func init() {
	var format string
	register(&command{
		name:    "show",
		summary: "print an image's tree: pids per level, groups, sessions, ghosts, namespaces",
		usage:   "FILE",
		examples: []string{"ckpt-nl show tree.img", "ckpt-nl show --format json tree.img",
			"ckpt-nl show --format dot tree.img | dot -Tsvg -o tree.svg"},
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&format, "format", "text", "text (like pstree), json, or dot (Graphviz: namespaces as nested boxes)")
			fs.BoolVar(&showJSON, "json", false, "same as --format json")
		},
		run: func(ctx *runContext, args []string) error {
			if len(args) != 1 {
				return &usageError{"want exactly one image file"}
			}
			s, err := image.ReadFile(args[0])
			if err != nil {
				return err
			}
			if showJSON {
				format = "json"
			}
			return writeSnapshot(ctx, s, format)
		},
	})
	var diffJSON bool
	register(&command{
		name:    "diff",
		summary: "list every difference in identity between two images (exit 3 when they differ)",
		usage:   "A.img B.img",
		examples: []string{
			"ckpt-nl diff before.img after.img",
		},
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&diffJSON, "json", false, "print the differences as a JSON list")
		},
		run: func(ctx *runContext, args []string) error {
			if len(args) != 2 {
				return &usageError{"want two image files"}
			}
			a, err := image.ReadFile(args[0])
			if err != nil {
				return err
			}
			b, err := image.ReadFile(args[1])
			if err != nil {
				return err
			}
			return reportDiff(ctx, model.Diff(a, b), args[0], args[1], diffJSON)
		},
	})
}

var showJSON bool

func writeSnapshot(ctx *runContext, s *model.Snapshot, format string) error {
	switch format {
	case "text":
		return s.WriteText(ctx.stdout)
	case "json":
		enc := json.NewEncoder(ctx.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	case "dot":
		return s.WriteDot(ctx.stdout)
	}
	return &usageError{fmt.Sprintf("unknown format %q (want text, json or dot)", format)}
}

// reportDiff prints differences and turns them into the exit status.
func reportDiff(ctx *runContext, d []string, a, b string, asJSON bool) error {
	if asJSON {
		if d == nil {
			d = []string{}
		}
		if err := json.NewEncoder(ctx.stdout).Encode(map[string]any{"first": a, "second": b, "equal": len(d) == 0, "differences": d}); err != nil {
			return err
		}
		if len(d) > 0 {
			return &exitError{code: exitMismatch}
		}
		return nil
	}
	if len(d) == 0 {
		fmt.Fprintf(ctx.stdout, "%s and %s describe the same identity\n", a, b)
		return nil
	}
	for _, line := range d {
		fmt.Fprintln(ctx.stdout, line)
	}
	return &exitError{code: exitMismatch, msg: fmt.Sprintf("%d differences (first: %s, second: %s)", len(d), a, b)}
}
