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
// ready, and returns how many. The plane uses it when the device offers it.
type BatchReader interface {
	ReadBatch(bufs [][]byte, sizes []int) (int, error)
}
