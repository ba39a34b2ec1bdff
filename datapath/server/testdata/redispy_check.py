#!/usr/bin/python3
"""Drives a Dorivo server through redis-py (Debian's python3-redis), unchanged.

Usage: redispy_check.py HOST PORT. Exercises strings, bitmaps, LCS, CONFIG,
INFO, TIME and HELLO with the library's own commands and reply parsing, and
exits non-zero with a message on the first mismatch. redis-py 4.3 speaks
RESP2 only (RESP3 came in redis-py 5), so HELLO is HELLO 2 here.
"""
import sys
import time

import redis


def check(what, got, want):
    if got != want:
        sys.exit(f"{what}: got {got!r}, want {want!r}")


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    r = redis.Redis(host=host, port=port, socket_timeout=10)

    # Strings, on keys that land on every loop.
    for i in range(20):
        check("SET", r.set(f"s{i}", i), True)
    check("MGET", r.mget("s0", "s7", "nokey", "s19"), [b"0", b"7", None, b"19"])
    check("GET missing", r.get("nokey"), None)
    check("INCRBY", r.incrby("s3", 5), 8)
    check("INCRBYFLOAT", r.incrbyfloat("s3", 0.5), 8.5)
    check("SET EX", r.set("ttl", "v", ex=3600), True)
    ttl = r.ttl("ttl")
    if not 3500 < ttl <= 3600:
        sys.exit(f"TTL: {ttl}")
    check("SETNX", r.setnx("s1", "x"), False)
    check("APPEND", r.append("s4", "abc"), 4)
    check("GETRANGE", r.getrange("s4", 1, -1), b"abc")
    check("DEL", r.delete("s0", "s1", "s2", "nokey"), 3)

    # Bitmaps and LCS.
    check("SETBIT", r.setbit("bm", 7, 1), 0)
    check("SETBIT", r.setbit("bm", 22, 1), 0)
    check("GETBIT", r.getbit("bm", 22), 1)
    check("BITCOUNT", r.bitcount("bm"), 2)
    check("BITCOUNT range", r.bitcount("bm", 0, 0), 1)
    check("BITPOS", r.bitpos("bm", 1, 1), 22)
    check("GET bm", r.get("bm"), b"\x01\x00\x02")
    r.set("{b}x", "abc")
    check("BITOP NOT", r.bitop("NOT", "{b}y", "{b}x"), 3)
    check("GET {b}y", r.get("{b}y"), bytes(255 - c for c in b"abc"))
    try:
        r.bitop("AND", "d", "s5", "s6")
        sys.exit("BITOP across loops succeeded, want CROSSSLOT")
    except redis.ResponseError as e:
        if "Keys in request don't hash to the same slot" not in str(e):
            sys.exit(f"BITOP across loops: {e}")
    bf = r.bitfield("bf")
    bf.set("u8", 0, 200).incrby("u8", 0, 100).overflow("FAIL").incrby("u8", 0, 250)
    check("BITFIELD", bf.execute(), [0, 44, None])
    check("BITFIELD_RO", r.execute_command("BITFIELD_RO", "bf", "GET", "u8", 0), [44])
    r.mset({"{l}a": "ohmytext", "{l}b": "mynewtext"})
    check("LCS", r.execute_command("LCS", "{l}a", "{l}b"), b"mytext")
    check("LCS LEN", r.execute_command("LCS", "{l}a", "{l}b", "LEN"), 6)
    check("LCS IDX", r.execute_command("LCS", "{l}a", "{l}b", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"),
          [b"matches", [[[4, 7], [5, 8], 4]], b"len", 6])

    # Server commands.
    cfg = r.config_get("*")
    check("CONFIG GET * maxmemory-policy", cfg.get("maxmemory-policy"), "noeviction")
    check("CONFIG GET * databases", cfg.get("databases"), "1")
    check("CONFIG SET", r.config_set("maxmemory-policy", "allkeys-lru"), True)
    check("CONFIG GET", r.config_get("maxmemory-policy"), {"maxmemory-policy": "allkeys-lru"})
    try:
        r.config_set("daemonize", "yes")
        sys.exit("CONFIG SET daemonize succeeded")
    except redis.ResponseError as e:
        check("CONFIG SET daemonize", str(e), "CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config")
    info = r.info("all")
    check("INFO role", info.get("role"), "master")
    if not isinstance(info.get("used_memory"), int) or info["used_memory"] <= 0:
        sys.exit(f"INFO used_memory: {info.get('used_memory')!r}")
    if not isinstance(info.get("used_cpu_user"), float):
        sys.exit(f"INFO used_cpu_user: {info.get('used_cpu_user')!r}")
    if info.get("cmdstat_set", {}).get("calls", 0) < 20:
        sys.exit(f"INFO cmdstat_set: {info.get('cmdstat_set')!r}")
    if info.get("db0", {}).get("keys", 0) < 20:
        sys.exit(f"INFO db0: {info.get('db0')!r}")
    check("CONFIG RESETSTAT", r.config_resetstat(), True)
    secs, usecs = r.time()
    if abs(secs + usecs / 1e6 - time.time()) > 5:
        sys.exit(f"TIME: {secs} {usecs}")
    hello = r.execute_command("HELLO", "2")
    fields = dict(zip(hello[::2], hello[1::2]))
    check("HELLO proto", fields.get(b"proto"), 2)
    check("HELLO version", fields.get(b"version"), b"7.0.15")
    check("PING", r.ping(), True)
    print("ok")


if __name__ == "__main__":
    main()
