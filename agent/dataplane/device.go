package dataplane

// Device is an IP-level virtual interface: each Read returns one IPv4 (or,
// if the kernel sends one, IPv6) datagram the kernel routed to it, and each
// Write hands one datagram to the kernel as if it had arrived on the
// interface. [TUN] is the Linux implementation; the tests use an in-memory
// fake, like wireguard-go's tun/tuntest.
//
// Read and Write may be called from different goroutines at once; Close
// makes blocked and later calls return an error wrapping net.ErrClosed or
// os.ErrClosed.
type Device interface {
	Name() string
	// MTU is the device MTU: the largest datagram the kernel hands to Read.
	MTU() int
	Read(b []byte) (int, error)
	Write(b []byte) (int, error)
	Close() error
}

// BatchReader is implemented by devices that can return several datagrams
// in one call: ReadBatch blocks until at least one is ready, then fills
// bufs[i] with datagram i and sizes[i] with its length, for as many as are
// ready, and returns how many. A size of -1 stands for a datagram the
// device read but could not make sense of (a [TUN] offload header or
// super-packet that does not parse); the plane counts it as malformed.
// The plane uses ReadBatch when the device offers it.
type BatchReader interface {
	ReadBatch(bufs [][]byte, sizes []int) (int, error)
}

// BatchWriter is implemented by devices that can take several datagrams
// in one call: WriteBatch writes every datagram of pkts, in order (but
// that a device with offloads may gather the segments of a TCP flow into
// one super-packet written where the first of them was), and returns the
// first error. It sets pkts[i] to nil for every datagram the kernel did
// not take, and may rewrite the datagrams' octets. The plane queues what
// a socket batch yields for the device and writes it with WriteBatch when
// the device offers it.
type BatchWriter interface {
	WriteBatch(pkts [][]byte) error
}

// offloader is implemented by devices that cut super-packets into many
// datagrams per read, or coalesce what is written together ([TUN] with
// offloads): the plane gives their readers batches of at least
// offloadBatch.
type offloader interface {
	offloading() bool
}
