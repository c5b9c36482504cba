package proxy

import "time"

// Defaults and protocol timing, in one place.
const (
	DefaultLifetime            = 300 // seconds requested
	DefaultKeySPI              = 256 // the first SPI not reserved (RFC 5944 §1.6)
	DefaultMaxClients          = 256
	DefaultMaxGuests           = 16
	DefaultGuestInterval       = time.Second
	DefaultProbeTimeout        = 3 * time.Second
	DefaultRegistrationTimeout = 10 * time.Second
	DefaultMaxRetransmit       = 8 * time.Second
	DefaultConflictWindow      = 60 * time.Second
	DefaultQuarantine          = 10 * time.Minute
	DefaultMaxReclaims         = 5

	firstRetransmit = time.Second // RFC 5944 §3.6.3: at least 1 s
	probeInterval   = time.Second // a lost probe (ARP) is sent again this often
	deregTries      = 3           // deregistrations sent before giving up
	maxResyncs      = 2           // immediate resends after code 133 per request
	denyFirst       = 2 * time.Second
	denyMax         = 60 * time.Second
	// denyLinger keeps a denied entry past its retry time so the backoff
	// survives a client that keeps asking; revokeLinger keeps a revoked
	// one so the home agent's retransmitted revocations are acknowledged
	// again (RFC 3543 §4.2.2.1 retries up to the binding's lifetime).
	denyLinger   = 60 * time.Second
	revokeLinger = 30 * time.Second
)
