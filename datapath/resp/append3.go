package resp

import "strconv"

// The writers below take resp3, the protocol the connection chose with
// HELLO (false: RESP2, the default), and write RESP2's equivalent when it
// is false, as Redis's addReplyMapLen and friends do.

// AppendMap appends a header for a map of n key-value pairs: %n\r\n in
// RESP3, an array of 2n elements in RESP2.
func AppendMap(dst []byte, n int, resp3 bool) []byte {
	if !resp3 {
		return AppendArray(dst, 2*n)
	}
	return appendHeader(dst, '%', n)
}

// AppendSet appends a header for a set of n elements: ~n\r\n in RESP3, an
// array in RESP2.
func AppendSet(dst []byte, n int, resp3 bool) []byte {
	if !resp3 {
		return AppendArray(dst, n)
	}
	return appendHeader(dst, '~', n)
}

// AppendPush appends a header for an out-of-band push of n elements:
// >n\r\n in RESP3, an array in RESP2.
func AppendPush(dst []byte, n int, resp3 bool) []byte {
	if !resp3 {
		return AppendArray(dst, n)
	}
	return appendHeader(dst, '>', n)
}

// AppendDouble appends a double already formatted as Redis formats it
// (e.g. "1.5", "inf", "-inf"): ,s\r\n in RESP3, a bulk string in RESP2.
func AppendDouble(dst []byte, s string, resp3 bool) []byte {
	if !resp3 {
		return AppendBulkString(dst, s)
	}
	dst = append(dst, ',')
	dst = append(dst, s...)
	return append(dst, '\r', '\n')
}

// AppendNil appends the null that stands for a missing string: _\r\n in
// RESP3, $-1\r\n in RESP2.
func AppendNil(dst []byte, resp3 bool) []byte {
	if !resp3 {
		return AppendNull(dst)
	}
	return append(dst, "_\r\n"...)
}

// AppendNilArray appends the null that stands for a missing array: _\r\n
// in RESP3, *-1\r\n in RESP2.
func AppendNilArray(dst []byte, resp3 bool) []byte {
	if !resp3 {
		return AppendNullArray(dst)
	}
	return append(dst, "_\r\n"...)
}

// AppendBool appends #t or #f in RESP3, :1 or :0 in RESP2.
func AppendBool(dst []byte, v bool, resp3 bool) []byte {
	switch {
	case !resp3 && v:
		return append(dst, ":1\r\n"...)
	case !resp3:
		return append(dst, ":0\r\n"...)
	case v:
		return append(dst, "#t\r\n"...)
	}
	return append(dst, "#f\r\n"...)
}

// AppendVerbatim appends a verbatim string of format "txt": =len\r\ntxt:s\r\n
// in RESP3, a bulk string in RESP2 (INFO, CLIENT INFO, LOLWUT).
func AppendVerbatim(dst []byte, s string, resp3 bool) []byte {
	if !resp3 {
		return AppendBulkString(dst, s)
	}
	dst = appendHeader(dst, '=', len(s)+4)
	dst = append(dst, "txt:"...)
	dst = append(dst, s...)
	return append(dst, '\r', '\n')
}

func appendHeader(dst []byte, c byte, n int) []byte {
	dst = append(dst, c)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\r', '\n')
}
