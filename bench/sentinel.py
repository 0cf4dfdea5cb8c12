"""What waiting for a replica costs a POST: the API on a Sentinel group (deploy/sentinel_group.py),
with ``SMARTSUPPORT_REPLICA_ACKS=1`` (the default there: Redis ``WAIT`` before the 202) and with 0,
and on the primary's plain ``redis://`` URL; the same sequential POSTs in each, in one run.

The API runs in this process (Flask's test client: no HTTP, no gunicorn), so the figures are the
API's own time per request and what WAIT adds to it; the replica is on the same machine, so the
replication round trip is a loopback one (across a network add its round trip time).
"""

from __future__ import annotations

import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

from deploy.sentinel_group import RedisGroup

from . import hostspeed

POSTS = 400


def timings(url: str, data_dir: Path, **env: str) -> list[float]:
    from smartsupport.config import Settings
    from web import create_app

    key = "ssk_bench-" + secrets.token_hex(8)
    settings = Settings.from_env({"REDIS_URL": url, "SMARTSUPPORT_DATA_DIR": str(data_dir),
                                  "SMARTSUPPORT_API_KEYS": key, "SMARTSUPPORT_RATE_LIMIT": "100000/second", **env})
    client, auth = create_app(settings).test_client(), {"Authorization": f"Bearer {key}"}
    spent = []
    for i in range(POSTS + 20):
        started = time.perf_counter()
        answer = client.post("/api/tickets", json={"body": f"The export fails with an error (#{i})"}, headers=auth)
        if answer.status_code != 202:
            raise RuntimeError(f"POST answered {answer.status_code}: {answer.get_json()}")
        spent.append((time.perf_counter() - started) * 1000)
    return sorted(spent[20:])  # the first requests warm the connections up


def main() -> int:
    before = hostspeed.measure()
    root = Path(tempfile.mkdtemp(prefix="smartsupport-bench-sentinel-"))
    group = RedisGroup(root).start()
    try:
        primary = f"redis://:{group.password}@127.0.0.1:{group.primary()}/1"
        runs = {
            "sentinel, WAIT 1 replica": timings(group.url, root / "a"),
            "sentinel, no WAIT": timings(group.url, root / "b", SMARTSUPPORT_REPLICA_ACKS="0"),
            "redis:// primary, no WAIT": timings(primary, root / "c"),
        }
    finally:
        group.stop()
    after = hostspeed.measure()
    print(hostspeed.text(before, after))
    for name, spent in runs.items():
        print(f"{name:<27} POST p50 {statistics.median(spent):6.2f} ms   p99 {spent[int(len(spent) * 0.99)]:6.2f} ms"
              f"   ({len(spent)} sequential POSTs)")
    wait = statistics.median(runs["sentinel, WAIT 1 replica"]) - statistics.median(runs["sentinel, no WAIT"])
    print(f"WAIT adds {wait:.2f} ms to a POST's median on this machine (loopback replica)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
