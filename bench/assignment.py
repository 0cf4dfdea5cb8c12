"""What pushing work to agents costs per ticket: ``dispatch`` (smartsupport/assignment.py) handing
out 2,000 waiting tickets of a ``round_robin`` team (6 members, capacities 300-600) and 2,000 of a
``least_loaded`` team (7 members matched on categories and languages, two of them following a
Berlin calendar that is open then), on a Redis of its own configured as ``make run`` does (every
write fsynced). Each hand-out is one Lua script; a dispatch reads up to 500 waiting tickets at once.

The issue's floor is 1 ms per ticket for assignment and calendar maths together: with the cost of
``Route.record`` in business hours (bench/calendars.py, cold), ``combined_ms_per_ticket`` says it.
Run alone: ``python -m bench.assignment`` (also runs bench/calendars.py and prints
bench/hostspeed.py's figure and torch's CPU capability).
"""

from __future__ import annotations

import random
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from smartsupport import routing
from smartsupport.assignment import dispatch
from smartsupport.labels import load_labels
from smartsupport.language import Language
from smartsupport.store import RoutePlan, TicketStore
from smartsupport.ticket import Category, Ticket

from .stack import own_redis

TICKETS = 2000
BATCH = 500
#: The issue's floor for assignment and calendar maths together, ms per ticket.
FLOOR_MS = 1.0
#: A Tuesday morning in Berlin: the calendar followers are there.
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()
LANGUAGES = ("en", "de", "fr", "es")
ROUTING = {
    "teams": [
        {"name": "billing", "assignment": "round_robin",
         "members": [{"name": f"rr{i}", "capacity": c} for i, c in enumerate((300, 350, 400, 450, 500, 600))]},
        {"name": "general", "assignment": "least_loaded", "members": [
            {"name": "erin", "capacity": 600, "skills": {"languages": ["en", "de"]}},
            {"name": "frank", "capacity": 500, "skills": {"languages": ["en"]}},
            {"name": "gina", "capacity": 600, "skills": {"languages": ["fr", "es"]}},
            {"name": "hugo", "capacity": 500, "skills": {"languages": ["de", "fr"]}, "calendar": "berlin"},
            {"name": "ines", "capacity": 500, "skills": {"languages": ["es", "en"]}},
            {"name": "jon", "skills": {"categories": ["Technical"]}},
            {"name": "kim", "capacity": 400, "skills": {"categories": ["Other"], "languages": ["de", "es"]},
             "calendar": "berlin"}]},
    ],
    "calendars": {"berlin": {"timezone": "Europe/Berlin", "hours": {"mon-fri": ["09:00-12:30", "13:30-18:00"]},
                             "holidays": {"country": "DE", "subdivision": "BE"}}},
    "sla_policies": {"business": {"calendar": "berlin", "first_response_minutes": 120, "resolution_minutes": 960}},
    "rules": [{"name": "billing", "match": {"category": "Billing"}, "team": "billing", "sla": "business"},
              {"name": "rest", "team": "general", "sla": "business"}],
}
#: Members who say they are available; the others follow their calendar.
AVAILABLE = ("rr0", "rr1", "rr2", "rr3", "rr4", "rr5", "erin", "frank", "gina", "ines", "jon")


def _fill(store: TicketStore, rules: routing.Routing, category_of, rng: random.Random) -> None:
    """TICKETS tickets routed by ``rules`` and waiting, as notify leaves them, BATCH at a time."""
    for _ in range(0, TICKETS, BATCH):
        batch = [(Ticket.new(body="A question", now=NOW - rng.random() * 86400), category_of(rng),
                  rng.choice(LANGUAGES), rng.random()) for _ in range(BATCH)]
        for ticket, *_ in batch:
            store.create(ticket)
        store.tickets.save_categories([(t.id, Category(c, 0.9, {c: 0.9}, False), None) for t, c, _, _ in batch],
                                      languages={t.id: Language(lang, 0.9) for t, _, lang, _ in batch})
        with store.transaction() as tx:
            for ticket, category, lang, score in batch:
                route = rules.route(routing.RoutedTicket(category, "low", score, language=lang))
                store.routes.stage(tx, ticket.id, RoutePlan(route.record(created_at=ticket.created_at, routing=rules),
                                                            score, ticket.created_at))


def _time_dispatch(store: TicketStore, rules: routing.Routing, team: str) -> float:
    """Milliseconds per ticket of dispatching everything waiting in ``team``."""
    handed, started = 0, time.perf_counter()
    while True:
        got = len(dispatch(store, rules, [team], now=NOW))
        if not got:
            break
        handed += got
    elapsed = time.perf_counter() - started
    if handed != TICKETS:
        raise RuntimeError(f"{team}: {handed} of {TICKETS} tickets handed out")
    return elapsed / handed * 1000.0


def run(say=print) -> dict:
    rules = routing.parse(ROUTING, labels=[label.name for label in load_labels(None)])
    rng = random.Random(17)
    with own_redis("smartsupport-assignment-") as url:
        store = TicketStore.from_url(url)
        for agent in AVAILABLE:
            store.assignment.set_presence(agent, "available", now=NOW)
        _fill(store, rules, lambda r: "Billing", rng)
        _fill(store, rules, lambda r: r.choice(("Technical", "Other")), rng)
        result = {"tickets_per_team": TICKETS,
                  "round_robin_ms_per_ticket": round(_time_dispatch(store, rules, "billing"), 4),
                  "least_loaded_ms_per_ticket": round(_time_dispatch(store, rules, "general"), 4)}
    say(text(result))
    return result


def text(result: dict) -> str:
    return (f"assignment: dispatch {result['round_robin_ms_per_ticket']} ms per ticket round robin, "
            f"{result['least_loaded_ms_per_ticket']} ms least loaded with skills ({result['tickets_per_team']:,} "
            "waiting tickets a team, fsync always)")


def combined_ms_per_ticket(assignment: dict, calendars: dict) -> float:
    """Assignment and calendar maths per ticket: the dearer policy's dispatch and a cold ``Route.record``."""
    return round(max(assignment["round_robin_ms_per_ticket"], assignment["least_loaded_ms_per_ticket"])
                 + calendars["cold_ms_per_ticket"], 4)


def floor_text(assignment: dict, calendars: dict) -> str:
    combined = combined_ms_per_ticket(assignment, calendars)
    return (f"{combined} ms per ticket for assignment and business-hours deadlines "
            f"({'within' if combined <= FLOOR_MS else 'OVER'} the floor of {FLOOR_MS} ms)")


if __name__ == "__main__":
    import torch

    from . import calendars as calendar_bench
    from . import hostspeed

    speed = hostspeed.measure()
    deadlines = calendar_bench.run()
    pushed = run()
    print(floor_text(pushed, deadlines))
    print(f"host speed: the fixed workload took {speed['median_ms']} ms (median; lower is faster); "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
