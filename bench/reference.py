#!/usr/bin/python3
"""The ticket story's own fix, as the benchmark's reference.

A SCAN loop over ticket:* that pipelines one EXPIRE ... NX per key of each
batch, the TTL computed from the issue time in the key's name: a year after
it, or an hour of grace for a ticket whose year is over. redis-py from
Debian's python3-redis, no hiredis.

    /usr/bin/python3 bench/reference.py HOST PORT
"""
import re
import sys
import time

import redis

YEAR = 365 * 24 * 3600
GRACE = 3600
TICKET = re.compile(rb"^ticket:(\d{10}):\d+:[A-Za-z0-9]+$")


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    r = redis.Redis(host=host, port=port)
    now = int(time.time())
    cursor, changed, scanned = 0, 0, 0
    while True:
        cursor, keys = r.scan(cursor=cursor, match="ticket:*", count=1000)
        scanned += len(keys)
        pipe = r.pipeline(transaction=False)
        for k in keys:
            m = TICKET.match(k)
            if not m:
                continue
            ttl = int(m.group(1)) + YEAR - now
            pipe.execute_command("EXPIRE", k, ttl if ttl > 0 else GRACE, "NX")
        changed += sum(pipe.execute())
        if cursor == 0:
            break
    print(f"scanned {scanned} changed {changed}")


if __name__ == "__main__":
    main()
