package dgram_test

import (
	"context"
	"fmt"
	"log"

	"github.com/dorivo/dorivo/datapath/dgram"
	"github.com/dorivo/dorivo/datapath/wire"
)

// A tenant's application: the key is the one the agent has for the tenant
// (--tenant-key acme=@/etc/dorivo/acme.key).
func Example() {
	key, err := wire.ParseKey("00112233445566778899aabbccddeeff")
	if err != nil {
		log.Fatal(err)
	}
	c, err := dgram.Dial("127.0.0.1:6379", dgram.Options{Tenant: "acme", Key: key})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, []byte("{acme}:user:1"), []byte("ada")); err != nil {
		log.Fatal(err)
	}
	v, found, err := c.Get(ctx, []byte("{acme}:user:1"))
	fmt.Println(string(v), found, err)
}
