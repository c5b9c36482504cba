package openwrt

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSDKFeed: the feed's Makefiles use golang-package.mk and luci.mk as
// the issue says, and every file they install exists.
func TestSDKFeed(t *testing.T) {
	root := repoRoot(t)
	feed := filepath.Join(root, "packaging/openwrt")
	mk := string(mustRead(t, filepath.Join(feed, "mip4d/Makefile")))
	for _, want := range []string{
		"include $(TOPDIR)/feeds/packages/lang/golang/golang-package.mk",
		"GO_PKG:=github.com/mip4d/mip4d\n",
		"GO_PKG_BUILD_PKG:=github.com/mip4d/mip4d/agent/cmd/mip4d\n",
		"GO_PKG_LDFLAGS_X:=main.version=",
		"define Package/mip4d/conffiles\n/etc/config/mip4d\nendef",
		"$(eval $(call GoBinPackage,mip4d))",
		"$(eval $(call BuildPackage,mip4d))",
		"+kmod-tun",
	} {
		if !strings.Contains(mk, want) {
			t.Errorf("packaging/openwrt/mip4d/Makefile lacks %q", want)
		}
	}
	for _, m := range regexp.MustCompile(`\./files/(\S+)`).FindAllStringSubmatch(mk, -1) {
		if _, err := os.Stat(filepath.Join(feed, "mip4d/files", m[1])); err != nil {
			t.Errorf("the Makefile installs %s: %v", m[1], err)
		}
	}
	// The LuCI app is in the feed through a link to luci/luci-app-mip4d.
	lmk := string(mustRead(t, filepath.Join(feed, "luci-app-mip4d/Makefile")))
	for _, want := range []string{"include $(TOPDIR)/feeds/luci/luci.mk", "+mip4d", "LUCI_PKGARCH:=all"} {
		if !strings.Contains(lmk, want) {
			t.Errorf("luci-app-mip4d/Makefile lacks %q", want)
		}
	}
	for _, d := range []string{"htdocs", "root"} {
		if _, err := os.Stat(filepath.Join(feed, "luci-app-mip4d", d)); err != nil {
			t.Errorf("luci.mk expects %s/: %v", d, err)
		}
	}
}
