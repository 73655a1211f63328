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
		name:     "show",
		summary:  "print an image's tree: pids per level, groups, sessions, ghosts, namespaces",
		usage:    "FILE",
		examples: []string{"ckpt-nl show tree.img", "ckpt-nl show --format json tree.img"},
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&format, "format", "text", "text (like pstree) or json")
		},
		run: func(ctx *runContext, args []string) error {
			if len(args) != 1 {
				return &usageError{"want exactly one image file"}
			}
			s, err := image.ReadFile(args[0])
			if err != nil {
				return err
			}
			return writeSnapshot(ctx, s, format)
		},
	})
	register(&command{
		name:    "diff",
		summary: "list every difference in identity between two images (exit 3 when they differ)",
		usage:   "A.img B.img",
		examples: []string{
			"ckpt-nl diff before.img after.img",
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
			return reportDiff(ctx, model.Diff(a, b), args[0], args[1])
		},
	})
}

func writeSnapshot(ctx *runContext, s *model.Snapshot, format string) error {
	switch format {
	case "text":
		return s.WriteText(ctx.stdout)
	case "json":
		enc := json.NewEncoder(ctx.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	return &usageError{fmt.Sprintf("unknown format %q (want text or json)", format)}
}

// reportDiff prints differences and turns them into the exit status.
func reportDiff(ctx *runContext, d []string, a, b string) error {
	if len(d) == 0 {
		fmt.Fprintf(ctx.stdout, "%s and %s describe the same identity\n", a, b)
		return nil
	}
	for _, line := range d {
		fmt.Fprintln(ctx.stdout, line)
	}
	return &exitError{code: exitMismatch, msg: fmt.Sprintf("%d differences (first: %s, second: %s)", len(d), a, b)}
}
