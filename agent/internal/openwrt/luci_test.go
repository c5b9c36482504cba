package openwrt

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/internal/lab"
	"github.com/mip4d/mip4d/agent/internal/scenario"
)

func appPath(t *testing.T, p string) string {
	return filepath.Join(repoRoot(t), LuCIApp, p)
}

const (
	configView = "htdocs/luci-static/resources/view/mip4d/config.js"
	statusView = "htdocs/luci-static/resources/view/mip4d/status.js"
	rpcdPlugin = "root/usr/libexec/rpcd/luci.mip4d"
)

func needNode(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is needed for the LuCI tests (Debian: apt-get install nodejs)")
	}
}

// TestLuCIFiles: every JS file parses (node --check), the JSON files are
// JSON, the menu has the two entries and the ACL grants exactly uci
// read/write of mip4d and the plugin's two methods.
func TestLuCIFiles(t *testing.T) {
	needNode(t)
	var js []string
	for _, dir := range []string{appPath(t, "."), "testdata"} {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && strings.HasSuffix(p, ".js") {
				js = append(js, p)
			}
			return err
		})
	}
	if len(js) < 4 {
		t.Fatalf("found only %v", js)
	}
	for _, f := range js {
		// LuCI views are function bodies (they end in a top-level return):
		// check them as the body of a function, as LuCI compiles them.
		src, _ := os.ReadFile(f)
		check := f
		if strings.Contains(f, "/view/") {
			check = filepath.Join(t.TempDir(), filepath.Base(f))
			os.WriteFile(check, []byte("(function() {\n"+string(src)+"\n});\n"), 0o644)
		}
		if out, err := exec.Command("node", "--check", check).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", f, err, out)
		}
	}

	var menu map[string]struct {
		Title  string `json:"title"`
		Action struct {
			Type, Path string
		} `json:"action"`
	}
	readJSON(t, appPath(t, "root/usr/share/luci/menu.d/luci-app-mip4d.json"), &menu)
	if m := menu["admin/services/mip4d"]; m.Title != "Mobile IP" || m.Action.Path != "mip4d/config" {
		t.Errorf("Services > Mobile IP: %+v", m)
	}
	if m := menu["admin/status/mip4d"]; m.Title != "Mobile IP" || m.Action.Path != "mip4d/status" {
		t.Errorf("Status > Mobile IP: %+v", m)
	}

	var acl map[string]map[string]any
	readJSON(t, appPath(t, "root/usr/share/rpcd/acl.d/luci-app-mip4d.json"), &acl)
	want := map[string]any{
		"read":  map[string]any{"ubus": map[string]any{"luci.mip4d": []any{"status", "bindings"}}, "uci": []any{"mip4d"}},
		"write": map[string]any{"uci": []any{"mip4d"}},
	}
	got := acl["luci-app-mip4d"]
	delete(got, "description")
	if len(acl) != 1 || !reflect.DeepEqual(got, want) {
		t.Errorf("ACL is not least privilege: %v", acl)
	}
}

func readJSON(t *testing.T, p string, v any) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
}

type viewOption struct {
	Kind     string              `json:"kind"`
	Name     string              `json:"name"`
	Datatype string              `json:"datatype"`
	Values   []string            `json:"values"`
	Depends  []map[string]string `json:"depends"`
	Password bool                `json:"password"`
	Prefill  *string             `json:"prefilled"`
}

type viewSection struct {
	Kind    string       `json:"kind"`
	Type    string       `json:"type"`
	Name    string       `json:"name"`
	Options []viewOption `json:"options"`
}

// TestLuCIContract runs the config view against a recording stand-in of
// LuCI's form API and checks it against `mip4d schema --json`: every
// option it declares exists with a compatible datatype (Flag for bool, a
// ListValue with the same values, a list widget for a list, otherwise the
// same datatype), every required option is declared, options of a role's
// sections depend on that role, and secret options are password fields
// that are never pre-filled and that an empty field leaves unchanged.
func TestLuCIContract(t *testing.T) {
	needNode(t)
	out, err := exec.Command("node", "testdata/contract.js", appPath(t, configView)).CombinedOutput()
	if err != nil {
		t.Fatalf("node contract.js: %v\n%s", err, out)
	}
	var view struct {
		Config   string        `json:"config"`
		Sections []viewSection `json:"sections"`
	}
	if err := json.Unmarshal(out, &view); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if view.Config != "mip4d" {
		t.Errorf("form.Map(%q), want mip4d", view.Config)
	}
	s := schemaOf(t)
	declared := map[string]bool{}
	for _, vs := range view.Sections {
		sec := s.Section(vs.Type)
		if sec == nil {
			t.Errorf("view section %s is not a section of the schema", vs.Type)
			continue
		}
		if (sec.Name != "") != (vs.Kind == "NamedSection") || (sec.Name != "" && vs.Name != sec.Name) {
			t.Errorf("section %s: view has %s %q, schema name %q", vs.Type, vs.Kind, vs.Name, sec.Name)
		}
		for _, o := range vs.Options {
			declared[vs.Type+"."+o.Name] = true
			so := sec.Option(o.Name)
			if so == nil {
				t.Errorf("%s.%s is declared by the view but is not in the schema", vs.Type, o.Name)
				continue
			}
			if msg := compatible(o, so); msg != "" {
				t.Errorf("%s.%s: %s", vs.Type, o.Name, msg)
			}
			if !sec.shared(s.Roles()) && !dependsOnRole(o, sec.Roles) {
				t.Errorf("%s.%s does not depend on role %v", vs.Type, o.Name, sec.Roles)
			}
			if so.Secret {
				switch {
				case !o.Password:
					t.Errorf("%s.%s is secret but not a password field", vs.Type, o.Name)
				case o.Prefill == nil || *o.Prefill != "":
					t.Errorf("%s.%s: the stored key comes back into the page or an empty field changes it (%v)", vs.Type, o.Name, o.Prefill)
				}
			}
		}
	}
	for _, sec := range s {
		for _, o := range sec.Options {
			switch {
			case declared[sec.Type+"."+o.Name]:
			case o.Required:
				t.Errorf("required option %s.%s is not in the config view", sec.Type, o.Name)
			default:
				t.Logf("note: optional %s.%s is not in the config view", sec.Type, o.Name)
			}
		}
	}
}

func compatible(o viewOption, so *Option) string {
	list := o.Kind == "DynamicList" || o.Kind == "MultiValue"
	if list != so.List {
		return fmt.Sprintf("widget %s for list=%v", o.Kind, so.List)
	}
	switch {
	case o.Kind == "Flag":
		if so.Datatype != "bool" {
			return "Flag for datatype " + so.Datatype
		}
	case o.Kind == "ListValue":
		a, b := slices.Clone(o.Values), slices.Clone(so.Values)
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, b) {
			return fmt.Sprintf("ListValue values %v, schema values %v", o.Values, so.Values)
		}
	case len(so.Values) > 0:
		return fmt.Sprintf("free %s for a closed set %v", o.Kind, so.Values)
	case o.Datatype != so.Datatype:
		return fmt.Sprintf("datatype %q, schema %q", o.Datatype, so.Datatype)
	}
	return ""
}

func dependsOnRole(o viewOption, roles []string) bool {
	if len(o.Depends) == 0 {
		return false
	}
	for _, d := range o.Depends {
		if !slices.Contains(roles, d["mip4d.globals.role"]) {
			return false
		}
	}
	return true
}

// rpcd runs the rpcd exec plugin as rpcd does, with sh.
func rpcd(t *testing.T, mip4d, socket string, args ...string) string {
	t.Helper()
	cmd := exec.Command("sh", append([]string{appPath(t, rpcdPlugin)}, args...)...)
	cmd.Env = append(os.Environ(), "MIP4D="+mip4d, "MIP4D_SOCKET="+socket)
	cmd.Stdin = strings.NewReader("{}")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("luci.mip4d %v: %v\n%s", args, err, out)
	}
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("luci.mip4d %v: not a JSON object: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestLiveStatus runs a home agent and a mobile node registered through a
// NAT in the namespace lab, then: the rpcd plugin answers list and call
// against the running daemons, and the status view, rendered in headless
// Chromium from those answers, shows the binding and the counters.
func TestLiveStatus(t *testing.T) {
	l := lab.ForTest(t)
	bin := hostMIP4D(t)
	r, err := scenario.Build(l, bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []func() error{func() error { return r.MoveTo(1) }, func() error { return r.StartHA() }, func() error { return r.StartMN() }} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.WaitBinding(scenario.CoAs[1], false, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	if !l.Ping("mn", scenario.CN, 3) { // traffic for the counters
		t.Fatal("mn cannot reach cn through the tunnel")
	}
	list := rpcd(t, bin, r.Socket("ha"), "list")
	var methods map[string]map[string]any
	json.Unmarshal([]byte(list), &methods)
	if len(methods) != 2 || methods["status"] == nil || methods["bindings"] == nil {
		t.Errorf("list: %s", list)
	}
	status := rpcd(t, bin, r.Socket("ha"), "call", "status")
	bindings := rpcd(t, bin, r.Socket("ha"), "call", "bindings")
	mnStatus := rpcd(t, bin, r.Socket("mn"), "call", "status")
	down := rpcd(t, bin, filepath.Join(t.TempDir(), "none.sock"), "call", "status")

	var st struct {
		Role string `json:"role"`
		HA   struct {
			Bindings int `json:"bindings"`
		} `json:"ha"`
	}
	json.Unmarshal([]byte(status), &st)
	if st.Role != "ha" || st.HA.Bindings != 1 {
		t.Errorf("call status: %s", status)
	}
	var bd struct {
		Running  bool `json:"running"`
		Bindings []struct {
			HomeAddr string `json:"home_addr"`
			CareOf   string `json:"care_of"`
			NAI      string `json:"nai"`
		} `json:"bindings"`
	}
	json.Unmarshal([]byte(bindings), &bd)
	if !bd.Running || len(bd.Bindings) != 1 || bd.Bindings[0].HomeAddr != scenario.HoA.String() || bd.Bindings[0].CareOf != scenario.CoAs[1].String() {
		t.Errorf("call bindings: %s", bindings)
	}
	if !strings.Contains(mnStatus, `"role":"mn"`) && !strings.Contains(mnStatus, `"role": "mn"`) {
		t.Errorf("call status (mn): %s", mnStatus)
	}
	var dv struct {
		Running *bool  `json:"running"`
		Error   string `json:"error"`
	}
	json.Unmarshal([]byte(down), &dv)
	if dv.Running == nil || *dv.Running || dv.Error == "" {
		t.Errorf("call status with no daemon: %s", down)
	}
	// The lab's key, as text and as its hex, never appears.
	for _, out := range []string{status, bindings, mnStatus} {
		if strings.Contains(out, "6d6970346420726f616d696e67206c6162") || strings.Contains(out, "roaming lab") {
			t.Errorf("a key appears in the plugin's answer: %s", out)
		}
	}

	t.Run("chromium", func(t *testing.T) {
		dom := renderStatus(t, status, bindings, "status.png")
		rows := tableRows(dom, "mip4d-bindings")
		if len(rows) != 1 {
			t.Fatalf("bindings table: %d rows, want 1: %v", len(rows), rows)
		}
		row := rows[0]
		for i, want := range []string{scenario.HoA.String(), scenario.CoAs[1].String(), "laptop@example.net", scenario.NATAddrs[1].String(), "udp/ipip"} {
			if !strings.Contains(row[i], want) {
				t.Errorf("bindings row column %d = %q, want %q (row %v)", i, row[i], want, row)
			}
		}
		summary := tableRows(dom, "mip4d-summary")
		if !hasRow(summary, "Role", "Home agent") || !hasRow(summary, "Bindings", "1") ||
			!slices.ContainsFunc(summary, func(r []string) bool { return r[0] == "Last error" }) {
			t.Errorf("summary rows %v", summary)
		}
		// Which data plane runs, as the daemon says (issue 9); with the
		// kernel plane, the binding's packets through it.
		var dp struct {
			DataPlane struct {
				Mode string `json:"mode"`
			} `json:"dataplane"`
		}
		json.Unmarshal([]byte(status), &dp)
		mode := map[string]string{"bpf": "kernel (BPF)", "userspace": "userspace"}[dp.DataPlane.Mode]
		if mode == "" || !slices.ContainsFunc(summary, func(r []string) bool { return r[0] == "Data plane" && strings.HasPrefix(r[1], mode) }) {
			t.Errorf("summary does not show the %q data plane: %v", dp.DataPlane.Mode, summary)
		}
		if last := row[len(row)-1]; dp.DataPlane.Mode == "bpf" && !regexp.MustCompile(`^\d+ / \d+$`).MatchString(last) {
			t.Errorf("bindings row: kernel plane column %q, want packets out / in", last)
		}
		counters := tableRows(dom, "mip4d-counters")
		if !slices.ContainsFunc(counters, func(r []string) bool { return r[0] == "ha.accepted" && r[1] != "0" }) {
			t.Errorf("counters do not show accepted registrations: %v", counters)
		}
		t.Logf("status page: %d binding row, %d summary rows, %d counters", len(rows), len(summary), len(counters))
	})
}

// TestLiveStatusHotspots: the status page of a foreign agent (S2: the
// node registered through it) shows its visitor, and that of a proxy (S5:
// the laptop got its home address by DHCP) shows its client — from real
// `mip4d status --json` answers through the rpcd plugin, in Chromium.
func TestLiveStatusHotspots(t *testing.T) {
	bin := hostMIP4D(t)
	t.Run("fa", func(t *testing.T) {
		l := lab.ForTest(t)
		r, err := scenario.BuildS2(l, bin)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []func() error{r.StartFAs, func() error { return r.MoveTo(1) }, func() error { return r.StartHA() },
			func() error { return r.StartMN("mode", "fa", "uplink", scenario.MNUplink) }} {
			if err := f(); err != nil {
				t.Fatal(err)
			}
		}
		v, err := r.WaitVisitor(1, 15*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_, dom, row := hotspotPage(t, bin, r.Socket("fa1"), "status-fa.png", "mip4d-visitors",
			v.MAC, scenario.HoA.String(), scenario.HAAddr.String(), "laptop@example.net")
		if tun := row[5]; tun != "udp/ipip" && tun != "ipip" && tun != "gre" {
			t.Errorf("visitor tunnel %q", tun)
		}
		summary := tableRows(dom, "mip4d-summary")
		if !hasRow(summary, "Role", "Foreign agent") || !hasRow(summary, "Care-of address", scenario.FACoAs[1].String()) ||
			!hasRow(summary, "Visitors", "1") {
			t.Errorf("summary rows %v", summary)
		}
		counters := tableRows(dom, "mip4d-counters")
		if !slices.ContainsFunc(counters, func(r []string) bool { return r[0] == "fa.relayed" && r[1] != "0" }) {
			t.Errorf("counters do not show relayed requests: %v", counters)
		}
		if tableRows(dom, "mip4d-bindings") != nil || tableRows(dom, "mip4d-clients") != nil {
			t.Error("a foreign agent's page shows a bindings or clients table")
		}
	})
	t.Run("proxy", func(t *testing.T) {
		l := lab.ForTest(t)
		r, err := scenario.BuildS5(l, bin)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.StartS5Access(); err != nil {
			t.Fatal(err)
		}
		status, dom, row := hotspotPage(t, bin, r.Socket("fa1"), "status-proxy.png", "mip4d-clients",
			scenario.LaptopMAC, "laptop@example.net", scenario.HoA.String(), "bound")
		if row[4] == "-" || row[5] == "-" {
			t.Errorf("client row has no binding age or lifetime: %v", row)
		}
		summary := tableRows(dom, "mip4d-summary")
		if !hasRow(summary, "Role", "Proxy (RFC 5563)") || !hasRow(summary, "Gateway", scenario.ProxyGateway.String()) ||
			!hasRow(summary, "Home agent", scenario.HAAddr.String()) || !hasRow(summary, "Proxied clients", "1") {
			t.Errorf("summary rows %v", summary)
		}
		counters := tableRows(dom, "mip4d-counters")
		if !slices.ContainsFunc(counters, func(r []string) bool { return strings.HasPrefix(r[0], "dhcp.") && r[1] != "0" }) {
			t.Errorf("counters show nothing of the DHCP server: %v", counters)
		}
		// The lab's FA-HA key (hex and text) and the proxies' master secret.
		for _, k := range []string{"666f726569676e206167656e74206b6579", "foreign agent key", "lab master secret"} {
			if strings.Contains(status, k) {
				t.Errorf("a key appears in the plugin's answer: %s", status)
			}
		}
	})
}

// TestStatusLastError: the status page's summary shows the daemon's last
// error with its detail, and "none" when the status has none.
func TestStatusLastError(t *testing.T) {
	status := `{"role":"ha","version":"dev","uptime":5,"dataplane":{"mode":"userspace","configured":"auto"},` +
		`"ha":{"address":"198.51.100.1","bindings":0},` +
		`"last_error":{"time":"2026-12-06T10:00:00Z","level":"ERROR","msg":"data plane refused a binding","detail":"err=\"no room\""}}`
	dom := renderStatus(t, status, `{"running":true,"bindings":[]}`, "status-last-error.png")
	summary := tableRows(dom, "mip4d-summary")
	if !slices.ContainsFunc(summary, func(r []string) bool {
		return len(r) == 2 && r[0] == "Last error" && strings.Contains(r[1], "data plane refused a binding") && strings.Contains(r[1], "no room")
	}) {
		t.Errorf("summary rows %v", summary)
	}
	dom = renderStatus(t, `{"role":"ha","version":"dev","uptime":5}`, `{"running":true,"bindings":[]}`, "status-no-error.png")
	if summary := tableRows(dom, "mip4d-summary"); !hasRow(summary, "Last error", "none") {
		t.Errorf("without last_error: summary rows %v", summary)
	}
}

// hotspotPage renders the status page of the daemon at socket from the
// plugin's answers and checks that table holds one row beginning with
// want; it returns the status answer, the DOM and that row.
func hotspotPage(t *testing.T, bin, socket, shot, table string, want ...string) (string, string, []string) {
	t.Helper()
	status := rpcd(t, bin, socket, "call", "status")
	bindings := rpcd(t, bin, socket, "call", "bindings")
	dom := renderStatus(t, status, bindings, shot)
	rows := tableRows(dom, table)
	if len(rows) != 1 {
		t.Fatalf("%s: %d rows, want 1: %v\nstatus: %s", table, len(rows), rows, status)
	}
	for i, w := range want {
		if !strings.EqualFold(rows[0][i], w) {
			t.Errorf("%s column %d = %q, want %q (row %v)", table, i, rows[0][i], w, rows[0])
		}
	}
	return status, dom, rows[0]
}

func hasRow(rows [][]string, field, value string) bool {
	return slices.ContainsFunc(rows, func(r []string) bool { return len(r) == 2 && r[0] == field && r[1] == value })
}

// renderStatus renders the status view from the plugin's answers with the
// stand-in LuCI modules in headless Chromium, saves a screenshot named
// shot, and returns the rendered DOM.
func renderStatus(t *testing.T, status, bindings, shot string) string {
	browser := ""
	for _, b := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(b); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		t.Fatal("chromium is needed (Debian: apt-get install chromium chromium-driver)")
	}
	page := string(mustRead(t, "testdata/status.html"))
	src, _ := json.Marshal(string(mustRead(t, appPath(t, statusView))))
	fixtures := fmt.Sprintf(`{"luci.mip4d.status": %s, "luci.mip4d.bindings": %s}`, status, bindings)
	page = strings.NewReplacer(
		"/*LUCI-MODULE*/", string(mustRead(t, "testdata/luci-module.js")),
		"/*STANDIN*/", string(mustRead(t, "testdata/luci-standin.js")),
		"/*FIXTURES*/", fixtures,
		"/*STATUS-SOURCE*/", string(src),
	).Replace(page)
	dir := t.TempDir()
	html := filepath.Join(dir, "status.html")
	if err := os.WriteFile(html, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	chrome := func(extra ...string) string {
		args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
			"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=5000", "--window-size=1280,1100"}, extra...)
		args = append(args, "file://"+html)
		cmd := exec.Command(browser, args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", browser, err, out)
		}
		return string(out)
	}
	dom := chrome("--dump-dom")
	if regexp.MustCompile(`<body[^>]*data-error=`).MatchString(dom) || !regexp.MustCompile(`<body[^>]*data-ready="yes"`).MatchString(dom) {
		t.Fatalf("the view did not render:\n%s", dom)
	}
	path := filepath.Join(t.ArtifactDir(), shot)
	chrome("--screenshot=" + path)
	if st, err := os.Stat(path); err != nil || st.Size() < 1000 {
		t.Fatalf("no screenshot: %v", err)
	}
	// Also keep a copy where a person finds it after a plain `go test`.
	keep := filepath.Join(repoRoot(t), "out", "luci", shot)
	if err := os.MkdirAll(filepath.Dir(keep), 0o755); err == nil {
		if b, err := os.ReadFile(path); err == nil && os.WriteFile(keep, b, 0o644) == nil {
			t.Logf("screenshot: %s (copy of %s)", keep, path)
		}
	}
	return dom
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	trRE  = regexp.MustCompile(`(?s)<tr class="tr"[^>]*>(.*?)</tr>`)
	tdRE  = regexp.MustCompile(`(?s)<td[^>]*>(.*?)</td>`)
	tagRE = regexp.MustCompile(`<[^>]+>`)
)

// tableRows returns the data rows of the table with id in the dumped DOM.
func tableRows(dom, id string) [][]string {
	i := strings.Index(dom, `id="`+id+`"`)
	if i < 0 {
		return nil
	}
	rest := dom[i:]
	if j := strings.Index(rest, "</table>"); j >= 0 {
		rest = rest[:j]
	}
	var rows [][]string
	for _, m := range trRE.FindAllStringSubmatch(rest, -1) {
		var cells []string
		for _, c := range tdRE.FindAllStringSubmatch(m[1], -1) {
			cells = append(cells, strings.TrimSpace(tagRE.ReplaceAllString(c[1], "")))
		}
		rows = append(rows, cells)
	}
	return rows
}

// TestStatusRedundancy: a home agent of a redundant pair shows its role,
// its peer, the replication lag and the bindings in its data plane in the
// summary, and the replication counters among the counters.
func TestStatusRedundancy(t *testing.T) {
	status := `{"role":"ha","version":"dev","uptime":5,"ha":{"address":"198.51.100.10","bindings":20},` +
		`"redundancy":{"role":"backup","peer":"198.51.100.11:4340","peer_role":"master","connected":true,"lag_entries":3,"lag_ms":12,` +
		`"sent":0,"acked":0,"applied":20,"snapshots_applied":1,"rejected_auth":2,"dataplane_bindings":0}}`
	dom := renderStatus(t, status, `{"running":true,"bindings":[]}`, "status-redundancy.png")
	summary := tableRows(dom, "mip4d-summary")
	for _, want := range [][2]string{
		{"Redundancy peer", "198.51.100.11:4340 connected, master"},
		{"Replication lag", "3 entries, 12 ms"},
		{"Bindings in the data plane", "0"},
	} {
		if !hasRow(summary, want[0], want[1]) {
			t.Errorf("no %q = %q in the summary: %v", want[0], want[1], summary)
		}
	}
	if !slices.ContainsFunc(summary, func(r []string) bool { return len(r) == 2 && r[0] == "Redundancy role" && r[1] == "backup" }) {
		t.Errorf("role row: %v", summary)
	}
	counters := tableRows(dom, "mip4d-counters")
	if !hasRow(counters, "redundancy.rejected_auth", "2") || !hasRow(counters, "redundancy.applied", "20") {
		t.Errorf("counters %v", counters)
	}
}
