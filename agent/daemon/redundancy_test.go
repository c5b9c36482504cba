package daemon

import (
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/config"
	"github.com/mip4d/mip4d/agent/hasync"
)

// TestRedundancyResume: the last role told is resumed from run_dir, but
// master only while the box holds the virtual address.
func TestRedundancyResume(t *testing.T) {
	vip := netip.MustParseAddr("198.51.100.10")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name, file, configured string
		held                   bool
		want                   hasync.Role
	}{
		{"first start, configured backup", "", "backup", false, hasync.RoleBackup},
		{"first start, configured master, address not yet added", "", "master", false, hasync.RoleBackup},
		{"first start, configured master, address held", "", "master", true, hasync.RoleMaster},
		{"daemon restarted alone on the master box", "master\n", "backup", true, hasync.RoleMaster},
		{"box back from a crash, was master", "master\n", "backup", false, hasync.RoleBackup},
		{"was backup, address held (keepalived will say)", "backup\n", "master", true, hasync.RoleBackup},
		{"unreadable role text: configured", "primary\n", "backup", true, hasync.RoleBackup},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.file != "" {
				if err := os.WriteFile(filepath.Join(dir, RoleFileName), []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			c := &config.Config{RunDir: dir, HA: &config.HA{Redundancy: &config.Redundancy{Role: tc.configured}}}
			c.HA.Engine.Addr = vip
			var asked netip.Addr
			red := newRedundancy(c, time.Unix(0, 0), func(a netip.Addr) bool { asked = a; return tc.held }, log)
			if red.role != tc.want {
				t.Fatalf("role %v, want %v", red.role, tc.want)
			}
			if red.role == hasync.RoleMaster && asked != vip {
				t.Fatalf("master without asking about %v (asked %v)", vip, asked)
			}
		})
	}
}

func TestLocalAddrHeld(t *testing.T) {
	if !localAddrHeld(netip.MustParseAddr("127.0.0.1")) {
		t.Fatal("127.0.0.1 not seen on lo")
	}
	if localAddrHeld(netip.MustParseAddr("192.0.2.254")) {
		t.Fatal("192.0.2.254 (TEST-NET-1) seen as local")
	}
}
