"""``make bench-cluster`` (root): one model worker host against two, on the hosts of deploy/netns.py.

The same backlog of tickets is posted at once to the API host, first with one worker host running,
then with both; for each run: tickets/s from the first POST to the last ticket done, and the CPU
seconds each host's processes used (API host, Redis host, each worker host), with the host speed
(bench/hostspeed.py) before and after.

What a 2-core machine can show: that a second host takes its share of the work through Redis alone,
and what the hosts cost each other. What it cannot: a second host's speed-up. Every "host" here
shares the same two cores, so two model workers split the CPU that one used (each runs one torch
thread; one host alone already keeps a core busy with the model and another with the API, Redis and
the I/O workers), and the ratio stays near 1. On real hosts each worker host brings its own cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from deploy import netns
from smartsupport.labels import DEFAULT_LABELS_FILE

from . import hostspeed

TEXTS = ["Production is down: every API call fails with 500 errors for all our users",
         "I was charged twice for my subscription this month, please refund",
         "The export button does nothing in Firefox since the last update",
         "Please delete my personal data under the GDPR"]


def host_cpu_s(cluster: netns.Cluster) -> dict[str, float]:
    """CPU seconds used so far by each host's process tree (children that ended included)."""
    used = {}
    for host, proc in cluster.procs.items():
        try:
            root = psutil.Process(proc.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        total = 0.0
        for p in tree:
            try:
                t = p.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
            except psutil.NoSuchProcess:
                pass
        used[host] = total
    return used


def warm_up(cluster: netns.Cluster, hosts: set[str]) -> None:
    """Tickets one at a time until each host's model process has loaded its model and classified."""
    seen: set[str] = set()
    for i in range(60):
        seen.add(cluster.finished(cluster.submit(f"warm-up ticket {i}"))["workers"]["classify"].split("@")[1])
        if seen >= hosts:
            return
    raise RuntimeError(f"only {sorted(seen)} classified during the warm-up")


def run_backlog(cluster: netns.Cluster, tickets: int) -> dict:
    before, started = host_cpu_s(cluster), time.monotonic()
    with ThreadPoolExecutor(8) as pool:  # the backlog arrives faster than the workers take it
        ids = list(pool.map(lambda i: cluster.submit(f"{TEXTS[i % len(TEXTS)]} (#{i})"), range(tickets)))
    posted = time.monotonic() - started
    pending = set(ids)
    while pending:
        views = [cluster.api("GET", f"/api/tickets/{tid}").json() for tid in list(pending)[:200]]
        pending -= {v["id"] for v in views if v["status"] in ("done", "failed")}
        if time.monotonic() - started > 600:
            raise TimeoutError(f"{len(pending)} tickets not done in 600 s")
        time.sleep(0.5)
    took = time.monotonic() - started
    after = host_cpu_s(cluster)
    hosts: dict[str, int] = {}
    for tid in ids:
        node = cluster.api("GET", f"/api/tickets/{tid}").json()["workers"]["classify"]
        hosts[node] = hosts.get(node, 0) + 1
    return {"tickets": tickets, "seconds": round(took, 2), "post_s": round(posted, 2),
            "tickets_per_s": round(tickets / took, 1), "classified_on": hosts,
            "cpu_s": {h: round(after.get(h, 0) - before.get(h, 0), 1) for h in after}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=1500)
    args = parser.parse_args(argv)
    why = netns.available()
    if why:
        print(f"cannot make a cluster here: {why}", file=sys.stderr)
        return 2
    speed_before = hostspeed.measure()
    results = {}
    with netns.Cluster(Path(tempfile.mkdtemp(prefix="smartsupport-bench-cluster-")),
                       labels_text=DEFAULT_LABELS_FILE.read_text(), log=lambda line: None,
                       api_env={"SMARTSUPPORT_RATE_LIMIT": "100000 per second"}) as cluster:
        cluster.wait_healthy()
        warm_up(cluster, {"worker-a", "worker-b"})
        cluster.stop("worker-b")
        time.sleep(3)
        print(f"one worker host: {args.tickets} tickets ...", flush=True)
        results["one worker host"] = run_backlog(cluster, args.tickets)
        cluster.start("worker-b", netns.WORKER_PROGRAMS, {"SMARTSUPPORT_WORKER_CONCURRENCY": "1",
                                                          "SMARTSUPPORT_TORCH_THREADS": "1"})
        cluster.wait_healthy()
        warm_up(cluster, {"worker-a", "worker-b"})
        print(f"two worker hosts: {args.tickets} tickets ...", flush=True)
        results["two worker hosts"] = run_backlog(cluster, args.tickets)
    speed_after = hostspeed.measure()
    one, two = results["one worker host"], results["two worker hosts"]
    print("\n" + hostspeed.text(speed_before, speed_after))
    for name, r in results.items():
        cpu = ", ".join(f"{h} {s:.1f} s" for h, s in r["cpu_s"].items())
        print(f"{name:<17} {r['tickets_per_s']:>6.1f} tickets/s ({r['tickets']} in {r['seconds']} s); "
              f"classified on {r['classified_on']}; CPU {cpu}")
    print(f"two hosts / one: {two['tickets_per_s'] / one['tickets_per_s']:.2f}x  "
          "(every host shares this machine's cores: see the docstring)")
    out = Path(__file__).resolve().parent / "last-cluster-run.json"
    out.write_text(json.dumps({"host_speed_ms": [speed_before, speed_after], **results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
