package durable

import (
	"errors"
	"strconv"
	"sync"
	"testing"
)

// Two keys written together in each record read the same in every
// ReadConsistent, with or without the read cache, while writes go on.
func TestReadConsistentSeesWholeRecords(t *testing.T) {
	for _, cache := range []int64{0, 1 << 20} {
		t.Run("cache="+strconv.FormatInt(cache, 10), func(t *testing.T) {
			s := openStore(t, t.TempDir(), Options{Shards: 1, CacheBytes: cache})
			defer s.Close()
			a, b := []byte("a"), []byte("b")
			var wg sync.WaitGroup
			stop := make(chan struct{})
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 1; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					v := []byte(strconv.Itoa(i))
					wait(t, proposeAsync(s, a, AppendSet(AppendSet(nil, a, v, 0), b, v, 0)))
				}
			}()
			reads, raced := 0, 0
			for range 20000 {
				var va, vb []byte
				err := s.ReadConsistent(func() error {
					var err error
					if va, _, _, err = s.Get(0, a); err != nil {
						return err
					}
					vb, _, _, err = s.Get(0, b)
					return err
				})
				if errors.Is(err, ErrReadRaced) {
					raced++
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				reads++
				if string(va) != string(vb) {
					t.Fatalf("read a=%q b=%q: half a record", va, vb)
				}
			}
			close(stop)
			wg.Wait()
			if reads < 10000 {
				t.Fatalf("%d consistent reads of 20000 (%d raced)", reads, raced)
			}
		})
	}
}
