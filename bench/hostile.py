"""Clients and receivers that try to stall the system, measured against the same stack without them.

1. Costly bodies: small POSTs at 20/s for 10 s, alone, then beside six clients posting the longest
   valid body of one repeated severity word ("bug " x 4900) back to back, three rounds of both,
   pooled; then beside six posting small bodies back to back: POST latency of the small ones each way.
2. Slow receivers: a stack whose 16 webhook endpoints first answer at once, then drip their answer
   one byte a second: submit→done p95 of urgent tickets at 10/s for 15 s, each way. Deliveries have
   their own worker and end at the attempt's deadline, so scoring should not notice.
"""

from __future__ import annotations

import multiprocessing
import socket
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

from . import load
from .stack import Stack

COSTLY = "bug " * 4900
URGENT = "Our API is down for all users and every checkout fails, fix ASAP"


SMALL = "The CSV export fails with an error"
#: Longest wait for the pipeline to go idle before each costly-bodies measurement.
DRAIN_S = 150
#: Rounds of (small POSTs alone, beside six costly clients), pooled per side.
ROUNDS = 3


def costly_bodies(api: load.Api, say) -> dict:
    """Small POST latency at 20/s: alone, beside six clients posting costly bodies back to back, and
    beside six posting small bodies back to back (as many clients, none of their bodies costly).

    The six clients run in a process of their own, as other clients would: sharing the measuring
    process's GIL would time our own client's waits, not the API's."""
    def small_posts() -> list[float]:
        latencies = []
        for _ in range(200):
            started = time.perf_counter()
            api.submit(SMALL)
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(max(0.0, 0.05 - (time.perf_counter() - started)))
        return latencies

    # Each measurement starts from an idle pipeline: a backlog left by the phase before would slow
    # the baseline and flatter the ratios. Alone and beside the costly clients alternate, ROUNDS
    # times, and each pools its rounds: a p95 of one 10 s round moved by a third from run to run.
    drained: dict[str, bool] = {}
    pooled: dict[str, list[float]] = {"alone": [], "beside_6_costly": [], "beside_6_small": []}
    answers: dict[str, list[tuple[int | None, float]]] = {"costly": [], "small": []}
    plan = [(name, body) for _ in range(ROUNDS) for name, body in (("alone", None), ("costly", COSTLY))]
    plan.append(("small", SMALL))
    for name, body in plan:
        key = "alone" if body is None else f"beside_6_{name}"
        drained[key] = drained.get(key, True) & load.wait_drained(api, DRAIN_S, f"before {key.replace('_', ' ')}")
        if body is None:
            pooled[key] += small_posts()
            continue
        beside, sent = _beside_six(api, body, small_posts)
        pooled[key] += beside
        answers[name] += sent
    result: dict = {"rounds": ROUNDS, "drained_before": drained, **{k: _pcts(v) for k, v in pooled.items()}}
    for name, sent in answers.items():
        result[f"{name}_clients"] = {"sent": len(sent), "latency_ms": _pcts([ms for _, ms in sent]),
                                     "statuses": dict(Counter(str(status) for status, _ in sent))}
    for p in ("p50", "p95"):
        result[f"{p}_ratio"] = round(result["beside_6_costly"][p] / result["alone"][p], 2)
        result[f"{p}_ratio_to_small_clients"] = round(result["beside_6_costly"][p] / result["beside_6_small"][p], 2)
    say(f"costly bodies, {ROUNDS} rounds pooled: small POST p50/p95 "
        f"{result['alone']['p50']}/{result['alone']['p95']} ms alone, "
        f"{result['beside_6_costly']['p50']}/{result['beside_6_costly']['p95']} ms beside six clients posting "
        f"costly ones back to back ({result['costly_clients']['sent']} sent, "
        f"p50 {result['costly_clients']['latency_ms']['p50']} ms each), "
        f"{result['beside_6_small']['p50']}/{result['beside_6_small']['p95']} ms beside six posting small ones "
        f"({result['small_clients']['sent']} sent)")
    return result


def _beside_six(api: load.Api, body: str, measure) -> tuple[list[float], list[tuple[int | None, float]]]:
    """What ``measure()`` returns while six clients post ``body`` back to back, and their answers."""
    context = multiprocessing.get_context("spawn")
    stop, answers = context.Event(), context.Queue()
    clients = context.Process(target=_six_clients, args=(api.base_url, api.headers, body, stop, answers),
                              daemon=True)
    clients.start()
    try:
        answers.get(timeout=60)  # they are posting
        measured = measure()
    finally:
        stop.set()
        sent = answers.get(timeout=60)
        clients.join(timeout=30)
    return measured, sent


def _six_clients(base_url: str, headers: dict, body: str, stop, answers) -> None:
    """Six threads posting ``body`` back to back until ``stop``; puts ``[]`` once they post, then
    every answer's (status, latency)."""
    api = load.Api(base_url, "")
    api.headers = headers
    sent: list[tuple[int | None, float]] = []

    def post_back_to_back():
        while not stop.is_set():
            answer = api.submit(body)
            sent.append((answer.status, answer.latency_ms))
    threads = [threading.Thread(target=post_back_to_back, daemon=True) for _ in range(6)]
    for t in threads:
        t.start()
    while not sent and not stop.is_set():
        time.sleep(0.01)
    answers.put([])
    stop.wait()
    for t in threads:
        t.join(timeout=30)
    answers.put(sent)


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
