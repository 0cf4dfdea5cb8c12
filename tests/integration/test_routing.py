"""Routing end to end, with the example routing file (examples/routing.yaml) and a real worker on
its own Redis database: every ticket on the team the file's rules give, every destination getting
exactly the events its filter selects, signed with its own secret; the SLA clock across a worker
restart; two agents taking work at once."""

from __future__ import annotations

import csv
import json
import os
import random
import re
import threading
import time
from dataclasses import dataclass

import pytest
from pytest_httpserver import HTTPServer
from standardwebhooks.webhooks import Webhook
from werkzeug import Response

from smartsupport import routing
from smartsupport.calendars import WALL_CLOCK
from smartsupport.store import RoutePlan, TicketStore
from smartsupport.store.routes import SLA_DUE
from tests.helpers import ROOT, answering_worker, clear_tickets, finished, free_port, leaks, settings_for, wait_for
from web import create_app

pytestmark = pytest.mark.integration
EXAMPLE = ROOT / "examples" / "routing.yaml"
DESTINATIONS = {"billing-slack": "BILLING_SLACK", "tech-pager": "TECH_PAGER", "ops-hook": "OPS_HOOK"}
SECRETS = {"billing-slack": "whsec_" + "QmlsbGluZ1NsYWNrU2VjcmV0MTIzNDU2",
           "tech-pager": "whsec_" + "VGVjaFBhZ2VyU2VjcmV0MTIzNDU2Nzg5",
           "ops-hook": "whsec_" + "T3BzSG9va1NlY3JldDEyMzQ1Njc4OTAx"}


@dataclass(frozen=True)
class Expected:
    team: str
    rule: str
    priority: str
    first_response_s: float
    resolution_s: float
    calendar: str | None  # None: the wall clock
    destinations: tuple[str, ...]


# examples/routing.yaml's rules, read by hand (not through smartsupport.routing); the deadlines'
# open-time maths is tests/unit/test_calendars.py's, this checks each ticket gets its policy's
CRITICAL_TECHNICAL = Expected("technical", "critical-technical", "P1", 15 * 60, 240 * 60, None,
                              ("tech-pager", "ops-hook"))
GOLD_BILLING = Expected("billing", "gold-billing", "P2", 120 * 60, 960 * 60, "berlin", ("billing-slack", "ops-hook"))
TECHNICAL = Expected("technical", "technical", "P3", 240 * 60, 1440 * 60, "new-york", ("ops-hook",))
BILLING = Expected("billing", "billing", "P3", 480 * 60, 2400 * 60, "berlin", ("billing-slack",))
EVERYTHING_ELSE = Expected("general", "everything-else", "P4", 480 * 60, 2400 * 60, "berlin", ("ops-hook",))
ALL_ROUTES = (CRITICAL_TECHNICAL, GOLD_BILLING, TECHNICAL, BILLING, EVERYTHING_ELSE)


def expected_route(category: str, level: str, tier: str | None) -> Expected:
    """The route the example file gives a ticket: its rules in order, the first that matches wins."""
    if category == "Technical":
        return CRITICAL_TECHNICAL if level == "critical" else TECHNICAL
    if category == "Billing":
        return GOLD_BILLING if tier in ("gold", "platinum") else BILLING
    return EVERYTHING_ELSE


def event_at(destination: str, *, urgent: bool) -> str | None:
    """The event a destination gets for a ticket routed to it, by its ``events`` in the file:
    billing-slack every routed ticket, the pager and ops-hook urgent ones only."""
    if destination == "billing-slack":
        return "ticket.routed"
    return "ticket.urgent" if urgent else None


class Recorder:
    """One destination's receiver: keeps every request, answers 200."""

    def __init__(self) -> None:
        self.server = HTTPServer(host="127.0.0.1", port=free_port())
        self.requests: list[tuple[dict, dict, bytes]] = []
        self.leaks: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.server.expect_request("/hook", method="POST").respond_with_handler(self.handle)
        self.server.start()

    def handle(self, request) -> Response:
        with self.lock:
            self.requests.append((json.loads(request.get_data()), dict(request.headers), request.get_data()))
            self.leaks.extend(leaks(request.get_data(as_text=True)))
        return Response("ok")

    def events(self) -> list[dict]:
        with self.lock:
            return [body for body, _, _ in self.requests]


@pytest.fixture(scope="module")
def receivers():
    found = {name: Recorder() for name in DESTINATIONS}
    yield found
    for r in found.values():
        r.server.clear()
        r.server.stop()
    assert [r.leaks for r in found.values()] == [[], [], []], "personal data in webhook bodies"


@pytest.fixture(scope="module")
def routing_file(tmp_path_factory):
    """A copy of the example that the SLA test rewrites (the worker reloads it, no restart)."""
    path = tmp_path_factory.mktemp("routing") / "routing.yaml"
    path.write_text(EXAMPLE.read_text())
    return path


@pytest.fixture(scope="module")
def routing_env(worker_env, redis_server, receivers, routing_file):
    env = {**worker_env, "REDIS_URL": redis_server + "/3", "SMARTSUPPORT_ROUTING_FILE": str(routing_file),
           "SMARTSUPPORT_SLA_CHECK_S": "0.5", "SMARTSUPPORT_WEBHOOK_URLS": ""}
    for name, var in DESTINATIONS.items():
        env[f"{var}_URL"] = receivers[name].server.url_for("/hook")
        env[f"{var}_SECRET"] = SECRETS[name]
    return env


@pytest.fixture(scope="module")
def routing_worker(routing_env, tmp_path_factory):
    clear_tickets(routing_env["REDIS_URL"])
    with answering_worker(routing_env, tmp_path_factory, "routing worker") as proc:
        yield proc


@pytest.fixture
def app(routing_worker, routing_env, tmp_path, monkeypatch):
    for key, value in routing_env.items():
        if key.endswith(("_URL", "_SECRET")) and key.split("_")[0] in ("BILLING", "TECH", "OPS"):
            monkeypatch.setenv(key, value)
    return create_app(settings_for(routing_env["REDIS_URL"], tmp_path, SMARTSUPPORT_RATE_LIMIT="10000/second",
                                   SMARTSUPPORT_ROUTING_FILE=routing_env["SMARTSUPPORT_ROUTING_FILE"]))


def auth(app):
    return {"Authorization": f"Bearer {app.extensions['smartsupport'].settings.api_keys[0]}"}


def mixed_tickets(n: int) -> list[dict]:
    with open(ROOT / "eval" / "data" / "support_tickets.csv", newline="") as fh:
        texts = [row["text"] for row in csv.DictReader(fh)]
    rng = random.Random(17)
    return [{"body": rng.choice(texts), "metadata": {"tier": rng.choice(["gold", "free", "platinum", "team"])}}
            for _ in range(n)]


def verified(recorder: Recorder, secret: str) -> list[dict]:
    """Every event the receiver got, each checked against the destination's own secret."""
    out = []
    for body, headers, raw in list(recorder.requests):
        Webhook(secret).verify(raw, {k.lower(): v for k, v in headers.items()})
        out.append(body)
    return out


def _routes_checked_and_events_expected(app, views: list[dict]) -> dict[str, set[tuple[str, str]]]:
    """The expectation, written out from examples/routing.yaml: each ticket's route from its category,
    urgency and tier alone (checked here), and the events each destination asks for (returned)."""
    threshold = app.extensions["smartsupport"].settings.urgency_threshold
    calendars = app.extensions["smartsupport"].routing.current().calendars
    expected: dict[str, set[tuple[str, str]]] = {name: set() for name in DESTINATIONS}
    rules_seen = set()
    for view in views:
        route = expected_route(view["category"]["label"], view["urgency"]["level"], view["metadata"].get("tier"))
        assert (view["route"]["team"], view["route"]["rule"]["name"], view["route"]["priority"]) == (
            route.team, route.rule, route.priority), view["id"]
        assert sorted(view["route"]["destinations"]) == sorted(route.destinations), view["id"]
        sla, clock = view["route"]["sla"], WALL_CLOCK if route.calendar is None else calendars[route.calendar]
        assert sla["calendar"] == route.calendar, view["id"]
        assert (sla["first_response_due"], sla["resolution_due"]) == (
            pytest.approx(clock.add_open_time(view["created_at"], route.first_response_s), abs=0.001),
            pytest.approx(clock.add_open_time(view["created_at"], route.resolution_s), abs=0.001)), view["id"]
        rules_seen.add(route.rule)
        urgent = view["urgency"]["score"] >= threshold
        for name in route.destinations:
            kind = event_at(name, urgent=urgent)
            if kind:
                expected[name].add((view["id"], kind))
    assert rules_seen == {r.rule for r in ALL_ROUTES}  # the 200 tickets exercise every rule of the file
    return expected


def test_200_mixed_tickets_land_on_their_teams_and_alert_exactly_whom_the_file_says(app, receivers):
    client, headers = app.test_client(), auth(app)
    for r in receivers.values():
        r.requests.clear()
    ids = [client.post("/api/tickets", json=t, headers=headers).get_json()["id"] for t in mixed_tickets(200)]

    def all_done():
        views = [client.get(f"/api/tickets/{i}", headers=headers).get_json() for i in ids]
        settled = all(v["status"] == "failed" or v["status"] == "done" and v["webhook"]["status"] != "pending"
                      for v in views)
        return views if settled else None
    views = wait_for(all_done, timeout_s=240, interval_s=1, what="200 tickets done and their events delivered")
    assert [v["error"] for v in views if v["status"] != "done"] == []

    expected = _routes_checked_and_events_expected(app, views)

    def received(name):
        events = verified(receivers[name], SECRETS[name])
        return {(e["data"]["id"] if "data" in e else e["text"].split("(ticket ")[1].split(",")[0], e["type"])
                for e in events}
    for name in DESTINATIONS:
        assert received(name) == expected[name], name
        assert len(receivers[name].requests) == len(expected[name])  # each once
    assert all("text" in body for body in receivers["billing-slack"].events())  # the Slack format
    assert expected["tech-pager"] and expected["billing-slack"] and expected["ops-hook"]

    # the team queues and the list filter agree with the routes
    summary = {t["team"]: t for t in client.get("/api/teams", headers=headers).get_json()["teams"]}
    for team in ("billing", "technical", "general"):
        listed = client.get(f"/api/tickets?team={team}&limit=500", headers=headers).get_json()["tickets"]
        mine = {v["id"] for v in views if v["route"]["team"] == team}
        assert {t["id"] for t in listed} >= mine
        assert summary[team]["waiting"] >= len(mine)
    # the webhooks view lists each destination by name
    endpoints = client.get("/api/webhooks", headers=headers).get_json()["endpoints"]
    assert sorted(e["name"] for e in endpoints) == sorted(DESTINATIONS)
    # and Prometheus sees the same, per team
    metrics = client.get("/metrics").get_data(as_text=True)
    for team in ("billing", "technical", "general"):
        assert f'smartsupport_team_waiting{{team="{team}"}} {float(summary[team]["waiting"])}' in metrics


def test_a_correction_routes_the_ticket_again(app):
    client, headers = app.test_client(), auth(app)
    text = "Please send us a copy of the data processing agreement for our legal team to review."
    tid = client.post("/api/tickets", json={"body": text}, headers=headers).get_json()["id"]
    before = wait_for(lambda: (v := client.get(f"/api/tickets/{tid}", headers=headers).get_json())["route"] and v,
                      timeout_s=60, what="the ticket to be routed")
    assert before["route"]["team"] == "general"

    after = client.post(f"/api/tickets/{tid}/category", json={"label": "Billing"}, headers=headers).get_json()

    assert (after["route"]["team"], after["route"]["rule"]["name"]) == ("billing", "billing")
    waiting = app.extensions["smartsupport"].store.r
    assert waiting.zscore("ss:team:billing:waiting", tid) is not None
    assert waiting.zscore("ss:team:general:waiting", tid) is None
    critical = client.post(f"/api/tickets/{tid}/urgency", json={"level": "critical"}, headers=headers).get_json()
    assert critical["route"]["team"] == "billing" and critical["urgency"]["level"] == "critical"


def test_a_routing_file_that_no_longer_loads_keeps_the_rules_in_force_and_says_why(app, routing_file):
    client, headers = app.test_client(), auth(app)
    good = routing_file.read_text()
    routing_file.write_text(good.replace("team: technical\n    priority: P1", "team: tech-support\n    priority: P1"))
    os.utime(routing_file, None)
    try:
        teams = client.get("/api/teams", headers=headers).get_json()
        health = client.get("/api/health", headers=headers).get_json()
        text = "Production is down: every API call fails with 500 errors for all our users, fix ASAP"
        tid = client.post("/api/tickets", json={"body": text}, headers=headers).get_json()["id"]
        view = wait_for(lambda: (v := client.get(f"/api/tickets/{tid}", headers=headers).get_json())["route"] and v,
                        timeout_s=60, what="the ticket to be routed")
    finally:
        routing_file.write_text(good)
        os.utime(routing_file, None)

    assert "unknown team 'tech-support'" in teams["routing"]["error"]
    assert any("unknown team 'tech-support'" in w for w in health["warnings"])
    assert view["route"]["team"] == "technical"  # the worker, too, kept the rules in force
    assert client.get("/api/teams", headers=headers).get_json()["routing"]["error"] is None


def test_an_event_whose_destination_left_the_file_goes_to_the_dead_letters(app, routing_file, receivers):
    client, headers = app.test_client(), auth(app)
    good = routing_file.read_text()
    closed = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens: every attempt fails and is retried
    routing_file.write_text(good.replace("url: ${OPS_HOOK_URL}", f"url: {closed}"))
    os.utime(routing_file, None)
    try:
        text = "Production is down: every API call fails with 500 errors for all our users, fix ASAP"
        tid = client.post("/api/tickets", json={"body": text}, headers=headers).get_json()["id"]

        def failed_once():
            log = client.get(f"/api/tickets/{tid}", headers=headers).get_json()["webhook"]["log"]
            return any(a["url"] == closed for a in log)
        wait_for(failed_once, timeout_s=60, what="a failed attempt at the closed destination")
        routing_file.write_text(good)  # the operator points ops-hook somewhere else
        os.utime(routing_file, None)

        def dead():
            return [e for e in client.get("/api/webhooks/dead", headers=headers).get_json()["events"]
                    if e["ticket_id"] == tid]
        events = wait_for(dead, timeout_s=60, what="the event to reach the dead-letter list")
    finally:
        routing_file.write_text(good)
        os.utime(routing_file, None)

    assert [(e["url"], e["error"]) for e in events] == [(closed, "destination removed from the routing file")]
    view = client.get(f"/api/tickets/{tid}", headers=headers).get_json()
    assert {e["url"]: e["status"] for e in view["webhook"]["endpoints"]}[closed] == "failed"


def test_two_agents_taking_work_at_once_never_get_the_same_ticket(app, routing_env):
    store: TicketStore = app.extensions["smartsupport"].store
    clear_tickets(routing_env["REDIS_URL"])
    rules = app.extensions["smartsupport"].routing.current()
    route = rules.route(routing.RoutedTicket("Technical", "high", 0.7))
    from smartsupport.ticket import Ticket
    with store.transaction() as tx:
        for i in range(120):
            ticket = Ticket.new(body=f"The export fails, case {i}")
            store.create(ticket)
            store.routes.stage(tx, ticket.id, RoutePlan(route.record(created_at=ticket.created_at, routing=rules),
                                                        random.random(), ticket.created_at))
    headers, taken, errors = auth(app), {"carol": [], "dave": []}, []

    def agent(name):
        client = app.test_client()
        for _ in range(50):
            response = client.post("/api/teams/technical/next", json={"agent": name}, headers=headers)
            if response.status_code != 200:
                errors.append(response.status_code)
                continue
            tid = response.get_json()["id"]
            taken[name].append(tid)
            assert response.get_json()["route"]["assignee"] == name
            assert client.post(f"/api/tickets/{tid}/resolve", headers=headers).status_code == 200
    threads = [threading.Thread(target=agent, args=(n,)) for n in taken]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    everything = taken["carol"] + taken["dave"]
    assert errors == [] and len(everything) == 100 and len(set(everything)) == 100
    # most urgent first, and a capacity of three open tickets holds
    client = app.test_client()
    for _ in range(3):
        assert client.post("/api/teams/technical/next", json={"agent": "erin"}, headers=headers).status_code == 403
    held = [client.post("/api/teams/technical/next", json={"agent": "carol"}, headers=headers) for _ in range(4)]
    assert [r.status_code for r in held] == [200, 200, 200, 409]
    waiting = [store.r.zscore("ss:team:technical:waiting", r.get_json()["id"]) for r in held[:3]]
    assert waiting == [None, None, None]  # out of the queue once taken


def _shorten_slas(path, seconds: float) -> None:
    text = re.sub(r"first_response_minutes: \d+", f"first_response_minutes: {seconds / 60}", EXAMPLE.read_text())
    path.write_text(text)
    os.utime(path, None)


def _let_time_pass(store: TicketStore, ticket_ids: list[str], seconds: float) -> None:
    """The SLA clock of these tickets moves ``seconds`` on: their pending warnings and breaches fall due
    that much sooner. The clock is in Redis (ss:sla:due), which is all a worker, restarted or not, reads."""
    pending = store.r.zrange(SLA_DUE, 0, -1, withscores=True)
    moved = {member: due - seconds for member, due in pending if member.split(" ", 1)[0] in ticket_ids}
    if moved:
        store.r.zadd(SLA_DUE, moved)


def test_a_ticket_waiting_on_the_customer_does_not_breach_and_runs_again_on_their_reply(app, receivers):
    client, headers = app.test_client(), auth(app)
    store: TicketStore = app.extensions["smartsupport"].store
    text = "Production is down: every API call fails with 500 errors for all our users, fix ASAP"
    tid = client.post("/api/tickets", json={"body": text}, headers=headers).get_json()["id"]
    routed = wait_for(lambda: (v := client.get(f"/api/tickets/{tid}", headers=headers).get_json())["route"] and v,
                      timeout_s=60, what="the ticket to be routed")
    assert routed["route"]["sla"]["policy"] == "urgent"

    waiting = client.post(f"/api/tickets/{tid}/wait", json={"agent": "carol"}, headers=headers).get_json()
    paused_at = waiting["route"]["waiting_since"]
    assert waiting["route"]["sla"]["paused_at"] == paused_at
    assert [m for m in store.r.zrange(SLA_DUE, 0, -1) if m.startswith(tid)] == []  # nothing can fall due
    ticks = store.r.get("ss:scheduler:tick")
    wait_for(lambda: store.r.get("ss:scheduler:tick") != ticks, timeout_s=30, what="a scheduler tick")

    replied = client.post(f"/api/tickets/{tid}/replies", json={"body": "Here are the logs you asked for."},
                          headers=headers)
    assert replied.status_code == 202
    route = replied.get_json()["route"]
    paused_for = route["sla"]["first_response_due"] - routed["route"]["sla"]["first_response_due"]
    assert route["waiting_since"] is None and route["sla"]["paused_at"] is None
    assert paused_for == pytest.approx(time.time() - paused_at, abs=1.0) and paused_for > 0  # the wall clock
    _let_time_pass(store, [tid], 3 * 3600)  # past the first response's target, not the resolution's

    def told(name: str) -> bool:
        return (tid, "ticket.sla_breached") in [(e["data"]["id"], e["type"])
                                                for e in verified(receivers[name], SECRETS[name])]
    wait_for(lambda: told("tech-pager") and told("ops-hook"), timeout_s=60, what="the breach after the reply")
    breaches = [e for e in verified(receivers["ops-hook"], SECRETS["ops-hook"])
                if e["data"]["id"] == tid and e["type"] == "ticket.sla_breached"]
    assert [e["target"] for e in breaches] == ["first_response"]  # the resolution's is 4 h away
    actions = [e["action"] for e in client.get(f"/api/tickets/{tid}", headers=headers).get_json()["audit"]]
    assert [a for a in actions if a in ("waiting", "replied")] == ["waiting", "replied"]


@pytest.mark.parametrize("code, body", [
    ("de", "Seit gestern kann ich mich nicht mehr in mein Konto einloggen. Das Passwort wurde zurückgesetzt, "
           "aber die Anmeldung schlägt weiterhin fehl. Bitte helfen Sie mir schnell."),
    ("fr", "Bonjour, ma facture de ce mois-ci est deux fois plus élevée que d'habitude. Pouvez-vous vérifier "
           "le montant et me rembourser la différence ?"),
    ("es", "Hola, la aplicación se cierra cada vez que intento exportar mis datos. ¿Podrían revisar el problema "
           "lo antes posible? Gracias."),
])
def test_a_ticket_in_german_french_or_spanish_goes_to_the_desk_that_reads_it_flagged_for_review(app, code, body):
    client, headers = app.test_client(), auth(app)
    tid = client.post("/api/tickets", json={"body": body}, headers=headers).get_json()["id"]

    view = finished(client, tid)

    assert view["language"]["code"] == code and view["language"]["confidence"] > 0.9
    assert (view["route"]["team"], view["route"]["rule"]["name"]) == ("general", "not-english")
    assert view["category"]["needs_review"] is True
    assert view["category"]["review_reason"].endswith("the model reads English only")


# Last in this module: it stops the module's worker.
def test_an_unacknowledged_critical_ticket_breaches_once_and_an_acknowledged_one_never(
        app, receivers, routing_file, routing_env, routing_worker, tmp_path_factory):
    client, headers = app.test_client(), auth(app)
    store: TicketStore = app.extensions["smartsupport"].store
    # Five minutes to a first response, reloaded by the worker and the API (no restart); the test
    # moves the SLA clock itself, so no deadline falls by the wall clock while it runs.
    _shorten_slas(routing_file, 300.0)
    wait_for(lambda: app.extensions["smartsupport"].routing.current().sla_policies["urgent"].first_response_s == 300.0,
             what="the API to reload the routing file")
    text = "Production is down: every API call fails with 500 errors for all our users, fix ASAP"
    left, acked, later = (client.post("/api/tickets", json={"body": text}, headers=headers).get_json()["id"]
                          for _ in range(3))
    for tid in (left, acked, later):  # routed, and their ticket.urgent events sent: nothing in flight
        view = wait_for(lambda tid=tid: (v := client.get(f"/api/tickets/{tid}", headers=headers).get_json())
                        ["route"] and v["webhook"]["status"] != "pending" and v, timeout_s=60,
                        what="the critical tickets to be routed and their events sent")
        assert view["route"]["rule"]["name"] == "critical-technical"
        due = view["route"]["sla"]["first_response_due"]
        assert due - view["created_at"] == pytest.approx(300.0, abs=0.01)
    response = client.post(f"/api/tickets/{acked}/ack", json={"agent": "carol"}, headers=headers)
    assert response.status_code == 200 and response.get_json()["route"]["acknowledged_at"]

    def sla_events(name: str) -> list[tuple[str, str]]:
        """The SLA events of this test's tickets that a destination got, in order."""
        return [(e["data"]["id"], e["type"]) for e in verified(receivers[name], SECRETS[name])
                if e["type"].startswith("ticket.sla") and e["data"]["id"] in (left, acked, later)]

    def later_fired() -> bool:
        return ((later, "ticket.sla_breached") in sla_events("tech-pager")
                and {(later, "ticket.sla_warning"), (later, "ticket.sla_breached")} <= set(sla_events("ops-hook")))

    # the worker goes away before the deadline, and comes back after it
    routing_worker.terminate()
    routing_worker.wait(timeout=30)
    assert sla_events("tech-pager") == [] and sla_events("ops-hook") == []  # nothing was due before
    _let_time_pass(store, [left, acked], 301.0)
    with answering_worker(routing_env, tmp_path_factory, "routing worker again"):
        wait_for(lambda: sla_events("tech-pager"), timeout_s=60, what="ticket.sla_breached at the pager")
        # more SLA ticks, until a later ticket's deadline fires: the first breach is not fired again
        _let_time_pass(store, [later], 301.0)
        wait_for(later_fired, timeout_s=60, what="the later ticket's SLA events")
        pager, ops = sla_events("tech-pager"), sla_events("ops-hook")
        on_the_clock = [m for m in store.r.zrange(SLA_DUE, 0, -1) if m.split(" ", 1)[0] in (left, acked, later)
                        and not m.endswith(":resolution")]

    assert pager == [(left, "ticket.sla_breached"), (later, "ticket.sla_breached")]
    assert sorted(ops) == sorted([(left, "ticket.sla_breached"), (left, "ticket.sla_warning"),
                                  (later, "ticket.sla_breached"), (later, "ticket.sla_warning")])
    assert on_the_clock == []  # each event off the clock once fired (or stopped by the acknowledgement)
    view = client.get(f"/api/tickets/{left}", headers=headers).get_json()
    assert view["route"]["sla"]["breached"] is True
    assert view["route"]["priority"] == "P0"  # the rule's escalate, once
    assert [e["detail"]["priority"] for e in view["audit"] if e["action"] == "escalated"] == [["P1", "P0"]]
    acked_view = client.get(f"/api/tickets/{acked}", headers=headers).get_json()
    assert acked_view["route"]["sla"]["breached"] is False and acked_view["route"]["priority"] == "P1"
