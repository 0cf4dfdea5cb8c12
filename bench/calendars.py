"""What business-hours deadlines cost per ticket: ``Route.record`` (both SLA targets and their
warnings, counted in open time) for 10,000 tickets created at random instants over a year, each on
a random rule of examples/routing.yaml (Berlin with a lunch break and Berlin's holidays, New York
with Saturdays and US holidays, and the wall-clock pager policy).

``cold``: a fresh load, no holiday year computed yet (each calendar's first days and years are
paid for inside the timing); ``warm``: the same tickets again; ``wall_clock``: the same tickets with
every policy's calendar removed, as before calendars. Pure Python, no Redis. Run alone:
``python -m bench.calendars`` (also prints bench/hostspeed.py's figure and torch's CPU capability).
"""

from __future__ import annotations

import dataclasses
import random
import time
from datetime import datetime, timezone

from smartsupport import calendars as calendar_maths
from smartsupport import routing

from .routing import example_routing

TICKETS = 10_000
YEAR_START = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()
YEAR_S = 365 * 24 * 3600.0


def _time_records(rules: routing.Routing, tickets: list[tuple[routing.Route, float]]) -> float:
    """Milliseconds per ticket of ``Route.record``."""
    started = time.perf_counter()
    for route, created_at in tickets:
        route.record(created_at=created_at, routing=rules)
    return (time.perf_counter() - started) / len(tickets) * 1000.0


def run(say=print) -> dict:
    calendar_maths.holiday_dates.cache_clear()
    rules = example_routing()
    routes = [rules.route(t) for t in (
        routing.RoutedTicket("Technical", "critical", 0.95), routing.RoutedTicket("Technical", "low", 0.1),
        routing.RoutedTicket("Billing", "low", 0.1, metadata={"tier": "gold"}),
        routing.RoutedTicket("Billing", "low", 0.1), routing.RoutedTicket("Legal", "low", 0.1))]
    rng = random.Random(11)
    tickets = [(rng.choice(routes), YEAR_START + rng.random() * YEAR_S) for _ in range(TICKETS)]
    cold = _time_records(rules, tickets)
    warm = _time_records(rules, tickets)
    wall = dataclasses.replace(rules, sla_policies={n: dataclasses.replace(p, calendar=None)
                                                    for n, p in rules.sla_policies.items()})
    result = {"tickets": TICKETS, "policies": sorted({r.sla_policy for r in routes}),
              "cold_ms_per_ticket": round(cold, 4), "warm_ms_per_ticket": round(warm, 4),
              "wall_clock_ms_per_ticket": round(_time_records(wall, tickets), 4)}
    say(text(result))
    return result


def text(result: dict) -> str:
    return (f"calendars: Route.record {result['cold_ms_per_ticket']} ms per ticket from a fresh load, "
            f"{result['warm_ms_per_ticket']} ms warm, {result['wall_clock_ms_per_ticket']} ms on the wall clock "
            f"({result['tickets']:,} tickets at random instants over a year, examples/routing.yaml)")


if __name__ == "__main__":
    import torch

    from . import hostspeed

    run()
    print(f"host speed: the fixed workload took {hostspeed.measure()['median_ms']} ms (median; lower is faster); "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
