package config

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// check validates one value against an option's datatype and value set.
func (o *Option) check(v string) error {
	if len(o.Values) > 0 && !slices.Contains(o.Values, v) {
		return fmt.Errorf("%q is not one of %s", v, strings.Join(o.Values, ", "))
	}
	switch t := o.Type; {
	case t == TBool:
		if _, ok := parseBool(v); !ok {
			return fmt.Errorf("%q is not a boolean (use 0 or 1)", v)
		}
	case t == TUInt:
		if _, err := strconv.ParseUint(v, 10, 32); err != nil {
			return fmt.Errorf("%q is not a non-negative integer", v)
		}
	case t == TPort:
		if n, err := strconv.ParseUint(v, 10, 16); err != nil || n == 0 {
			return fmt.Errorf("%q is not a port number", v)
		}
	case t == TIP4Addr:
		if a, err := netip.ParseAddr(v); err != nil || !a.Is4() {
			return fmt.Errorf("%q is not an IPv4 address", v)
		}
	case t == TCIDR4:
		if p, err := netip.ParsePrefix(v); err != nil || !p.Addr().Is4() {
			return fmt.Errorf("%q is not an IPv4 prefix (address/length)", v)
		}
	case t == TDevice:
		if v == "" || len(v) > 15 || strings.ContainsAny(v, "/ \t:") {
			return fmt.Errorf("%q is not an interface name", v)
		}
	case t == TMAC:
		if h, err := net.ParseMAC(v); err != nil || len(h) != 6 {
			return fmt.Errorf("%q is not a MAC address (xx:xx:xx:xx:xx:xx)", v)
		}
	case t == TFile:
		if !strings.HasPrefix(v, "/") {
			return fmt.Errorf("%q is not an absolute path", v)
		}
	case strings.HasPrefix(string(t), "range("):
		lo, hi := rangeBounds(t)
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("%q is not in %s", v, t)
		}
	case t == TString:
	default:
		return fmt.Errorf("internal: unknown datatype %s", t)
	}
	return nil
}

// rangeBounds reads "range(lo,hi)".
func rangeBounds(t Datatype) (lo, hi uint64) {
	s := strings.TrimSuffix(strings.TrimPrefix(string(t), "range("), ")")
	a, b, _ := strings.Cut(s, ",")
	lo, _ = strconv.ParseUint(a, 10, 64)
	hi, _ = strconv.ParseUint(b, 10, 64)
	return lo, hi
}

// parseBool reads the boolean spellings uci and LuCI accept.
func parseBool(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "1", "yes", "on", "true", "enabled":
		return true, true
	case "0", "no", "off", "false", "disabled":
		return false, true
	}
	return false, false
}
