// Package control is mip4d's control API: a unix stream socket, root-only
// (mode 0600), speaking one JSON request and one JSON response per
// connection. `mip4d status`, `mip4d bindings` and the LuCI rpcd plugin
// are its clients.
//
// Request:  {"command": "status"}  or  {"command": "ha-role", "args": ["master"]}
// Response: {"ok": true, "result": {...}}  or  {"ok": false, "error": "..."}
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// DefaultSocket is where the daemon listens unless configured otherwise.
const DefaultSocket = "/var/run/mip4d.sock"

// Request is a control request.
type Request struct {
	Command string   `json:"command"`
	Args    []string `json:"args,omitempty"`
}

// Response is a control response.
type Response struct {
	OK     bool            `json:"ok"`
	Error  string          `json:"error,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}

// Handler answers one command; it returns a value to marshal as the
// result.
type Handler func(ctx context.Context) (any, error)

// ArgsHandler answers a command that takes operands.
type ArgsHandler func(ctx context.Context, args []string) (any, error)

// Server serves the control socket.
type Server struct {
	mu       sync.Mutex
	handlers map[string]ArgsHandler
	ln       net.Listener
	path     string
	wg       sync.WaitGroup
}

// NewServer returns a server with no commands.
func NewServer() *Server { return &Server{handlers: map[string]ArgsHandler{}} }

// Handle registers the handler of a command without operands.
func (s *Server) Handle(cmd string, h Handler) {
	s.HandleArgs(cmd, func(ctx context.Context, args []string) (any, error) {
		if len(args) > 0 {
			return nil, fmt.Errorf("%s takes no operands", cmd)
		}
		return h(ctx)
	})
}

// HandleArgs registers the handler of a command with operands.
func (s *Server) HandleArgs(cmd string, h ArgsHandler) {
	s.mu.Lock()
	s.handlers[cmd] = h
	s.mu.Unlock()
}

// Listen creates the socket at path, replacing a stale one, readable and
// writable by root only.
func (s *Server) Listen(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return fmt.Errorf("control: %s is in use: is another mip4d running?", path)
	}
	os.Remove(path)
	old := umask(0o177)
	ln, err := net.Listen("unix", path)
	umask(old)
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return err
	}
	s.ln, s.path = ln, path
	return nil
}

// Serve answers connections until ctx ends or the listener fails.
func (s *Server) Serve(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		s.ln.Close()
	}()
	defer func() {
		s.wg.Wait()
		os.Remove(s.path)
	}()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(ctx, c)
		}()
	}
}

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var req Request
	if err := json.NewDecoder(io.LimitReader(c, 4096)).Decode(&req); err != nil {
		writeResp(c, Response{Error: "bad request: " + err.Error()})
		return
	}
	s.mu.Lock()
	h := s.handlers[req.Command]
	s.mu.Unlock()
	if h == nil {
		writeResp(c, Response{Error: fmt.Sprintf("unknown command %q", req.Command)})
		return
	}
	v, err := h(ctx, req.Args)
	if err != nil {
		writeResp(c, Response{Error: err.Error()})
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		writeResp(c, Response{Error: "encoding result: " + err.Error()})
		return
	}
	writeResp(c, Response{OK: true, Result: b})
}

func writeResp(w io.Writer, r Response) { _ = json.NewEncoder(w).Encode(r) }

// Call sends cmd (with its operands, if any) to the daemon at path and
// returns the result.
func Call(path, cmd string, args ...string) (json.RawMessage, error) {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("cannot reach mip4d at %s: %w (is it running, and are you root?)", path, err)
		}
		return nil, fmt.Errorf("cannot reach mip4d at %s: %w", path, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := json.NewEncoder(c).Encode(Request{Command: cmd, Args: args}); err != nil {
		return nil, err
	}
	var r Response
	if err := json.NewDecoder(c).Decode(&r); err != nil {
		return nil, fmt.Errorf("reading mip4d's answer: %w", err)
	}
	if !r.OK {
		return nil, errors.New(r.Error)
	}
	return r.Result, nil
}
