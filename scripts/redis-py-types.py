#!/usr/bin/python3
"""Every collection type through redis-py (Debian's python3-redis), unchanged,
against redis-server and Dorivo: the same calls must give the same results.

    /usr/bin/python3 scripts/redis-py-types.py REDIS_HOST:PORT DORIVO_HOST:PORT
"""
import sys
import threading
import time

import redis


def session(addr):
    host, port = addr.rsplit(":", 1)
    r = redis.Redis(host=host, port=int(port))
    r.flushall()
    out = []

    def call(name, *args, **kw):
        try:
            out.append((name, getattr(r, name)(*args, **kw)))
        except redis.RedisError as e:
            out.append((name, "error: " + str(e)))

    call("hset", "h", mapping={"a": "1", "b": "2"})
    call("hgetall", "h")
    call("hincrby", "h", "a", 5)
    call("hincrbyfloat", "h", "f", 0.25)
    call("hmget", "h", ["a", "nope"])
    call("hdel", "h", "b")
    call("hlen", "h")
    call("sadd", "{t}a", 1, 2, 3)
    call("sadd", "{t}b", 3, 4)
    call("sinter", "{t}a", "{t}b")
    call("sunionstore", "{t}u", ["{t}a", "{t}b"])
    call("smembers", "{t}u")
    call("smismember", "{t}a", [1, 9])
    call("zadd", "z", {"a": 1, "b": 2.5})
    call("zadd", "z", {"a": 3}, xx=True, ch=True)
    call("zrange", "z", 0, -1, withscores=True)
    call("zrangebyscore", "z", "(1", "+inf")
    call("zscore", "z", "b")
    call("zpopmax", "z")
    call("zunionstore", "{t}zu", {"{t}a": 2, "{t}b": 1})
    call("zrange", "{t}zu", 0, -1, withscores=True)
    call("rpush", "l", "a", "b", "c")
    call("lrange", "l", 0, -1)
    call("linsert", "l", "before", "b", "x")
    call("lrem", "l", 0, "a")
    call("lpos", "l", "c")
    call("lmove", "l", "l", "LEFT", "RIGHT")
    call("lrange", "l", 0, -1)
    call("type", "h")
    call("type", "l")
    call("get", "h")
    call("object", "encoding", "{t}a")
    # A blocked BLPOP, woken by another client's push.
    woken = []
    host, port = addr.rsplit(":", 1)
    t = threading.Thread(target=lambda: woken.append(
        redis.Redis(host=host, port=int(port)).blpop(["{q}e", "{q}l"], timeout=10)))
    t.start()
    time.sleep(0.1)
    call("rpush", "{q}l", "woken")
    t.join()
    out.append(("blpop", woken[0]))
    call("blpop", ["{q}l"], timeout=0.1)
    return out


def main():
    want, got = session(sys.argv[1]), session(sys.argv[2])
    for i, (w, g) in enumerate(zip(want, got)):
        if w != g:
            print("call %d %s: dorivo %r, redis-server %r" % (i, w[0], g[1], w[1]))
            sys.exit(1)
    if len(want) != len(got):
        print("dorivo made %d calls, redis-server %d" % (len(got), len(want)))
        sys.exit(1)
    print("redis-py: %d calls, same results" % len(want))


if __name__ == "__main__":
    main()
