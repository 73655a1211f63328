package kmod

import (
	"errors"
	"fmt"
	"os"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/ckpt-nl/ckpt-nl/go/uapi"
)

// ErrNotLoaded is matched by errors from Dial when the ckpt_pids family is
// not registered, that is when the module is not loaded.
var ErrNotLoaded = errors.New("ckpt_pids module not loaded (run: ckpt-nl load)")

// Client is a connection to the ckpt_pids family.
type Client struct {
	c      *genetlink.Conn
	family genetlink.Family
}

// Dial opens a generic-netlink socket and resolves the ckpt_pids family.
func Dial() (*Client, error) {
	// Strict turns on extended acknowledgements: the module's error
	// messages name the task and tag at fault.
	c, err := genetlink.Dial(&netlink.Config{Strict: true})
	if err != nil {
		return nil, fmt.Errorf("kmod: dial generic netlink: %w", err)
	}
	cl, err := newClient(c)
	if err != nil {
		c.Close()
		return nil, err
	}
	return cl, nil
}

// newClient resolves the family over c; tests pass a genltest connection.
func newClient(c *genetlink.Conn) (*Client, error) {
	f, err := c.GetFamily(uapi.GenlName)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOENT) {
			return nil, &notLoadedError{err: err}
		}
		return nil, fmt.Errorf("kmod: resolve family %s: %w", uapi.GenlName, err)
	}
	return &Client{c: c, family: f}, nil
}

type notLoadedError struct{ err error }

func (e *notLoadedError) Error() string { return ErrNotLoaded.Error() }

func (e *notLoadedError) Is(target error) bool { return target == ErrNotLoaded }

func (e *notLoadedError) Unwrap() error { return e.err }

// Close closes the socket. For a restart context this aborts the restart
// unless it was committed.
func (c *Client) Close() error { return c.c.Close() }

// FamilyVersion is the version the kernel registered the family with.
func (c *Client) FamilyVersion() uint8 { return c.family.Version }

// execute sends one request and returns the replies' attribute payloads.
func (c *Client) execute(cmd uint8, flags netlink.HeaderFlags, attrs []byte) ([]genetlink.Message, error) {
	msg := genetlink.Message{
		Header: genetlink.Header{Command: cmd, Version: uapi.GenlVersion},
		Data:   attrs,
	}
	msgs, err := c.c.Execute(msg, c.family.ID, netlink.Request|flags)
	if err != nil {
		return nil, opError(cmd, err)
	}
	return msgs, nil
}

// Error is a failed request: the command, the errno and the kernel's
// extended-ack message. errors.Is matches the errno.
type Error struct {
	Command string
	Errno   unix.Errno
	Message string // extended ack, may be empty
	err     error
}

func (e *Error) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("kmod: %s: %s: %v", e.Command, e.Message, e.Errno)
	}
	return fmt.Sprintf("kmod: %s: %v", e.Command, e.Errno)
}

func (e *Error) Unwrap() error { return e.err }

func (e *Error) Is(target error) bool { return target == e.Errno }

var commandNames = map[uint8]string{
	uapi.CmdGetFeatures: "get features",
	uapi.CmdSnapshot:    "snapshot",
	uapi.CmdCtxCreate:   "create restart context",
	uapi.CmdCtxAdd:      "add to restart context",
	uapi.CmdCtxAttach:   "attach to restart context",
	uapi.CmdCtxCommit:   "commit restart context",
	uapi.CmdCtxAbort:    "abort restart context",
}

func opError(cmd uint8, err error) error {
	name := commandNames[cmd]
	if name == "" {
		name = fmt.Sprintf("command %d", cmd)
	}
	var oe *netlink.OpError
	if errors.As(err, &oe) {
		var errno unix.Errno
		if errors.As(oe.Err, &errno) {
			return &Error{Command: name, Errno: errno, Message: oe.Message, err: err}
		}
	}
	return fmt.Errorf("kmod: %s: %w", name, err)
}
