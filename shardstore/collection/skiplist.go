package collection

import "math/rand/v2"

// skiplist orders a sorted set's members by (score, member), with spans
// for rank, as Redis's zskiplist does. A hand-written skiplist rather than
// a library B-tree: ZRANK and ranged offsets need the rank of an element
// in O(log n), which neither google/btree nor tidwall/btree exposes (the
// latter has GetAt, but no rank of an item).
type skiplist struct {
	head   *znode
	tail   *znode
	length int
	level  int
	rng    rand.PCG
}

type znode struct {
	member   string
	score    float64
	backward *znode
	levels   []zlevel
}

type zlevel struct {
	forward *znode
	span    int // elements crossed by following forward
}

const (
	zslMaxLevel = 32
	zslP        = 0x3FFF // 0.25 of 0xFFFF, as ZSKIPLIST_P
)

func newSkiplist() *skiplist {
	return &skiplist{head: &znode{levels: make([]zlevel, zslMaxLevel)}, level: 1, rng: *rand.NewPCG(1, 2)}
}

// less orders by score, then member bytes.
func zless(s1 float64, m1 string, s2 float64, m2 string) bool {
	return s1 < s2 || (s1 == s2 && m1 < m2)
}

func (z *skiplist) randomLevel() int {
	lvl := 1
	for lvl < zslMaxLevel && z.rng.Uint64()&0xFFFF < zslP {
		lvl++
	}
	return lvl
}

func (z *skiplist) insert(score float64, member string) *znode {
	var update [zslMaxLevel]*znode
	var rank [zslMaxLevel]int
	x := z.head
	for i := z.level - 1; i >= 0; i-- {
		if i < z.level-1 {
			rank[i] = rank[i+1]
		}
		for f := x.levels[i].forward; f != nil && zless(f.score, f.member, score, member); f = x.levels[i].forward {
			rank[i] += x.levels[i].span
			x = f
		}
		update[i] = x
	}
	lvl := z.randomLevel()
	if lvl > z.level {
		for i := z.level; i < lvl; i++ {
			rank[i], update[i] = 0, z.head
			z.head.levels[i].span = z.length
		}
		z.level = lvl
	}
	n := &znode{member: member, score: score, levels: make([]zlevel, lvl)}
	for i := range lvl {
		n.levels[i].forward = update[i].levels[i].forward
		update[i].levels[i].forward = n
		n.levels[i].span = update[i].levels[i].span - (rank[0] - rank[i])
		update[i].levels[i].span = rank[0] - rank[i] + 1
	}
	for i := lvl; i < z.level; i++ {
		update[i].levels[i].span++
	}
	if update[0] != z.head {
		n.backward = update[0]
	}
	if n.levels[0].forward != nil {
		n.levels[0].forward.backward = n
	} else {
		z.tail = n
	}
	z.length++
	return n
}

// delete removes the node with exactly score and member.
func (z *skiplist) delete(score float64, member string) bool {
	var update [zslMaxLevel]*znode
	x := z.head
	for i := z.level - 1; i >= 0; i-- {
		for f := x.levels[i].forward; f != nil && zless(f.score, f.member, score, member); f = x.levels[i].forward {
			x = f
		}
		update[i] = x
	}
	x = x.levels[0].forward
	if x == nil || x.score != score || x.member != member {
		return false
	}
	for i := range z.level {
		if update[i].levels[i].forward == x {
			update[i].levels[i].span += x.levels[i].span - 1
			update[i].levels[i].forward = x.levels[i].forward
		} else {
			update[i].levels[i].span--
		}
	}
	if x.levels[0].forward != nil {
		x.levels[0].forward.backward = x.backward
	} else {
		z.tail = x.backward
	}
	for z.level > 1 && z.head.levels[z.level-1].forward == nil {
		z.level--
	}
	z.length--
	return true
}

// rank returns the 1-based rank of (score, member), or 0.
func (z *skiplist) rank(score float64, member string) int {
	r := 0
	x := z.head
	for i := z.level - 1; i >= 0; i-- {
		for f := x.levels[i].forward; f != nil && (zless(f.score, f.member, score, member) || (f.score == score && f.member == member)); f = x.levels[i].forward {
			r += x.levels[i].span
			x = f
		}
		if x != z.head && x.score == score && x.member == member {
			return r
		}
	}
	return 0
}

// byRank returns the node of 1-based rank r, or nil.
func (z *skiplist) byRank(r int) *znode {
	if r < 1 || r > z.length {
		return nil
	}
	traversed := 0
	x := z.head
	for i := z.level - 1; i >= 0; i-- {
		for x.levels[i].forward != nil && traversed+x.levels[i].span <= r {
			traversed += x.levels[i].span
			x = x.levels[i].forward
		}
		if traversed == r {
			return x
		}
	}
	return nil
}

// firstWhere returns the first node for which past(node) holds, given
// that past is monotone over the order, with its 1-based rank.
func (z *skiplist) firstWhere(past func(*znode) bool) (*znode, int) {
	r := 0
	x := z.head
	for i := z.level - 1; i >= 0; i-- {
		for f := x.levels[i].forward; f != nil && !past(f); f = x.levels[i].forward {
			r += x.levels[i].span
			x = f
		}
	}
	return x.levels[0].forward, r + 1
}
