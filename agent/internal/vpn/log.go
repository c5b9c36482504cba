package vpn

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Event is one line of charon's log, as this package configures it:
//
//	1764113755.534 16[IKE] <vpn|3> IKE_SA vpn[3] established between ...
type Event struct {
	At    time.Time
	Group string // IKE, KNL, NET, ENC, CFG, ...
	IKE   uint32 // unique id of the IKE SA the line is about (0: none)
	Msg   string
}

var logLine = regexp.MustCompile(`^(\d+)\.(\d{3}) \d+\[(\w+)\] (?:<[^|>]*\|(\d+)> )?(.*)$`)

// ParseLog parses charon's log; lines that are not log lines (the shell's,
// say) are skipped.
func ParseLog(s string) []Event {
	var evs []Event
	for _, line := range strings.Split(s, "\n") {
		m := logLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		sec, _ := strconv.ParseInt(m[1], 10, 64)
		ms, _ := strconv.ParseInt(m[2], 10, 64)
		ike, _ := strconv.ParseUint(m[4], 10, 32)
		evs = append(evs, Event{At: time.Unix(sec, ms*1e6), Group: m[3], IKE: uint32(ike), Msg: m[5]})
	}
	return evs
}

// LogStats counts what charon did, from its log.
type LogStats struct {
	IKEInitiated   int // IKE SAs this end initiated ("initiating IKE_SA")
	IKEEstablished int // IKE SAs established (by unique id)
	IKERekeyed     int // IKE SAs rekeyed
	Reauth         int // reauthentications (a new IKE SA replacing the old), e.g. after an address change without MOBIKE
	ChildSAs       int // CHILD SAs established (by unique id), rekeys included
	MOBIKE         int // MOBIKE address changes requested
	AddrUpdates    int // MOBIKE address list updates sent (an INFORMATIONAL exchange, no change of path)
	// Setups is, per IKE SA this end initiated and saw through, the time
	// from "initiating IKE_SA" to its first CHILD SA established (the IKE
	// exchanges on the wire, without swanctl around them), in log order.
	Setups []time.Duration
}

var (
	reIKEInit  = regexp.MustCompile(`^initiating IKE_SA \S+\[(\d+)\]`)
	reIKEUp    = regexp.MustCompile(`^IKE_SA \S+\[(\d+)\] established between`)
	reIKERekey = regexp.MustCompile(`^IKE_SA \S+\[(\d+)\] rekeyed between`)
	reReauth   = regexp.MustCompile(`^reauthenticating IKE_SA \S+\[\d+\]`)
	reChildUp  = regexp.MustCompile(`^(?:inbound |outbound )?CHILD_SA \S+\{(\d+)\} established`)
)

// Stats counts the events of log (a Daemon's Log()).
func Stats(log string) LogStats {
	var st LogStats
	ike, child := map[string]bool{}, map[string]bool{}
	started := map[uint32]time.Time{}
	for _, e := range ParseLog(log) {
		switch {
		case reIKEInit.MatchString(e.Msg):
			st.IKEInitiated++
			id, _ := strconv.ParseUint(reIKEInit.FindStringSubmatch(e.Msg)[1], 10, 32)
			started[uint32(id)] = e.At
		case reIKEUp.MatchString(e.Msg):
			ike[reIKEUp.FindStringSubmatch(e.Msg)[1]] = true
		case reIKERekey.MatchString(e.Msg):
			st.IKERekeyed++
		case reReauth.MatchString(e.Msg):
			st.Reauth++
		case strings.HasPrefix(e.Msg, "requesting address change using MOBIKE"),
			strings.HasSuffix(e.Msg, "using MOBIKE, implicitly requesting an address change"):
			st.MOBIKE++
		case e.Msg == "sending address list update using MOBIKE":
			st.AddrUpdates++
		case reChildUp.MatchString(e.Msg):
			child[reChildUp.FindStringSubmatch(e.Msg)[1]] = true
			if t, ok := started[e.IKE]; ok {
				st.Setups = append(st.Setups, e.At.Sub(t))
				delete(started, e.IKE)
			}
		}
	}
	st.IKEEstablished, st.ChildSAs = len(ike), len(child)
	return st
}
