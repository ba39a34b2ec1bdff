package collection_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/dorivo/dorivo/shardstore/collection"
)

func ExampleHash() {
	h := collection.NewHash()
	h.Set([]byte("name"), []byte("ada"))
	created := h.Set([]byte("name"), []byte("grace"))
	v, _ := h.Get([]byte("name"))
	fmt.Println(created, v, h.Len(), h.Encoding())
	// Output: false grace 1 listpack
}

func ExampleList() {
	l := collection.NewList()
	for _, v := range []string{"a", "b", "c"} {
		l.PushRight([]byte(v)) // RPUSH l a b c
	}
	l.PushLeft([]byte("z"))                  // LPUSH l z
	l.Insert(true, []byte("b"), []byte("x")) // LINSERT l BEFORE b x
	removed, _ := l.Remove(0, []byte("a"))   // LREM l 0 a
	fmt.Println(l.Range(0, -1), removed, l.Pos([]byte("c"), 1, 0, 0))
	// Output: [z x b c] 1 [3]
}

func ExampleSet() {
	s := collection.NewSet()
	s.Add([]byte("3"))
	s.Add([]byte("1"))
	t := collection.FromMembers([]string{"1", "2"})
	fmt.Println(s.Members(), s.Encoding(), collection.Inter([]*collection.Set{s, t}, 0))
	s.Add([]byte("x"))
	fmt.Println(s.Encoding(), s.Has([]byte("x")))
	rng := rand.New(rand.NewPCG(1, 2))
	fmt.Println(len(s.Random(rng, -5))) // SRANDMEMBER s -5 may repeat
	// Output:
	// [1 3] intset [1]
	// hashtable true
	// 5
}

func ExampleZSet() {
	z := collection.NewZSet()
	z.Add([]byte("a"), 1, collection.ZAddFlags{})
	z.Add([]byte("b"), 2.5, collection.ZAddFlags{})
	res, _ := z.Add([]byte("a"), 5, collection.ZAddFlags{GT: true}) // ZADD z GT CH 5 a
	r, _ := collection.ParseScoreRange([]byte("(1"), []byte("+inf"))
	for _, e := range z.RangeByScore(r, false, 0, -1) { // ZRANGEBYSCORE z (1 +inf WITHSCORES
		fmt.Print(e.Member, " ", collection.FormatScore(e.Score), " ")
	}
	rank, _ := z.Rank([]byte("a"), false)
	fmt.Println(res.Updated, rank)
	// Output: b 2.5 a 5 true 1
}

func ExampleHashSet() {
	// HSET h f v on a new hash, as records to write.
	m, h := collection.NewMeta(collection.TypeHash, 42), collection.NewHash()
	created := h.Set([]byte("f"), []byte("v"))
	for _, r := range collection.HashSet([]byte("h"), &m, h, []byte("f"), created) {
		fmt.Printf("%q = %q delete=%v\n", r.Key, r.Value, r.Delete)
	}
	// Output:
	// "e\x00\x00\x00\x01h\x00\x00\x00\x00\x00\x00\x00*f" = "\x00\x00\x00\x00\x00\x00\x00\x00v" delete=false
	// "mh" = "\x02\x01\x00\x00\x00\x00\x00\x00\x00*\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01" delete=false
}
