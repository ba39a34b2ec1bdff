package command

import "github.com/dorivo/dorivo/datapath/resp"

// lcsCmd is Redis 7.0's LCS: the longest common subsequence of two string
// values by the textbook dynamic programme, its length (LEN), or its
// matching ranges (IDX, MINMATCHLEN, WITHMATCHLEN). Both keys must be on
// one loop (CROSSSLOT otherwise, as in Redis Cluster). The table takes
// (len(a)+1)*(len(b)+1)*4 bytes; past proto-max-bulk-len it is refused.
func lcsCmd(c *call) {
	a, _ := c.ks.Get(c.args[1], c.now)
	b, _ := c.ks.Get(c.args[2], c.now)
	var getLen, getIdx, withLen bool
	var minLen int64
	for j := 3; j < len(c.args); j++ {
		opt, more := c.args[j], len(c.args)-1-j
		switch {
		case eq(opt, "idx"):
			getIdx = true
		case eq(opt, "len"):
			getLen = true
		case eq(opt, "withmatchlen"):
			withLen = true
		case eq(opt, "minmatchlen") && more > 0:
			n, ok := intArg(c.args[j+1])
			if !ok {
				c.err(errNotInt)
				return
			}
			minLen = max(n, 0)
			j++
		default:
			c.err(errSyntax)
			return
		}
	}
	if getIdx && getLen {
		c.err("ERR If you want both the length and indexes, please just use IDX.")
		return
	}
	alen, blen := len(a), len(b)
	if int64(alen+1)*int64(blen+1)*4 > c.maxBulk() {
		c.err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
		return
	}
	w := blen + 1
	dp := make([]uint32, (alen+1)*w)
	for i := 1; i <= alen; i++ {
		for j := 1; j <= blen; j++ {
			if a[i-1] == b[j-1] {
				dp[i*w+j] = dp[(i-1)*w+j-1] + 1
			} else {
				dp[i*w+j] = max(dp[(i-1)*w+j], dp[i*w+j-1])
			}
		}
	}
	total := dp[alen*w+blen]
	if getLen {
		c.int(int64(total))
		return
	}
	result := make([]byte, total)
	ranges, n := lcsWalk(a, b, dp, result, minLen, withLen, getIdx)
	if !getIdx {
		c.bulk(result)
		return
	}
	c.dst = resp.AppendMap(c.dst, 2, c.s.resp3)
	c.bulkStr("matches")
	c.array(n)
	c.dst = append(c.dst, ranges...)
	c.bulkStr("len")
	c.int(int64(total))
}

// lcsWalk walks the table back from its end as Redis does, filling result
// and, for IDX, appending each emitted range's reply; n counts them.
func lcsWalk(a, b []byte, dp []uint32, result []byte, minLen int64, withLen, getIdx bool) (ranges []byte, n int) {
	w := len(b) + 1
	idx := len(result)
	alen := len(a)
	aStart, aEnd, bStart, bEnd := alen, 0, 0, 0 // aStart == alen: no range open
	for i, j := len(a), len(b); i > 0 && j > 0; {
		emit := false
		if a[i-1] == b[j-1] {
			result[idx-1] = a[i-1]
			if aStart == alen {
				aStart, aEnd, bStart, bEnd = i-1, i-1, j-1, j-1
			} else if aStart == i && bStart == j {
				aStart--
				bStart--
			} else {
				emit = true
			}
			if aStart == 0 || bStart == 0 {
				emit = true
			}
			idx, i, j = idx-1, i-1, j-1
		} else {
			if dp[(i-1)*w+j] > dp[i*w+j-1] {
				i--
			} else {
				j--
			}
			if aStart != alen {
				emit = true
			}
		}
		if !emit {
			continue
		}
		matchLen := int64(aEnd - aStart + 1)
		if getIdx && (minLen == 0 || matchLen >= minLen) {
			k := 2
			if withLen {
				k = 3
			}
			ranges = resp.AppendArray(ranges, k)
			ranges = resp.AppendArray(ranges, 2)
			ranges = resp.AppendInt(ranges, int64(aStart))
			ranges = resp.AppendInt(ranges, int64(aEnd))
			ranges = resp.AppendArray(ranges, 2)
			ranges = resp.AppendInt(ranges, int64(bStart))
			ranges = resp.AppendInt(ranges, int64(bEnd))
			if withLen {
				ranges = resp.AppendInt(ranges, matchLen)
			}
			n++
		}
		aStart = alen
	}
	return ranges, n
}
