package core

import (
	"encoding/binary"

	"github.com/dorivo/dorivo/datapath/command"
)

// A request crosses loops as its parsed arguments, packed into the ring
// arena: the count, each length (uint32, little endian), then the bytes.
// The receiver slices them out again without parsing RESP.

// packedLen is the size of args packed.
func packedLen(args [][]byte) int {
	n := 4 + 4*len(args)
	for _, a := range args {
		n += len(a)
	}
	return n
}

// pack writes args into dst, which has exactly packedLen(args) bytes.
func pack(dst []byte, args [][]byte) {
	binary.LittleEndian.PutUint32(dst, uint32(len(args)))
	lens, data := dst[4:4+4*len(args)], dst[4+4*len(args):]
	for i, a := range args {
		binary.LittleEndian.PutUint32(lens[4*i:], uint32(len(a)))
		data = data[copy(data, a):]
	}
}

// unpack slices the arguments packed in b into dst (aliasing b).
func unpack(b []byte, dst [][]byte) [][]byte {
	n := int(binary.LittleEndian.Uint32(b))
	lens, data := b[4:4+4*n], b[4+4*n:]
	for i := range n {
		m := int(binary.LittleEndian.Uint32(lens[4*i:]))
		dst = append(dst, data[:m:m])
		data = data[m:]
	}
	return dst
}

// req is the request message m carries, its arguments in l.args.
func (l *Loop) req(m *msg) command.Req {
	l.args = unpack(m.buf, l.args[:0])
	return command.Req{Args: l.args, Cmd: m.cmd, UnknownSub: m.unknownSub}
}
