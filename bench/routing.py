"""What routing costs per ticket, with the example routing file (examples/routing.yaml).

1. the decision: the first matching rule, the route record with its deadlines and the destinations
   of the ticket's event, over 10,000 tickets of mixed category, urgency and customer tier;
2. the writes: notify's MULTI for batches of 64 tickets with their routes (team queues, SLA clock)
   against the same batches without, on a Redis of its own (deploy.redis_server).
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from pathlib import Path

from smartsupport import routing
from smartsupport.labels import load_labels
from smartsupport.store import FinishPlan, RoutePlan, TicketStore
from smartsupport.ticket import Ticket

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "routing.yaml"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TICKETS = 10_000
BATCH = 64
BATCHES = 40


def _tickets(rng: random.Random, n: int) -> list[routing.RoutedTicket]:
    labels = [label.name for label in load_labels(None)]
    levels = ["low", "medium", "high", "critical"]
    return [routing.RoutedTicket(rng.choice(labels), rng.choice(levels), rng.random(),
                                 metadata={"tier": rng.choice(["gold", "free", "team"])},
                                 text="The export fails with an error since this morning " * 3) for _ in range(n)]


def example_routing() -> routing.Routing:
    """examples/routing.yaml, its ``${NAME}``s pointed at a closed local port where unset."""
    for name in ("BILLING_SLACK", "TECH_PAGER", "OPS_HOOK"):
        os.environ.setdefault(f"{name}_URL", f"http://127.0.0.1:9/{name.lower()}")
        os.environ.setdefault(f"{name}_SECRET", SECRET)
    return routing.load(EXAMPLE, labels=[label.name for label in load_labels(None)])


def run(say=print) -> dict:
    rules = example_routing()
    rng = random.Random(5)
    tickets = _tickets(rng, TICKETS)
    started = time.perf_counter()
    for t in tickets:
        route = rules.route(t)
        route.record(created_at=1.0, routing=rules)
        rules.deliveries_for(route, urgent=t.score >= 0.5)
    decision_us = (time.perf_counter() - started) / TICKETS * 1e6
    writes = _writes(rules, rng)
    result = {"decision_us_per_ticket": round(decision_us, 1), **writes,
              "total_ms_per_ticket": round(decision_us / 1000 + writes["write_ms_per_ticket"], 4)}
    say(f"routing: decision {result['decision_us_per_ticket']} µs per ticket; notify's writes "
        f"{writes['without_route_ms_per_ticket']} → {writes['with_route_ms_per_ticket']} ms per ticket with routes "
        f"(+{writes['write_ms_per_ticket']} ms); in all {result['total_ms_per_ticket']} ms per ticket")
    return result


def _writes(rules: routing.Routing, rng: random.Random) -> dict:
    from deploy import redis_server

    from .stack import free_ports

    with tempfile.TemporaryDirectory(prefix="smartsupport-routing-") as tmp:
        [port] = free_ports(1)
        proc = redis_server.start(port=port, data_dir=Path(tmp) / "redis")
        try:
            store = TicketStore.from_url(f"redis://127.0.0.1:{port}/0")
            timings: dict[bool, float] = {False: 0.0, True: 0.0}
            for i in range(BATCHES * 2):
                with_route = bool(i % 2)
                batch = [Ticket.new(body="The export fails") for _ in range(BATCH)]
                for ticket in batch:
                    store.create(ticket)
                plans = []
                for ticket, rt in zip(batch, _tickets(rng, BATCH)):
                    route = rules.route(rt)
                    plan = RoutePlan(route.record(created_at=ticket.created_at, routing=rules), rt.score,
                                     ticket.created_at) if with_route else None
                    plans.append(FinishPlan(ticket.id, "evt_" + ticket.id, route=plan))
                started = time.perf_counter()
                store.finish_tickets(plans, started=time.time())
                timings[with_route] += time.perf_counter() - started
            n = BATCH * BATCHES
            without, with_ = timings[False] / n * 1000, timings[True] / n * 1000
            return {"without_route_ms_per_ticket": round(without, 4), "with_route_ms_per_ticket": round(with_, 4),
                    "write_ms_per_ticket": round(with_ - without, 4)}
        finally:
            proc.kill()
            proc.wait(timeout=10)


if __name__ == "__main__":
    run()
