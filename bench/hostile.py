"""Clients and receivers that try to stall the system, measured against the same stack without them.

1. Costly bodies: small POSTs at 20/s for 10 s, alone, then with six threads posting the longest
   valid body of one repeated severity word ("bug " x 4900) back to back: POST latency of the small
   ones, with and without.
2. Slow receivers: a stack whose 16 webhook endpoints first answer at once, then drip their answer
   one byte a second: submit→done p95 of urgent tickets at 10/s for 15 s, each way. Deliveries have
   their own worker and end at the attempt's deadline, so scoring should not notice.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import numpy as np

from . import load
from .stack import Stack

COSTLY = "bug " * 4900
URGENT = "Our API is down for all users and every checkout fails, fix ASAP"


def costly_bodies(api: load.Api, say) -> dict:
    """Small POST latency at 20/s, without and then with six costly bodies in flight."""
    def small_posts() -> list[float]:
        latencies = []
        for _ in range(200):
            started = time.perf_counter()
            api.submit("The CSV export fails with an error")
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(max(0.0, 0.05 - (time.perf_counter() - started)))
        return latencies

    alone = small_posts()
    stop, costly = threading.Event(), []

    def hammer():
        while not stop.is_set():
            costly.append(api.submit(COSTLY).latency_ms)
    threads = [threading.Thread(target=hammer, daemon=True) for _ in range(6)]
    for t in threads:
        t.start()
    try:
        beside = small_posts()
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    result = {"alone": _pcts(alone), "beside_6_costly": _pcts(beside), "costly_posts": len(costly),
              "costly": _pcts(costly)}
    result["p50_ratio"] = round(result["beside_6_costly"]["p50"] / result["alone"]["p50"], 2)
    result["p95_ratio"] = round(result["beside_6_costly"]["p95"] / result["alone"]["p95"], 2)
    say(f"costly bodies: small POST p50/p95 {result['alone']['p50']}/{result['alone']['p95']} ms alone, "
        f"{result['beside_6_costly']['p50']}/{result['beside_6_costly']['p95']} ms beside six costly ones "
        f"({len(costly)} sent, p50 {result['costly']['p50']} ms each)")
    return result


class _Receivers:
    """``n`` webhook endpoints on loopback that answer at once, or drip a byte a second after ``drip()``."""

    def __init__(self, n: int) -> None:
        self.dripping = threading.Event()
        self.servers = [socket.create_server(("127.0.0.1", 0)) for _ in range(n)]
        for server in self.servers:
            threading.Thread(target=self._serve, args=(server,), daemon=True).start()

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{s.getsockname()[1]}/hook" for s in self.servers]

    def _serve(self, server: socket.socket) -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
        with conn:
            try:
                conn.recv(65536)
                if not self.dripping.is_set():
                    conn.sendall(reply)
                    return
                for byte in reply:
                    conn.sendall(bytes([byte]))
                    time.sleep(1.0)
            except OSError:
                return

    def close(self) -> None:
        for server in self.servers:
            server.close()


def slow_receivers(tmp: Path, say) -> dict:
    """submit→done p95 of urgent tickets with 16 endpoints answering at once, then dripping."""
    receivers = _Receivers(16)
    env = {"SMARTSUPPORT_WEBHOOK_URLS": ",".join(receivers.urls), "SMARTSUPPORT_WEBHOOK_TIMEOUT_S": "5",
           "SMARTSUPPORT_INCIDENTS": "off"}
    system = Stack.start(tmp / "hostile-data", extra_env=env)
    try:
        system.wait_healthy()
        api = load.Api(system.base_url, system.api_key)
        result = {}
        for mode in ("answering", "dripping"):
            if mode == "dripping":
                receivers.dripping.set()
            sent = load.open_loop(api, f"receivers {mode}", 10, 15, 8, [URGENT])
            load.wait_drained(api, 60, mode)
            views = load.fetch(api, sent.accepted_ids(), 30)
            totals = [v["timings_ms"]["total"] for v in views.values() if v.get("timings_ms", {}).get("total")]
            result[mode] = {"done": len(totals), "submit_to_done_ms": _pcts(totals)}
            say(f"16 receivers {mode}: submit→done p50/p95 {result[mode]['submit_to_done_ms']['p50']}/"
                f"{result[mode]['submit_to_done_ms']['p95']} ms over {len(totals)} urgent tickets")
        result["p95_ratio"] = round(result["dripping"]["submit_to_done_ms"]["p95"]
                                    / result["answering"]["submit_to_done_ms"]["p95"], 2)
        return result
    finally:
        system.proc.stop()
        receivers.close()


def _pcts(values: list[float]) -> dict:
    if not values:
        return {"p50": None, "p95": None, "n": 0}
    p50, p95 = np.percentile(values, [50, 95])
    return {"p50": round(float(p50), 1), "p95": round(float(p95), 1), "n": len(values)}
