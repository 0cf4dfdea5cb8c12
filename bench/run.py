"""``make bench``: where the milliseconds go, on this machine, in one run of about ten minutes.

1. starts the whole system as ``make run`` does (free ports, a fresh data dir) and warms it up;
2. measures a bare Celery a → b → c chain on the same Redis (stack idle), for the pipeline/bare ratio;
3. loads the system: 50 tickets/s for 20 s, 200 tickets/s for 10 s (open loop), then as fast as
   possible for 20 s; per phase POST latency, submit→done and per-stage latency, sustained
   tickets/s, lost/failed tickets, and CPU%/RSS per process of the stack; then small POSTs beside
   six costly bodies in flight (bench/hostile.py);
4. stops the stack, then times the default classifier against a bart-large-mnli-shaped model;
5. times incident detection per ticket with 10,000 recent tickets in the window (bench/incidents.py),
   routing per ticket with the example routing file (bench/routing.py), its business-hours
   deadlines per ticket (bench/calendars.py), and work pushed to agents per ticket (bench/assignment.py);
6. the API's latency with 1,000 and 200,000 tickets stored, and memory per ticket (bench/storage.py);
   a simulated week at 10,000 tickets a day with two days' retention: memory by day (bench/retention.py);
7. a stack whose 16 webhook endpoints drip their answers, against the same answering at once;
8. triage inside Request Tracker: a private RT and a stack polling it, 100 tickets created there at
   10/s, created→written back (bench/helpdesk.py; skipped where RT is not installed);
9. prints a summary and writes it, with every figure, to bench/last-run.json.

The machine is shared: each phase also reports the CPU that processes not ours took meanwhile.

Every process it starts is stopped on the way out, Ctrl-C and errors included.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path

from . import (assignment, baseline, calendars, classifiers, helpdesk, hostile, hostspeed, incidents, load, retention,
               routing, starvation, storage)
from .procs import OwnedProcess, Sampler
from .report import phase_figures, phase_text, pcts
from .stack import RATE_LIMIT, Stack

#: The load phases stay within this budget: waits are cut short to fit it (the stored-tickets, week and
#: slow-receiver measurements after them take about three minutes more).
BUDGET_S = 345
#: Seconds kept for what follows the load phases: stopping the stack and the classifier timings.
RESERVE_S = 130
#: Seconds the bart stand-in needs besides its timed tickets: building, saving, loading, a warm-up pass.
BART_SETUP_S = 45
#: Tickets the API reads back per second, roughly, to budget the final read of a phase's tickets.
READ_PER_S = 250
BARE_CHAINS = 1000
#: name, kind, rate (tickets/s, open loop only), seconds of load, client threads, longest wait for
#: the pipeline to finish afterwards (saturation is measured under its backlog, not drained).
PHASES = (
    ("a: 50/s", "open", 50, 20, 16, 35),
    ("b: 200/s", "open", 200, 10, 64, 50),
    ("c: saturation", "closed", None, 20, 24, 20),
)
OUT = Path(__file__).resolve().parent / "last-run.json"


class Clock:
    """Elapsed time since the start, for progress lines and the overall time budget."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def left(self) -> float:
        """Seconds left of BUDGET_S."""
        return BUDGET_S - (time.monotonic() - self.t0)

    def say(self, text: str) -> None:
        """A progress line, stamped with the elapsed seconds."""
        print(f"[{time.monotonic() - self.t0:5.0f}s] {text}", flush=True)


def _stop_quietly(proc: OwnedProcess, clock: Clock) -> None:
    """Stop a process group; a second Ctrl-C does not interrupt the clean-up."""
    if proc.stopped:
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        clock.say(f"stopping the {proc.name}")
        proc.stop()
    finally:
        signal.signal(signal.SIGINT, previous)


def start_stack(tmp: Path, cleanup: contextlib.ExitStack, clock: Clock) -> tuple[Stack, load.Api, dict]:
    """Start the system, wait for health, time a first ticket, then warm it up with 20 tickets; the
    first ticket's figures."""
    clock.say("starting the stack (python -m deploy run)")
    system = Stack.start(tmp / "data")
    cleanup.callback(_stop_quietly, system.proc, clock)
    clock.say(f"healthy after {system.wait_healthy():.1f}s at {system.base_url}; a first ticket at once")
    api = load.Api(system.base_url, system.api_key)
    first = starvation.first_ticket(api, "Our production API is down and every checkout fails, fix ASAP")
    clock.say(f"first ticket after healthy: {first}; warming up with 20 tickets")
    warm = load.open_loop(api, "warm-up", 20, 1, 4, load.ticket_texts())
    load.wait_drained(api, 120, "warm-up")
    views = load.fetch(api, warm.accepted_ids(), 30)
    if len(views) < 20 or any(v["status"] != "done" for v in views.values()):
        raise RuntimeError(f"warm-up: {len(views)}/20 tickets finished\n{system.proc.log_tail()}")
    clock.say(f"warm-up done, submit→done p50 {pcts(v['timings_ms']['total'] for v in views.values())['p50']} ms")
    return system, api, first


def run_bare(system: Stack, tmp: Path, cleanup: contextlib.ExitStack, clock: Clock) -> dict:
    """The bare-Celery baseline on the stack's Redis (database 1) with its own worker, run while the
    stack is idle; the worker is stopped before the load phases."""
    bare_url = system.redis_url + "/1"
    clock.say(f"bare Celery baseline: {BARE_CHAINS} chains a → b → c, worker -P prefork -c 2")
    worker = baseline.start_worker(system.env, bare_url, tmp)
    cleanup.callback(_stop_quietly, worker, clock)
    result = baseline.run_bare(system.env, bare_url, worker, BARE_CHAINS, timeout_s=60)
    _stop_quietly(worker, clock)
    clock.say(f"bare: {result['chains_per_s']} chains/s ({result['completed']}/{BARE_CHAINS} in {result['seconds']}s, "
              f"published at {result['publish_per_s']}/s)")
    return result


def _wait_budget(index: int, accepted: int, clock: Clock) -> tuple[float, float]:
    """Seconds phase ``index`` may wait for the pipeline, and may spend reading its tickets back,
    leaving time for the later phases and for RESERVE_S."""
    later = sum(seconds + wait + 10 for _, _, _, seconds, _, wait in PHASES[index + 1:])
    read_s = 10 + accepted / READ_PER_S
    wait_s = min(PHASES[index][5], clock.left() - RESERVE_S - later - read_s)
    return max(5.0, wait_s), read_s


def run_phase(api: load.Api, sampler: Sampler, index: int, clock: Clock) -> dict:
    """One load phase: send (sampling the processes meanwhile), wait for the pipeline, read every ticket."""
    name, kind, rate, seconds, threads, _ = PHASES[index]
    texts = load.ticket_texts()
    clock.say(f"phase {name}: {f'{rate} tickets/s' if rate else 'as fast as possible'} for {seconds}s, "
              f"{threads} client threads")
    sampler.start()
    try:
        sent = (load.open_loop(api, name, rate, seconds, threads, texts) if kind == "open"
                else load.closed_loop(api, name, seconds, threads, texts))
        wait_s, read_s = _wait_budget(index, len(sent.accepted_ids()), clock)
        load.wait_drained(api, wait_s, name)
    finally:
        usage = sampler.stop()
    views = load.fetch(api, sent.accepted_ids(), read_s)
    figures = phase_figures(sent, views, usage)
    print(phase_text(name, figures), flush=True)
    return figures


def run_classifiers(tmp: Path, clock: Clock) -> dict:
    """Default classifier vs the bart-large-mnli stand-in, in this process, with the stack stopped."""
    texts, sampler = load.ticket_texts(), Sampler([])
    clock.say("default classifier: batch 32 over 256 tickets, batch 1 over 64 (torch 2 threads)")
    sampler.start()
    default = classifiers.default_classifier(texts, max_s=min(35.0, max(5.0, 0.25 * clock.left())))
    default["other_cpu_pct"] = sampler.stop().other_cpu_pct
    b32, b1 = default["batch32"], default["batch1"]
    clock.say(f"default ({default['precision']}: {default['precision_reason']}): {b32['per_s']} tickets/s at batch 32 "
              f"(fastest batch {b32['best_per_s']}), {b1['per_s']} at batch 1 (fastest {b1['best_per_s']}); "
              f"processes not ours meanwhile: {default['other_cpu_pct']}% of a core")
    clock.say("each precision forced: batch 32 over 64 tickets, batch 1 over 16")
    forced = classifiers.precisions(texts, max_s=30.0)
    clock.say("  " + "; ".join(f"{p}: {forced[p]['batch32']['per_s']} tickets/s at batch 32, "
                               f"{forced[p]['batch1']['per_s']} at batch 1" for p in ("fp32", "int8"))
              + f" (CPU {forced['cpu_capability']})")
    clock.say("bart-large-mnli stand-in (random weights): building, then up to 12 tickets × 3 labels")
    sampler.start()
    bart = classifiers.bart_nli(texts, tmp / "bart-large-mnli-random",
                                max_s=min(40.0, max(5.0, clock.left() - BART_SETUP_S)))
    bart["other_cpu_pct"] = sampler.stop().other_cpu_pct
    clock.say(f"bart: {bart['per_s']} tickets/s over {bart['tickets']} tickets (fastest {bart['best_per_s']}; "
              f"{bart['params_m']}M parameters, prepared in {bart['prepare_s']}s; processes not ours meanwhile: "
              f"{bart['other_cpu_pct']}% of a core)")
    return {"default": default, "bart_large_mnli_random": bart, "precisions": forced}


def summarise(result: dict) -> dict:
    """The figures an engineer would quote."""
    a, b, c = (result["phases"][name] for name, *_ in PHASES)
    per_phase = {name.split(":")[0]: p["tickets_per_s"] or 0.0 for name, p in result["phases"].items()}
    sustained = max(per_phase.values())
    default, bart = result["classifiers"]["default"], result["classifiers"]["bart_large_mnli_random"]
    return {
        "post_p99_ms_at_200_per_s": b["post_ms"]["p99"],
        "post_p99_from_schedule_ms_at_200_per_s": b["post_from_schedule_ms"]["p99"],
        "sustained_tickets_per_s": sustained,
        "sustained_tickets_per_s_by_phase": per_phase,
        "other_cpu_pct_by_phase": {name.split(":")[0]: p["other_cpu_pct"] for name, p in result["phases"].items()},
        "saturation_post_per_s": c["send_rate_per_s"],
        "submit_to_done_p95_ms_at_50_per_s": a["stages_ms"]["total"]["p95"],
        "lost_or_failed": sum(p["lost"] + p["failed"] for p in (a, b, c)),
        "unfinished_after_wait": {name: p["unfinished"] + p["unchecked"] for name, p in result["phases"].items()},
        "rejected_posts": sum(sum(p["rejected"].values()) for p in (a, b, c)),
        "bare_chains_per_s": result["bare"]["chains_per_s"],
        "pipeline_over_bare": round(sustained / result["bare"]["chains_per_s"], 3),
        "classifier_precision": f"{default['precision']} ({default['precision_reason']})",
        "precisions_per_s": {p: {b: result["classifiers"]["precisions"][p][b]["per_s"]
                                 for b in ("batch1", "batch32")} for p in ("fp32", "int8")},
        "cpu_capability": result["classifiers"]["precisions"]["cpu_capability"],
        "first_ticket_after_healthy_s": result["first_ticket_after_healthy"].get("seconds"),
        "classify_beside_readers": {k: result["classify_beside_readers"][k]
                                    for k in ("alone", "beside_readers", "ratio")},
        "classifier_batch32_per_s": default["batch32"]["per_s"],
        "classifier_batch1_per_s": default["batch1"]["per_s"],
        "bart_large_mnli_per_s": bart["per_s"],
        "classifier_over_bart_batch32": round(default["batch32"]["per_s"] / bart["per_s"], 1),
        "classifier_over_bart_batch1": round(default["batch1"]["per_s"] / bart["per_s"], 1),
        "classifier_over_bart_fastest_batch32": round(default["batch32"]["best_per_s"] / bart["best_per_s"], 1),
        "rss_mib_at_saturation": _rss_by_label(c["processes"]),
        "incident_ms_per_ticket_at_10k_batch1": result["incidents"]["batch1_ms_per_ticket"],
        "incident_ms_per_ticket_at_10k_batch32": result["incidents"]["batch32_ms_per_ticket"],
        "host_speed_ms": {k: v["median_ms"] for k, v in result["host_speed"].items()},
        "storage_p99_ms": {f"{n:,} stored": {k: v["p99_ms"] for k, v in f.items() if k != "bytes_per_ticket"}
                           for n, f in result["storage"]["by_tickets_stored"].items()},
        "storage_p99_ratio_200k_to_1k": result["storage"]["p99_ratio_200k_to_1k"],
        "redis_bytes_per_ticket": result["storage"]["by_tickets_stored"][200_000]["bytes_per_ticket"],
        "post_cpu_ms": result["storage"]["post_cpu"],
        "week_mb_by_day": [d["used_memory_mb"] for d in result["week"]["days"]],
        "week_tickets_by_day": [d["stored"] for d in result["week"]["days"]],
        "week_bytes_per_ticket": result["week"]["bytes_per_stored_ticket"],
        "routing_ms_per_ticket": result["routing"]["total_ms_per_ticket"],
        "calendar_ms_per_ticket": {k: result["calendars"][f"{k}_ms_per_ticket"]
                                   for k in ("cold", "warm", "wall_clock")},
        "assignment_ms_per_ticket": {k: result["assignment"][f"{k}_ms_per_ticket"]
                                     for k in ("round_robin", "least_loaded")},
        "assignment_and_calendar_ms_per_ticket": assignment.combined_ms_per_ticket(result["assignment"],
                                                                                   result["calendars"]),
        "small_post_ms_beside_6_costly": {k: result["costly_bodies"][k] for k in (
            "alone", "beside_6_costly", "beside_6_small", "p50_ratio", "p95_ratio", "p50_ratio_to_small_clients",
            "p95_ratio_to_small_clients", "drained_before")},
        "submit_to_done_p95_ms_16_receivers": {m: result["slow_receivers"][m]["submit_to_done_ms"]["p95"]
                                               for m in ("answering", "dripping")},
        "slow_receivers_p95_ratio": result["slow_receivers"]["p95_ratio"],
        "helpdesk": helpdesk.text(result["helpdesk"]).removeprefix("helpdesk: "),
    }


def _rss_by_label(rows: list[dict]) -> dict[str, float]:
    """Peak RSS per kind of process, the largest where a kind has several ("gunicorn child ×2")."""
    out: dict[str, float] = {}
    for lbl in dict.fromkeys(r["label"] for r in rows):
        same = [r["rss_mib"] for r in rows if r["label"] == lbl]
        out[lbl + (f" ×{len(same)}" if len(same) > 1 else "")] = max(same)
    return out


def summary_text(s: dict) -> str:
    """The summary block printed at the end."""
    costly, readers = s["small_post_ms_beside_6_costly"], s["classify_beside_readers"]
    rss = ", ".join(f"{k} {v}" for k, v in s["rss_mib_at_saturation"].items())
    unfinished = _by_phase({k.split(":")[0]: v for k, v in s["unfinished_after_wait"].items()})
    return "\n".join([
        "══ summary ══",
        f"  POST p99 at 200/s           : {s['post_p99_ms_at_200_per_s']} ms "
        f"(from its schedule: {s['post_p99_from_schedule_ms_at_200_per_s']} ms)",
        f"  sustained end to end        : {s['sustained_tickets_per_s']} tickets/s, the best phase "
        f"({_by_phase(s['sustained_tickets_per_s_by_phase'])}; saturation offered {s['saturation_post_per_s']} POST/s)",
        f"  submit→done p95 at 50/s     : {s['submit_to_done_p95_ms_at_50_per_s']} ms",
        f"  lost or failed / rejected   : {s['lost_or_failed']} / {s['rejected_posts']} POSTs "
        f"(still open when the wait ended: {unfinished})",
        f"  pipeline / bare Celery      : {s['pipeline_over_bare']} "
        f"({s['sustained_tickets_per_s']} tickets/s vs {s['bare_chains_per_s']} chains/s)",
        f"  classifier / bart-large-mnli: {s['classifier_over_bart_batch32']}× at batch 32, "
        f"{s['classifier_over_bart_batch1']}× at batch 1 ({s['classifier_batch32_per_s']}, "
        f"{s['classifier_batch1_per_s']} vs {s['bart_large_mnli_per_s']} tickets/s; fastest batches only: "
        f"{s['classifier_over_bart_fastest_batch32']}× at batch 32)",
        f"  precision chosen            : {s['classifier_precision']}",
        "  each precision, tickets/s   : "
        + "; ".join(f"{p} batch 1 {v['batch1']}, batch 32 {v['batch32']}" for p, v in s["precisions_per_s"].items())
        + f" (CPU {s['cpu_capability']})",
        f"  first ticket after healthy  : done {s['first_ticket_after_healthy_s']} s after its POST",
        f"  classify beside readers     : {readers['beside_readers']['per_s']} against {readers['alone']['per_s']} "
        f"tickets/s alone (×{readers['ratio']}), longest stretch with none classified "
        f"{readers['beside_readers']['longest_gap_s']} s (alone {readers['alone']['longest_gap_s']} s; "
        f"{readers['beside_readers']['reads_per_s']} reads/s)",
        f"  RSS MiB (saturation)        : {rss}",
        f"  incidents, 10k recent       : {s['incident_ms_per_ticket_at_10k_batch1']['p50']} ms per ticket at "
        f"batch 1 (p95 {s['incident_ms_per_ticket_at_10k_batch1']['p95']}), "
        f"{s['incident_ms_per_ticket_at_10k_batch32']['p50']} ms at batch 32",
        f"  stored tickets, p99 ms      : {_by_phase(s['storage_p99_ms'])}; 200k / 1k: "
        f"{_by_phase(s['storage_p99_ratio_200k_to_1k'])}; Redis {s['redis_bytes_per_ticket']} bytes per ticket",
        f"  API CPU per POST            : {_by_phase(s['post_cpu_ms'])} ms",
        f"  a week at 10,000/day, 2 kept: Redis MB by day {s['week_mb_by_day']}, tickets {s['week_tickets_by_day']}; "
        f"{s['week_bytes_per_ticket']} bytes per ticket",
        f"  routing per ticket          : {s['routing_ms_per_ticket']} ms (decision and notify's extra writes)",
        f"  SLA deadlines per ticket    : {_by_phase(s['calendar_ms_per_ticket'])} ms (business hours, "
        "examples/routing.yaml)",
        f"  pushing work per ticket     : {_by_phase(s['assignment_ms_per_ticket'])} ms (dispatch, 2,000 waiting "
        f"a team); with the deadlines {s['assignment_and_calendar_ms_per_ticket']} ms (floor "
        f"{assignment.FLOOR_MS} ms)",
        f"  small POSTs, 6 costly beside: p50 ×{costly['p50_ratio']}, p95 ×{costly['p95_ratio']} (alone "
        f"{costly['alone']['p95']} ms p95); p95 ×{costly['p95_ratio_to_small_clients']} of the same beside "
        f"six clients of small bodies; " + ("each from an idle pipeline" if all(costly["drained_before"].values())
                                            else f"NOT from an idle pipeline: {costly['drained_before']}"),
        f"  16 dripping receivers       : submit→done p95 {_by_phase(s['submit_to_done_p95_ms_16_receivers'])} ms "
        f"(×{s['slow_receivers_p95_ratio']})",
        f"  Request Tracker, 10/s       : {s['helpdesk']}",
        f"  noise: CPU of processes not ours, % of a core: {_by_phase(s['other_cpu_pct_by_phase'])}",
        f"  host speed (fixed workload) : {_by_phase(s['host_speed_ms'])} ms (bench/hostspeed.py; lower is faster)",
    ])


def _by_phase(values: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in values.items())


def run_all(clock: Clock) -> dict:
    """Every measurement, in order; the stack is stopped before the classifiers run."""
    result: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": _machine(), "phases": {}}
    speed_before = hostspeed.measure()
    with tempfile.TemporaryDirectory(prefix="smartsupport-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with contextlib.ExitStack() as cleanup:
            system, api, result["first_ticket_after_healthy"] = start_stack(tmp, cleanup, clock)
            result["bare"] = run_bare(system, tmp, cleanup, clock)
            sampler = Sampler([system.proc])
            for index, (name, *_) in enumerate(PHASES):
                result["phases"][name] = run_phase(api, sampler, index, clock)
            clock.say("costly bodies: small POSTs at 20/s alone, then beside six 'bug ' x 4900 bodies in flight")
            result["costly_bodies"] = hostile.costly_bodies(api, clock.say)
            clock.say(f"classification alone, then beside {starvation.READERS} readers in tight loops")
            result["classify_beside_readers"] = starvation.run(api, load.ticket_texts(), clock.say)
        result["classifiers"] = run_classifiers(tmp, clock)
        clock.say("incident detection: per-ticket cost with 10,000 recent tickets in the window")
        result["incidents"] = incidents.measure()
        clock.say(incidents.text(result["incidents"]))
        clock.say("routing: the decision and notify's writes per ticket, with examples/routing.yaml")
        result["routing"] = routing.run(clock.say)
        clock.say("calendars: both SLA targets in business hours per ticket, 10,000 instants over a year")
        result["calendars"] = calendars.run(clock.say)
        clock.say("assignment: dispatch hands out 2,000 waiting tickets a team, round robin and least loaded")
        result["assignment"] = assignment.run(clock.say)
        clock.say(assignment.floor_text(result["assignment"], result["calendars"]))
        clock.say("storage: POST and list latency with 1,000 and with 200,000 tickets stored")
        result["storage"] = storage.run(clock.say)
        clock.say("retention: a simulated week at 10,000 tickets a day, two days kept (the clock moved)")
        result["week"] = retention.run(clock.say)
        clock.say("slow receivers: a stack with 16 webhook endpoints, answering, then dripping a byte a second")
        result["slow_receivers"] = hostile.slow_receivers(tmp, clock.say)
        clock.say("helpdesk: tickets created in Request Tracker at 10/s, until SmartSupport wrote them back")
        result["helpdesk"] = helpdesk.run(tmp, clock.say)
    result["host_speed"] = {"before": speed_before, "after": hostspeed.measure()}
    clock.say(hostspeed.text(speed_before, result["host_speed"]["after"]))
    result["seconds"] = round(time.monotonic() - clock.t0, 1)
    result["summary"] = summarise(result)
    return result


def _machine() -> dict:
    settings = {k: v for k, v in os.environ.items() if k.startswith("SMARTSUPPORT_") and "KEY" not in k
                and "SECRET" not in k}
    import torch

    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "rate_limit": RATE_LIMIT, "settings_from_env": settings}


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Run everything; 0 when done, 130 when interrupted (every started process stopped either way)."""
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"where the JSON goes (default {OUT})")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with SIGINT ignored
    clock = Clock()
    try:
        result = run_all(clock)
    except KeyboardInterrupt:
        print("\ninterrupted: every process the benchmark started has been stopped", file=sys.stderr)
        return 130
    print(summary_text(result["summary"]), flush=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    clock.say(f"done; everything is in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
