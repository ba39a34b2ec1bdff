package slot

// PortOwner is the kernel's TCP steering rule (bpf/dorivo.c, rp_tcp): the
// SYN carries no key, so a shard-aware client picks its source port to name
// the event loop that owns its keys. The port's low bit is dropped because
// Linux hands connect() even ephemeral ports first (bind() gets the odd
// ones): with port % loops, every plain client would land on an even loop
// (all on loop 0 with 2 loops). port>>1 is uniform for plain clients and just
// as easy for shard-aware ones to aim at.
func PortOwner(port uint16, loops int) int {
	return int(port>>1) % loops
}

// PortFor returns the smallest port >= from whose PortOwner is owner, and
// false when there is none below 65536.
func PortFor(from uint16, owner, loops int) (uint16, bool) {
	p := int(from) &^ 1
	// Each pair of ports (2k, 2k+1) belongs to loop k % loops.
	p += 2 * ((owner - (p>>1)%loops + loops) % loops)
	if p < int(from) { // from is odd and its own pair is owner's
		p = int(from)
	}
	if p > 65535 {
		return 0, false
	}
	return uint16(p), true
}
