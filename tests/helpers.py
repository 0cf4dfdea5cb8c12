"""Helpers the tests share (pytest advises against importing from conftest files): keys, ports,
polling, settings, and the real processes the tests start (the stack, workers, a webhook receiver)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Callable, TypeVar

import pytest
from playwright.sync_api import Page
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from smartsupport.config import Settings

ROOT = Path(__file__).resolve().parents[1]
OPERATOR_KEY = "test-operator-key"
SUBMIT_KEY = "test-submit-key"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
T = TypeVar("T")
AUTH = {"Authorization": f"Bearer {OPERATOR_KEY}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check: Callable[[], T], *, timeout_s: float = 30.0, interval_s: float = 0.1, what: str = "") -> T:
    """Poll ``check`` until it returns something truthy; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what or check.__name__}")
        time.sleep(interval_s)


def settings_for(redis_url: str, data_dir: Path, **env: str) -> Settings:
    return Settings.from_env({
        "REDIS_URL": redis_url,
        "SMARTSUPPORT_DATA_DIR": str(data_dir),
        "SMARTSUPPORT_API_KEYS": OPERATOR_KEY,
        "SMARTSUPPORT_SUBMIT_KEYS": SUBMIT_KEY,
        "SMARTSUPPORT_WEBHOOK_SECRET": WEBHOOK_SECRET,
        **env,
    })


def queued_messages(client, queue: str) -> list[list]:
    """The positional arguments of every message waiting on a Celery queue (all its priority lists)."""
    import base64

    keys = [queue] + [f"{queue}:{step}" for step in (3, 6, 9)]
    return [json.loads(base64.b64decode(json.loads(m)["body"]))[0] for key in keys for m in client.lrange(key, 0, -1)]


def clear_queues(redis_url: str) -> None:
    """Drop every message waiting on the Celery queues of one database."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.delete(*[f"{q}{s}" for q in ("model", "tickets", "webhooks") for s in ("", ":3", ":6", ":9")])


def clear_tickets(redis_url: str) -> None:
    """Delete SmartSupport's keys and the rate limiter's buckets only: Celery's queue bindings must
    survive between tests."""
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = [k for k in client.scan_iter("ss:*", count=1000) if k != b"ss:scheduler:tick"]  # the beat's, not a test's
    keys += list(client.scan_iter("LIMITS*", count=1000))
    if keys:
        client.delete(*keys)


def start_stack(tmp_path: Path, *, wait_healthy: bool = True,
                **env: str) -> tuple[subprocess.Popen, str, dict[str, int]]:
    """`python -m deploy run` (what `make run` starts) on free ports and a fresh data dir
    under ``tmp_path``, in its own process group; returns once /api/health answers 200 (or, without
    ``wait_healthy``, once the API answers at all)."""
    import requests

    ports = {"SMARTSUPPORT_PORT": free_port(), "FLOWER_PORT": free_port(), "SMARTSUPPORT_REDIS_PORT": free_port()}
    ports.update({k: int(v) for k, v in env.items() if k in ports})
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTSUPPORT_", "REDIS_URL"))}
    full_env.update({"SMARTSUPPORT_DATA_DIR": str(tmp_path / "data"), "SMARTSUPPORT_WORKER_CONCURRENCY": "1",
                     "SMARTSUPPORT_TORCH_THREADS": "2", **env}, **{k: str(v) for k, v in ports.items()})
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "deploy", "run"], cwd=ROOT, env=full_env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{ports['SMARTSUPPORT_PORT']}"

    def healthy() -> bool:
        assert proc.poll() is None, log_path.read_text()[-4000:]
        try:
            return requests.get(base + "/api/health", timeout=3).status_code in ((200,) if wait_healthy else (200, 503))
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or busy starting
            return False

    try:
        wait_for(healthy, timeout_s=120, interval_s=0.5, what="the stack to become healthy")
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return proc, base, ports


# -- workers and webhooks -------------------------------------------------------------------------

def leaks(body: str) -> list[tuple[str, str]]:
    """E-mail addresses and card numbers in a webhook body, which redaction must have masked."""
    from smartsupport.redact import findings
    return [(kind, body[start:end]) for kind, start, end in findings(body) if kind in ("email", "card")]


class Receiver:
    """Webhook endpoint on loopback; a ticket body containing ``[respond 503 503 200]`` scripts its answers.

    Each word is a status code, ``429:N`` answers 429 with ``Retry-After: N``, and ``sleep`` answers
    200 only after the sender's timeout has passed. The last word repeats.
    """

    def __init__(self) -> None:
        self.server = HTTPServer(host="127.0.0.1", port=free_port())
        self.calls: dict[str, list[Request]] = defaultdict(list)
        self.incident_events: list[Request] = []
        self.leaks: list[tuple[str, str]] = []  # personal data found in a body (redaction is on)
        self._lock = threading.Lock()

    def handle(self, request: Request) -> Response:
        with self._lock:
            self.leaks.extend(leaks(request.get_data(as_text=True)))
        event = json.loads(request.get_data())
        if event["type"].startswith("incident."):
            with self._lock:
                self.incident_events.append(request)
            return Response("ok")
        body = event["data"]["body"]
        with self._lock:
            calls = self.calls[event["data"]["id"]]
            calls.append(request)
            script = body.split("[respond ", 1)[1].split("]", 1)[0].split() if "[respond " in body else ["200"]
            word = script[min(len(calls), len(script)) - 1]
        if word == "sleep":
            time.sleep(1.5)
            return Response("late", status=200)
        status, _, retry_after = word.partition(":")
        headers = {"Retry-After": retry_after} if retry_after else {}
        return Response("ok" if int(status) < 300 else "nope", status=int(status), headers=headers)

    @property
    def url(self) -> str:
        return self.server.url_for("/hook")


def start_worker(env: dict[str, str], log_path, *, name: str | None = None, beat: bool = False) -> subprocess.Popen:
    """A real worker for every queue; with ``beat``, it also runs the sweeper's schedule."""
    name = name or f"test-{uuid.uuid4().hex[:6]}"
    log = open(log_path, "ab")
    extra = ["--beat", "--schedule", str(log_path.with_suffix(f".{name}.beat"))] if beat else []
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers", "worker", "--loglevel", "INFO", "--queues",
         "model,tickets,webhooks", "--prefetch-multiplier", "64", "--hostname", f"{name}@%h",
         "--concurrency", env["SMARTSUPPORT_WORKER_CONCURRENCY"], *extra],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


@contextmanager
def answering_worker(env: dict[str, str], tmp_path_factory, name: str):
    """A real worker (``start_worker``), once it is ready for a task; its log is shown if it died."""
    log_path = tmp_path_factory.mktemp("logs") / f"{name}.log"
    proc = start_worker(env, log_path, beat=True)  # with the scheduler: /api/health needs one
    from web import create_app

    broker = {k: env[k] for k in ("SMARTSUPPORT_BROKER_URL", "SMARTSUPPORT_BROKER_QUEUES") if k in env}
    app = create_app(settings_for(env["REDIS_URL"], tmp_path_factory.mktemp("api"), **broker))
    celery = app.extensions["smartsupport"].celery

    def ready():  # it answers, and its pool can run a task (the model has run once: workers.readiness)
        assert proc.poll() is None, log_path.read_text()[-3000:]
        answers = celery.control.broadcast("readiness", reply=True, timeout=0.5)
        return answers and all(answer.get("warm") for reply in answers for answer in reply.values())

    wait_for(ready, timeout_s=120, what=f"the {name} to be ready")
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def submit(client, body: str, **fields) -> str:
    response = client.post("/api/tickets", json={"body": body, **fields}, headers=AUTH)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def finished(client, ticket_id: str, *, webhook: bool = False, timeout_s: float = 60) -> dict:
    def ready():
        view = client.get(f"/api/tickets/{ticket_id}", headers=AUTH).get_json()
        settled = not webhook or view["webhook"]["status"] in ("delivered", "failed")
        if view["status"] in ("done", "failed") and settled:
            return view
        return None
    return wait_for(ready, timeout_s=timeout_s, what=f"ticket {ticket_id}")


def all_done(client, ids: list[str], *, timeout_s: float) -> list[dict]:
    """Every ticket done and its webhook settled: delivered, or not needed. A failed delivery is no
    success here: the receivers of these tests answer 200 to every event."""
    unsettled: list = []

    def check():
        views = [client.get(f"/api/tickets/{i}", headers=AUTH).get_json() for i in ids]
        unsettled[:] = [(v["id"], v["status"], v["webhook"]["status"], v["error"]) for v in views
                        if v["status"] != "done" or v["webhook"]["status"] not in ("delivered", "not_needed")]
        return views if not unsettled else None
    try:
        return wait_for(check, timeout_s=timeout_s, interval_s=0.5, what="every accepted ticket to finish")
    except BaseException:
        print(f"unsettled ({len(unsettled)}):", Counter(u[1:3] for u in unsettled), unsettled[:10])
        raise


# -- the browser tests -----------------------------------------------------------------------------

# Playwright's own browser download cannot run here: scripts/install-chromium.sh installs Debian's.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DASHBOARD = ROOT / "web" / "static" / "index.html"


def missing(reason: str) -> None:
    """Skip on a laptop without the browser; fail in CI, where `make test` installs everything."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass(frozen=True)
class Stack:
    base: str
    key: str


@contextmanager
def running_stack(tmp_path_factory, **env: str):
    """`python -m deploy run` on free ports and a fresh data dir, healthy; stopped with Ctrl-C after."""
    if not DASHBOARD.is_file():
        missing("the dashboard is not built: run `make build`")
    tmp_path = tmp_path_factory.mktemp("stack")
    proc, base, _ = start_stack(tmp_path, **env)
    try:
        yield Stack(base=base, key=(tmp_path / "data" / "api_key").read_text().strip())
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def sign_in(page: Page, key: str) -> None:
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()


def mail_message(*, sender: str = "Dana Whitfield <dana@customer.example>", subject: str = "Export broken",
                 message_id: str = "<m1@customer.example>", **headers: str) -> EmailMessage:
    """A support mail with the headers given (``In_Reply_To`` → ``In-Reply-To``), and no body yet."""
    msg = EmailMessage()
    msg["From"], msg["Subject"], msg["Message-ID"] = sender, subject, message_id
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    return msg


def routed_ticket(store, team: str, *, category: str = "Technical", score: float = 0.5,
                  body: str = "The export fails with error 500", now: float | None = None,
                  rule: str = "test", priority: str = "normal", sla: dict | None = None) -> str:
    """A stored ticket classified as ``category`` and routed to ``team`` (with deadlines ``sla``),
    waiting in its queue with urgency ``score``, as the pipeline leaves it (without running it)."""
    from smartsupport.store import RoutePlan
    from smartsupport.ticket import Category, Ticket

    ticket = Ticket.new(body=body, now=now)
    store.create(ticket)
    store.tickets.save_categories([(ticket.id, Category(category, 0.9, {category: 0.9}, False), None)])
    record = {"team": team, "rule": {"name": rule, "why": "test"}, "priority": priority, "sla": sla,
              "destinations": [], "assignee": None, "assigned_at": None, "acknowledged_at": None,
              "acknowledged_by": None, "resolved_at": None}
    with store.transaction() as tx:
        store.routes.stage(tx, ticket.id, RoutePlan(record, score, ticket.created_at))
    return ticket.id


def app_with_routing(redis_url: str, tmp_path: Path, routing: str):
    """An API app over a clean ``redis_url`` with ``routing`` as its routing file (a fixture's body:
    ``yield from``); the tickets are cleared after."""
    from web import create_app

    routing_file = tmp_path / "routing.yaml"
    routing_file.write_text(routing)
    clear_tickets(redis_url)
    clear_queues(redis_url)
    yield create_app(settings_for(redis_url, tmp_path, SMARTSUPPORT_ROUTING_FILE=str(routing_file)))
    clear_tickets(redis_url)


def submitted_and_routed(base: str, auth: dict, body: str) -> tuple[str, dict]:
    """A ticket posted to a running stack at ``base``, once routed: its id and its route."""
    import requests

    response = requests.post(f"{base}/api/tickets", json={"body": body}, headers=auth, timeout=5)
    assert response.status_code == 202, response.text
    ticket_id = response.json()["id"]

    def routed():
        view = requests.get(f"{base}/api/tickets/{ticket_id}", headers=auth, timeout=5).json()
        return view if view.get("route") else None
    return ticket_id, wait_for(routed, timeout_s=90, interval_s=0.5, what="the ticket to be routed")["route"]


@contextmanager
def worker_with_program(env: dict[str, str], tmp_path_factory, module: str, name: str):
    """A real worker and one more program of `make run` (``python -m <module>``: the mailbox, the
    helpdesk), as `make run` starts them, on a cleared store; yields the program and its log's path."""
    clear_tickets(env["REDIS_URL"])
    log_path = tmp_path_factory.mktemp(f"{name}-logs") / f"{name}.log"
    with answering_worker(env, tmp_path_factory, f"{name} worker"):
        with open(log_path, "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", module], cwd=ROOT, env=env, stdout=log,
                                    stderr=subprocess.STDOUT)
        try:
            yield proc, log_path
        finally:
            proc.terminate()
            proc.wait(timeout=20)
