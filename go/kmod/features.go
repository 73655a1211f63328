package kmod

import (
	"fmt"

	"github.com/mdlayher/netlink"

	"github.com/ckpt-nl/ckpt-nl/go/uapi"
)

// Features is what the loaded module reports about itself.
type Features struct {
	Version       uint32 // family version, uapi.GenlVersion of the module
	ModuleVersion string
	Bits          uint64 // uapi.Feature* bits
	MaxDepth      uint32
	KernelRelease string
}

// Features asks the module for its version and features.
func (c *Client) Features() (Features, error) {
	msgs, err := c.execute(uapi.CmdGetFeatures, 0, nil)
	if err != nil {
		return Features{}, err
	}
	if len(msgs) != 1 {
		return Features{}, fmt.Errorf("kmod: get features: %d replies, want 1", len(msgs))
	}
	return parseFeatures(msgs[0].Data)
}

func parseFeatures(b []byte) (Features, error) {
	var f Features
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return f, fmt.Errorf("kmod: get features: %w", err)
	}
	for ad.Next() {
		switch ad.Type() {
		case uapi.AttrVersion:
			f.Version = ad.Uint32()
		case uapi.AttrModuleVersion:
			f.ModuleVersion = ad.String()
		case uapi.AttrFeatures:
			f.Bits = ad.Uint64()
		case uapi.AttrMaxDepth:
			f.MaxDepth = ad.Uint32()
		case uapi.AttrKernelRelease:
			f.KernelRelease = ad.String()
		}
	}
	if err := ad.Err(); err != nil {
		return f, fmt.Errorf("kmod: get features: %w", err)
	}
	if f.Version == 0 {
		return f, fmt.Errorf("kmod: get features: reply has no version attribute")
	}
	return f, nil
}
