package respclient

import "github.com/dorivo/dorivo/datapath/resp"

// AppendGet appends GET key.
func AppendGet(dst, key []byte) []byte {
	dst = resp.AppendArray(dst, 2)
	dst = resp.AppendBulkString(dst, "GET")
	return resp.AppendBulk(dst, key)
}

// AppendSet appends SET key value.
func AppendSet(dst, key, value []byte) []byte {
	dst = resp.AppendArray(dst, 3)
	dst = resp.AppendBulkString(dst, "SET")
	dst = resp.AppendBulk(dst, key)
	return resp.AppendBulk(dst, value)
}

// AppendMSetHeader appends the start of MSET with pairs key/value pairs;
// the caller then appends each key and value with resp.AppendBulk.
func AppendMSetHeader(dst []byte, pairs int) []byte {
	dst = resp.AppendArray(dst, 1+2*pairs)
	return resp.AppendBulkString(dst, "MSET")
}
