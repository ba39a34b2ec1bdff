package collection

import (
	"bytes"
	"math"
	"testing"
)

// Fuzz targets for every decoder of stored records and every parser of
// command arguments: no panics, and what decodes re-encodes to the input.

func FuzzDecodeMeta(f *testing.F) {
	f.Add(NewMeta(TypeHash, 1).Encode())
	f.Add(Meta{Type: TypeList, Version: 3, Size: 1, Head: ListStart, Tail: ListStart + 1}.Encode())
	f.Add([]byte{1, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMeta(b)
		if err != nil {
			return
		}
		if !bytes.Equal(m.Encode(), b) {
			t.Fatalf("%x decodes to %+v, which encodes to %x", b, m, m.Encode())
		}
	})
}

func FuzzDecodeElemKey(f *testing.F) {
	f.Add(ElemKey([]byte("user"), 5, []byte("field")))
	f.Add(ListElemKey([]byte("l"), 1, ListStart))
	f.Add([]byte("e\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		key, v, sub, err := DecodeElemKey(b)
		if err != nil {
			return
		}
		if got := ElemKey(key, v, sub); !bytes.Equal(got, b) {
			t.Fatalf("%x re-encodes as %x", b, got)
		}
		if !bytes.HasPrefix(b, ElemPrefix(key, v)) {
			t.Fatal("element key outside its prefix")
		}
		if seq, err := DecodeListSeq(sub); err == nil && !bytes.Equal(ListElemKey(key, v, seq), b) {
			t.Fatal("list key does not round-trip")
		}
	})
}

func FuzzDecodeScoreKey(f *testing.F) {
	f.Add(ScoreKey([]byte("z"), 2, -1.5, []byte("m")))
	f.Add(ScoreKey([]byte(""), 0, math.Inf(1), nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		key, v, score, member, err := DecodeScoreKey(b)
		if err != nil {
			return
		}
		if got := ScoreKey(key, v, score, member); !bytes.Equal(got, b) {
			t.Fatalf("%x re-encodes as %x", b, got)
		}
	})
}

func FuzzDecodeScore(f *testing.F) {
	f.Add(EncodeScore(1.5))
	f.Add([]byte{0x7f, 0xf8, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeScore(b)
		if err != nil {
			return
		}
		if math.IsNaN(s) || !bytes.Equal(EncodeScore(s), b) {
			t.Fatalf("%x decodes to %v", b, s)
		}
	})
}

func FuzzParseScore(f *testing.F) {
	for _, s := range scoreInputs {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseScore(b)
		if err == nil {
			if math.IsNaN(v) {
				t.Fatal("NaN accepted")
			}
			// What FormatScore prints parses back to the same score.
			back, err := ParseScore([]byte(FormatScore(v)))
			if err != nil || back != v {
				t.Fatalf("%q → %v → %q → %v, %v", b, v, FormatScore(v), back, err)
			}
		}
		if bd, err := ParseScoreBound(b); err == nil && math.IsNaN(bd.Value) {
			t.Fatal("NaN bound accepted")
		}
		_, _ = ParseLexBound(b)
		_, _ = ParseInt(b)
	})
}

// FuzzLoadHash feeds arbitrary element records to a cold load: it must
// fail cleanly or give a hash of the metadata's size.
func FuzzLoadHash(f *testing.F) {
	f.Add([]byte("h"), uint64(1), ElemKey([]byte("h"), 1, []byte("f")), []byte("v"), uint64(1))
	f.Fuzz(func(t *testing.T, key []byte, version uint64, k, v []byte, size uint64) {
		m := Meta{Type: TypeHash, Version: version, Size: size}
		recs := func(yield func(k, v []byte) bool) { yield(k, v) }
		h, err := LoadHash(key, m, recs)
		if err == nil && uint64(h.Len()) != size {
			t.Fatalf("loaded %d fields for size %d", h.Len(), size)
		}
	})
}
