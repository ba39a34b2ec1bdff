package slot

import "github.com/dorivo/dorivo/bpf"

// Count is the number of hash slots.
const Count = int(bpf.DorivoKeyspaceNUM_SLOTS)

// MaxLoops is the largest number of event loops the kernel maps can steer to.
const MaxLoops = int(bpf.DorivoKeyspaceMAX_LOOPS)

// crcTable is the CRC16-XMODEM (polynomial 0x1021) lookup table.
var crcTable = func() (t [256]uint16) {
	for i := range t {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[i] = crc
	}
	return t
}()

// CRC16 returns the CRC16-XMODEM checksum of b.
func CRC16(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc = crc<<8 ^ crcTable[byte(crc>>8)^c]
	}
	return crc
}

// Tag returns key's hash tag: the bytes between the first '{' and the next
// '}' when that is non-empty, otherwise the whole key.
func Tag(key []byte) []byte {
	for i, c := range key {
		if c != '{' {
			continue
		}
		for j := i + 1; j < len(key); j++ {
			if key[j] == '}' {
				if j == i+1 {
					return key
				}
				return key[i+1 : j]
			}
		}
		return key
	}
	return key
}

// OfTag returns the slot of a bare tenant tag.
func OfTag(tag []byte) uint16 { return CRC16(tag) % uint16(Count) }

// Of returns the slot of key.
func Of(key []byte) uint16 { return OfTag(Tag(key)) }
