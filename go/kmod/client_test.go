package kmod

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/genetlink/genltest"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/ckpt-nl/ckpt-nl/go/testenv"
	"github.com/ckpt-nl/ckpt-nl/go/uapi"
)

var testFamily = genetlink.Family{ID: 0x24, Version: uapi.GenlVersion, Name: uapi.GenlName}

func fakeClient(t *testing.T, fn genltest.Func) *Client {
	t.Helper()
	c, err := newClient(genltest.Dial(genltest.ServeFamily(testFamily, fn)))
	if err != nil {
		t.Fatalf("newClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func encode(t *testing.T, fn func(ae *netlink.AttributeEncoder)) []byte {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	fn(ae)
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFeatures(t *testing.T) {
	tests := []struct {
		name    string
		reply   []byte
		want    Features
		wantErr bool
	}{
		{
			name: "all attributes",
			reply: encode(t, func(ae *netlink.AttributeEncoder) {
				ae.Uint32(uapi.AttrVersion, 1)
				ae.String(uapi.AttrModuleVersion, "0.1.0")
				ae.Uint64(uapi.AttrFeatures, 3)
				ae.Uint32(uapi.AttrMaxDepth, 32)
				ae.String(uapi.AttrKernelRelease, "6.1.0-56-amd64")
				ae.Uint32(200, 7) // unknown attributes from a newer module are ignored
			}),
			want: Features{Version: 1, ModuleVersion: "0.1.0", Bits: 3, MaxDepth: 32, KernelRelease: "6.1.0-56-amd64"},
		},
		{
			name:    "no version",
			reply:   encode(t, func(ae *netlink.AttributeEncoder) { ae.String(uapi.AttrModuleVersion, "x") }),
			wantErr: true,
		},
		{
			name:    "truncated attribute",
			reply:   []byte{8, 0, 1, 0, 1},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fakeClient(t, genltest.CheckRequest(testFamily.ID, uapi.CmdGetFeatures, netlink.Request,
				func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
					if len(greq.Data) != 0 {
						t.Errorf("request carries %d bytes of attributes, want none", len(greq.Data))
					}
					return []genetlink.Message{{Data: tt.reply}}, nil
				}))
			got, err := c.Features()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Features() error = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); !tt.wantErr && diff != "" {
				t.Errorf("Features() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestErrorKeepsErrno(t *testing.T) {
	c := fakeClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return nil, genltest.Error(int(unix.EOPNOTSUPP))
	})
	_, err := c.Features()
	if !errors.Is(err, unix.EOPNOTSUPP) {
		t.Fatalf("Features() error = %v, want EOPNOTSUPP kept", err)
	}
	var ke *Error
	if !errors.As(err, &ke) || ke.Command != "get features" {
		t.Fatalf("Features() error = %#v, want *Error naming the command", err)
	}
}

func TestNotLoaded(t *testing.T) {
	conn := genltest.Dial(func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return nil, genltest.Error(int(unix.ENOENT))
	})
	defer conn.Close()
	_, err := newClient(conn)
	if !errors.Is(err, ErrNotLoaded) || !errors.Is(err, unix.ENOENT) {
		t.Fatalf("newClient() error = %v, want ErrNotLoaded wrapping ENOENT", err)
	}
}

// TestModuleFeatures is the real round trip with the loaded module.
func TestModuleFeatures(t *testing.T) {
	testenv.Need(t, "kmod", Loaded(), "module ckpt_pids not loaded")
	c, err := Dial()
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	f, err := c.Features()
	if err != nil {
		t.Fatalf("Features: %v", err)
	}
	if f.Version != uapi.GenlVersion || c.FamilyVersion() != uapi.GenlVersion {
		t.Errorf("version: attribute %d, family %d, want %d", f.Version, c.FamilyVersion(), uapi.GenlVersion)
	}
	if f.MaxDepth != uapi.MaxDepth {
		t.Errorf("max depth %d, want %d", f.MaxDepth, uapi.MaxDepth)
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	if rel := unix.ByteSliceToString(uts.Release[:]); f.KernelRelease != rel {
		t.Errorf("kernel release %q, want %q", f.KernelRelease, rel)
	}
	t.Logf("module %s, family v%d, features %#x", f.ModuleVersion, f.Version, f.Bits)
}

// TestModuleRejectsAttributes checks the per-op policy: an attribute the
// operation does not take is refused, not ignored.
func TestModuleRejectsAttributes(t *testing.T) {
	testenv.Need(t, "kmod", Loaded(), "module ckpt_pids not loaded")
	c, err := Dial()
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	attrs := encode(t, func(ae *netlink.AttributeEncoder) { ae.Uint32(uapi.AttrVersion, 1) })
	_, err = c.execute(uapi.CmdGetFeatures, 0, attrs)
	var ke *Error
	if !errors.Is(err, unix.EINVAL) || !errors.As(err, &ke) || ke.Message == "" {
		t.Fatalf("get features with an attribute: error = %v, want EINVAL with an extended-ack message", err)
	}
}
