package main

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/ckpt-nl/ckpt-nl/go/criuimg"
	"github.com/ckpt-nl/ckpt-nl/go/image"
)

func init() {
	register(&command{
		name:     "criu-export",
		summary:  "write an image's process tree as CRIU's pstree.img (and say what CRIU cannot hold)",
		usage:    "FILE DIR",
		examples: []string{"ckpt-nl criu-export tree.img /tmp/criu-dir"},
		run: func(ctx *runContext, args []string) error {
			if len(args) != 2 {
				return &usageError{"want an image file and a directory"}
			}
			s, err := image.ReadFile(args[0])
			if err != nil {
				return err
			}
			if err := os.MkdirAll(args[1], 0o755); err != nil {
				return err
			}
			lost, err := criuimg.Export(s, args[1])
			if err != nil {
				return err
			}
			fmt.Fprintf(ctx.stdout, "wrote %s/pstree.img\n", args[1])
			for _, l := range lost {
				fmt.Fprintf(ctx.stdout, "not in CRIU's image: %s\n", l)
			}
			return nil
		},
	})
	var out string
	register(&command{
		name:     "criu-import",
		summary:  "read a CRIU image directory's process tree into a ckpt-nl image",
		usage:    "DIR -o FILE",
		examples: []string{"ckpt-nl criu-import /var/lib/criu/dump -o tree.img"},
		flags: func(fs *pflag.FlagSet) {
			fs.StringVarP(&out, "output", "o", "", "image file to write")
		},
		run: func(ctx *runContext, args []string) error {
			if len(args) != 1 || out == "" {
				return &usageError{"want a CRIU image directory and -o FILE"}
			}
			s, err := criuimg.Import(args[0])
			if err != nil {
				return err
			}
			if err := image.WriteFile(out, s, image.Options{}); err != nil {
				return err
			}
			fmt.Fprintf(ctx.stdout, "wrote %s: %d tasks from CRIU's %s\n", out, len(s.Tasks), args[0])
			return nil
		},
	})
}
