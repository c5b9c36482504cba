package vpn

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mip4d/mip4d/agent/internal/lab"
)

// ThroughputPort is the iperf3 port Throughput uses.
const ThroughputPort = 5290

var iperfRuns atomic.Int64

// Throughput measures TCP throughput with iperf3 from namespace fromNS to
// to, an address of namespace toNS (through the VPN when to is an
// intranet host and fromNS the client, whose virtual IP the routes of
// table 220 pick as the source), for d, and returns the receiver's rate in
// Mbit/s. extra goes to the iperf3 client ("-R" measures the other way).
func Throughput(l *lab.Lab, fromNS, toNS string, to netip.Addr, d time.Duration, extra ...string) (float64, error) {
	port := strconv.Itoa(ThroughputPort)
	name := fmt.Sprintf("iperf3-%s-%d", toNS, iperfRuns.Add(1))
	srv, err := l.Start(toNS, name, "iperf3", "-s", "-1", "-p", port)
	if err != nil {
		return 0, err
	}
	defer srv.Stop(time.Second)
	secs := strconv.Itoa(max(1, int(d.Round(time.Second).Seconds())))
	args := append([]string{"iperf3", "-c", to.String(), "-p", port, "-J", "-t", secs, "--connect-timeout", "3000"}, extra...)
	var out string
	for try := 0; ; try++ {
		// The server needs a moment to listen: a refused connection (with
		// -J reported in the JSON, whatever the exit status) is retried.
		out, err = l.Exec(fromNS, args...)
		refused := strings.Contains(out, "unable to connect") || (err != nil && strings.Contains(err.Error(), "unable to connect"))
		if !refused || try == 40 || !srv.Running() {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var res struct {
		End struct {
			SumReceived struct {
				BPS float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		return 0, fmt.Errorf("vpn: iperf3 output: %v\n%s", err, out)
	}
	if res.Error != "" {
		return 0, fmt.Errorf("vpn: iperf3: %s", res.Error)
	}
	return res.End.SumReceived.BPS / 1e6, nil
}
