package scenario

import (
	"testing"

	"github.com/ckpt-nl/ckpt-nl/go/image"
	"github.com/ckpt-nl/ckpt-nl/go/model"
	"github.com/ckpt-nl/ckpt-nl/go/plan"
	"github.com/ckpt-nl/ckpt-nl/go/sim"
)

// The hot paths of checkpoint and restart on a 10,000-task tree over 4
// pid-namespace levels: building the canonical snapshot from a backend's
// raw records, encoding and decoding the image, planning the restart.

func wide10k(b *testing.B) (*model.Raw, *model.Snapshot) {
	b.Helper()
	sc := Wide(10000, 4)
	res, err := sim.Run(sc.Plan, sim.Forward)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := res.Raw(sc.Root, sc.Mode)
	if err != nil {
		b.Fatal(err)
	}
	s, err := model.Build(raw)
	if err != nil {
		b.Fatal(err)
	}
	return raw, s
}

func BenchmarkBuild10k(b *testing.B) {
	raw, _ := wide10k(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := model.Build(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode10k(b *testing.B) {
	_, s := wide10k(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := image.Encode(s, image.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode10k(b *testing.B) {
	_, s := wide10k(b)
	data, err := image.Encode(s, image.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := image.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMakeForest10k(b *testing.B) {
	_, s := wide10k(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := plan.MakeForest(s, plan.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
