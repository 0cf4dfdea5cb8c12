"""The bare-Celery baseline: how many a → b → c chains per second Celery itself carries here."""

from __future__ import annotations

import importlib
import os
import sys
import time
from pathlib import Path

import redis

from .procs import OwnedProcess

WARMUP_CHAINS = 20


def start_worker(env: dict[str, str], bare_url: str, log_dir: Path) -> OwnedProcess:
    """``celery -A bench.bare worker -P prefork -c 2 -Q bare`` in its own process group."""
    argv = [str(Path(sys.executable).parent / "celery"), "-A", "bench.bare", "worker", "-P", "prefork",
            "-c", "2", "-Q", "bare", "--loglevel", "WARNING", "--hostname", "bare@%h"]
    return OwnedProcess("bare worker", argv, env={**env, "BENCH_BARE_URL": bare_url},
                        log_path=str(log_dir / "bare-worker.log"))


def load_app(env: dict[str, str], bare_url: str):
    """Import bench.bare here, in the stack's data dir (celeryconfig reads the settings from there)."""
    os.environ.update(BENCH_BARE_URL=bare_url, SMARTSUPPORT_DATA_DIR=env["SMARTSUPPORT_DATA_DIR"])
    return importlib.import_module("bench.bare")


def publish(bare, n: int) -> float:
    """Publish ``n`` chains as fast as one thread can; return the seconds it took."""
    from celery import chain

    start = time.perf_counter()
    for i in range(n):
        chain(bare.a.s(i), bare.b.s(), bare.c.s()).apply_async()
    return time.perf_counter() - start


def wait_count(counter: redis.Redis, key: str, n: int, timeout_s: float, worker: OwnedProcess) -> int:
    """Poll the completion counter until it reaches ``n`` (or the timeout); return the last value."""
    deadline = time.monotonic() + timeout_s
    while (done := int(counter.get(key) or 0)) < n and time.monotonic() < deadline:
        if worker.exited():
            raise RuntimeError(f"the bare worker exited:\n{worker.log_tail()}")
        time.sleep(0.02)
    return done


def run_bare(env: dict[str, str], bare_url: str, worker: OwnedProcess, chains: int, timeout_s: float) -> dict:
    """Warm the worker up, then publish ``chains`` chains and time them until the last one finished."""
    bare = load_app(env, bare_url)
    counter = redis.Redis.from_url(bare_url)
    counter.delete(bare.COUNTER)
    publish(bare, WARMUP_CHAINS)
    if wait_count(counter, bare.COUNTER, WARMUP_CHAINS, 60, worker) < WARMUP_CHAINS:
        raise TimeoutError(f"the bare worker did not finish {WARMUP_CHAINS} warm-up chains:\n{worker.log_tail()}")
    counter.delete(bare.COUNTER)
    start = time.perf_counter()
    publish_s = publish(bare, chains)
    print(f"  [bare] published {chains} chains in {publish_s:.1f}s, waiting for completions", flush=True)
    done = wait_count(counter, bare.COUNTER, chains, timeout_s, worker)
    elapsed = time.perf_counter() - start
    return {"chains": chains, "completed": done, "publish_per_s": round(chains / publish_s, 1),
            "seconds": round(elapsed, 2), "chains_per_s": round(done / elapsed, 1)}
