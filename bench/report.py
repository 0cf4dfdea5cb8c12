"""Figures from a phase's raw records, and the text tables that show them."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from .load import PhaseLoad
from .procs import Usage

#: CPU (% of one core) taken by processes not ours above which a phase's figures are flagged as noisy.
NOISY_PCT = 25
#: A POST slower than this is counted, per second of its phase, in ``slow_posts_by_second``.
SLOW_POST_MS = 10
NOISY = "  ⚠ the machine was busy with other work: figures are noisy"
#: Stage timings the API reports (timings_ms), in pipeline order.
STAGES = ("queue_wait", "classify", "score", "notify", "total")
#: Gaps between stages that timings_ms leaves out, from the ticket's timestamps: (start, end).
GAPS = {
    "api: received→stored": ("received", "queued"),
    "hop: classify→score": ("classify_finished", "score_started"),
    "hop: score→notify": ("score_finished", "notify_started"),
}


def pcts(values: Iterable[float]) -> dict[str, float | None]:
    """p50/p95/p99 (and n) of ``values``, in their unit, rounded."""
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    if not arr.size:
        return {"n": 0, "p50": None, "p95": None, "p99": None}
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {"n": int(arr.size), "p50": round(float(p50), 1), "p95": round(float(p95), 1),
            "p99": round(float(p99), 1)}


def stage_figures(done: list[dict]) -> dict[str, dict]:
    """Per stage (timings_ms) and per gap between stages, p50/p95/p99 in ms over done tickets."""
    out = {stage: pcts(v["timings_ms"].get(stage) for v in done) for stage in STAGES}
    for name, (start, end) in GAPS.items():
        out[name] = pcts(_gap_ms(v["timestamps"], start, end) for v in done)
    return out


def _gap_ms(stamps: dict, start: str, end: str) -> float | None:
    return (stamps[end] - stamps[start]) * 1000.0 if start in stamps and end in stamps else None


def batch_sizes(views: list[dict]) -> list[int]:
    """Tickets per model forward pass, from the classify timestamps: a batch marks all its tickets
    started before it finishes any (exact with one model process, approximate with several)."""
    rows = sorted((v["timestamps"]["classify_started"], v["timestamps"]["classify_finished"]) for v in views
                  if "classify_started" in v["timestamps"] and "classify_finished" in v["timestamps"])
    sizes, first_finish = [], None
    for started, finished in rows:
        if first_finish is not None and started >= first_finish:
            first_finish = None
        if first_finish is None:
            sizes.append(0)
        sizes[-1] += 1
        first_finish = finished if first_finish is None else min(first_finish, finished)
    return sizes


def _counts(load: PhaseLoad, views: dict[str, dict]) -> dict[str, int]:
    """Accepted tickets by outcome: done, failed, unfinished (still queued or processing when the
    benchmark stopped waiting), lost (the API no longer knows them), unchecked (could not be read)."""
    statuses = [v["status"] for v in views.values()]
    accepted = len(load.accepted_ids())
    return {"accepted": accepted, "done": statuses.count("done"), "failed": statuses.count("failed"),
            "unfinished": statuses.count("queued") + statuses.count("processing"),
            "lost": statuses.count("missing"), "unchecked": accepted - len(views)}


def phase_figures(load: PhaseLoad, views: dict[str, dict], usage: Usage) -> dict:
    """Everything reported for one phase."""
    done = [v for v in views.values() if v["status"] == "done"]
    window = (max(v["timestamps"]["done"] for v in done) - min(v["timestamps"]["received"] for v in done)
              if done else 0.0)
    sizes = batch_sizes(done)
    return {
        "sent": len(load.sent),
        "send_rate_per_s": round(len(load.sent) / max(load.ended - load.started, 1e-3), 1),
        "post_ms": pcts(s.latency_ms for s in load.sent),
        "post_from_schedule_ms": pcts(s.lag_ms + s.latency_ms for s in load.sent),
        "late_sends_over_10ms": sum(1 for s in load.sent if s.lag_ms > 10),
        "slow_posts_by_second": _slow_by_second(load),
        "max_send_lag_ms": round(max((s.lag_ms for s in load.sent), default=0.0), 1),
        "rejected": _rejected(load),
        **_counts(load, views),
        "tickets_per_s": round(len(done) / window, 1) if window > 0 else None,
        "stages_ms": stage_figures(done),
        "classify_batch": {"batches": len(sizes), "mean": round(float(np.mean(sizes)), 2) if sizes else None,
                           "max": max(sizes, default=0)},
        "machine_cpu_pct": usage.system_cpu_pct,
        "other_cpu_pct": usage.other_cpu_pct,
        "processes": usage.rows,
    }


def _slow_by_second(load: PhaseLoad, over_ms: float = SLOW_POST_MS) -> list[int]:
    """POSTs slower than ``over_ms``, counted by the second of the phase they left in: a few bad
    moments (stalls of the machine) look different from a slow phase."""
    seconds = max(int(load.ended - load.started) + 1, 1)
    counts = [0] * seconds
    for s in load.sent:
        if s.latency_ms > over_ms:
            counts[min(max(int(s.at - load.started), 0), seconds - 1)] += 1
    return counts


def _rejected(load: PhaseLoad) -> dict[str, int]:
    """POSTs not answered 202, by status; those with no answer at all by the client's error."""
    out: dict[str, int] = {}
    for s in load.sent:
        if s.status != 202:
            key = str(s.status) if s.status else f"no answer ({s.error})"
            out[key] = out.get(key, 0) + 1
    return out


def _row(name: str, p: dict) -> str:
    cells = "".join(f"{'-' if p[k] is None else p[k]:>10}" for k in ("p50", "p95", "p99"))
    return f"    {name:<24}{cells}{p['n']:>8}"


def phase_text(name: str, f: dict) -> str:
    """The block printed after a phase."""
    batch = f["classify_batch"]
    lines = [
        f"── {name} ── sent {f['sent']} ({f['send_rate_per_s']}/s), accepted {f['accepted']}, rejected "
        f"{f['rejected'] or 0}; done {f['done']}, failed {f['failed']}, lost {f['lost']}, "
        f"unfinished {f['unfinished']}, unchecked {f['unchecked']}",
        f"    sustained end to end {f['tickets_per_s']} tickets/s; model batches: {batch['batches']}, mean "
        f"{batch['mean']} tickets, max {batch['max']}; late sends (>10 ms) {f['late_sends_over_10ms']}, "
        f"max lag {f['max_send_lag_ms']} ms",
        f"    POSTs over {SLOW_POST_MS} ms, by second of the phase: {f['slow_posts_by_second']}",
        f"    machine CPU {f['machine_cpu_pct']}% of all cores while sending and draining; processes not ours used "
        f"{f['other_cpu_pct']}% of one core{NOISY if f['other_cpu_pct'] > NOISY_PCT else ''}",
        f"    {'ms':<24}{'p50':>10}{'p95':>10}{'p99':>10}{'n':>8}",
        _row("POST /api/tickets", f["post_ms"]),
        _row("POST from its schedule", f["post_from_schedule_ms"]),
        *(_row(stage if stage != "total" else "submit→done (total)", p) for stage, p in f["stages_ms"].items()),
        f"    {'process':<24}{'CPU %':>10}{'RSS MiB':>10}{'pid':>8}",
        *(f"    {r['label']:<24}{r['cpu_pct']:>10}{r['rss_mib']:>10}{r['pid']:>8}" for r in f["processes"]),
    ]
    return "\n".join(lines)
