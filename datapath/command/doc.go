// Package command is the command table and executor of Dorivo's Redis
// compatible store: it runs one parsed request against one event loop's
// keyspace and appends Redis 7.0's exact reply, in RESP2 or, after HELLO 3,
// RESP3 (the call helpers null, mapLen, setLen and verbatim choose).
//
// Routing. The server parses a request (package resp), finds its keys with
// Keys, and sends it to the loop owning their slots; that loop calls Exec
// with its Keyspace. Exec never blocks and takes no locks: the keyspace is
// owned by the calling loop, and the little state shared by all loops (users,
// configuration, client ids) is read through atomic pointers to immutable
// snapshots (see Node).
//
// Commands spanning loops (MGET/MSET/DEL/EXISTS with keys in several loops,
// transactions across loops) are the server's to split and merge: an MGET is
// an array header followed by the replies of one GET per key, a DEL or
// EXISTS the sum of per-loop integer replies, an MSET one OK after per-loop
// MSETs. Exec handles them whole when all keys are local. A forwarded
// request is executed with the owner loop's session, so the connection's
// loop first runs Check with the connection's session (ACL, AUTH).
//
// SCAN cursors carry the slot in their upper 32 bits, and a loop owns
// contiguous slot ranges, so a server routes SCAN by the cursor's slot, and
// when a loop's keyspace returns 0 it continues with cursor
// firstSlotOfNextLoop<<32.
//
// Types. A key holds a string or a collection: hashes, sets, sorted sets
// and lists (package collection holds their values and record layout).
// Commands of one type on a key of another reply WRONGTYPE (types.go).
// A collection change is recorded as its element records (OpRecords):
// the metadata record and the changed elements, never the whole value;
// Replay rebuilds collections from such records as a restart does.
// Blocking pops that find nothing leave a Block in the session for the
// server to park (blocking.go).
//
// Durability. Exec appends one Mutation per change of durable state for each
// write it performs. A Mutation is deterministic: expiries are absolute, an
// INCR is the SET of its result, so replaying the records with Apply
// reproduces the keyspace. Expiry deletions are not recorded: expiry times
// are absolute, so a replica replaying the records sees the same live keys.
//
// Statistics. Each loop counts its commands in a CmdStats of its own
// (calls, sampled time, rejections, failures) and errors by their first
// word; INFO commandstats and errorstats sum them (stats.go, info.go).
//
// Divergences from Redis, by design: there is one database, so SELECT 0
// succeeds and SELECT 1..15 reply "ERR DB index is out of range"; replies
// that describe the server (INFO's values, CLIENT ID/INFO, COMMAND COUNT
// and LIST, which count only Dorivo's commands, CONFIG GET of parameters
// Dorivo does not have) differ; SHUTDOWN is refused; SCAN cursors are Dorivo's own
// (slot and position) and order differs, with the same guarantees; KEYS and
// SCAN (and RANDOMKEY) list to a user with key patterns (a tenant) only the
// keys it may access, where Redis lists every key.
package command
