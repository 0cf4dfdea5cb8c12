"""Every event a real worker sends, checked by the verifiers receivers use: the `svix` Python library
(since 1.84 a wrapper of the `standardwebhooks` code that signs, with its own header handling) and
the npm `standardwebhooks` package, a separate implementation (a Node script in tests/verifiers/,
installed from its lockfile the first time). Before and across a secret rotation: a worker holding
only secret A, then one with the new secret B and A as the previous secret. The workers run on
their own Redis database (4)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from svix.webhooks import Webhook as SvixWebhook
from svix.webhooks import WebhookVerificationError

from tests.helpers import (AUTH, ROOT, WEBHOOK_SECRET, answering_worker, clear_tickets, finished, missing,
                           settings_for, submit, wait_for)
from web import create_app

pytestmark = pytest.mark.integration
VERIFIERS = ROOT / "tests" / "verifiers"
OLD, NEW = WEBHOOK_SECRET, "whsec_ZSOcOCmsoLv0RIahLwh9Qu2Du7Vz2rri"
STRANGER = "whsec_5/xxVpitSTs0vLYKnxmKu36yg5wqqH6V"  # a secret SmartSupport never held
OUTAGES = ["Total outage: the site is down for everyone in {}",
           "Production is down, every customer in {} sees errors [respond 503 200]",
           "Urgent: checkout is down for all users in {}, we are losing orders"]


@pytest.fixture(scope="module")
def node_verify():
    """The npm package's verdicts; ``npm ci`` installs it the first time (node_modules is not committed)."""
    if not (shutil.which("node") and shutil.which("npm")):
        missing("node and npm are needed for the npm standardwebhooks verifier")
    if not (VERIFIERS / "node_modules" / "standardwebhooks").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=VERIFIERS, check=True, capture_output=True,
                       timeout=300)

    def verify(events: list[dict], secrets: list[str]) -> list[list[str]]:
        done = subprocess.run(["node", str(VERIFIERS / "verify.js")], input=json.dumps({"secrets": secrets,
                              "events": events}), capture_output=True, text=True, check=True, timeout=60)
        return json.loads(done.stdout)
    return verify


@pytest.fixture(scope="module")
def rotation_env(worker_env, redis_server):
    env = {k: v for k, v in worker_env.items() if k != "SMARTSUPPORT_WEBHOOK_PREVIOUS_SECRET"}
    return {**env, "REDIS_URL": redis_server + "/4", "SMARTSUPPORT_WEBHOOK_SECRET": OLD}


def svix_verify(events: list[dict], secrets: list[str]) -> list[list[str]]:
    def verdict(event: dict, secret: str) -> str:
        try:
            SvixWebhook(secret).verify(event["body"], event["headers"])
        except WebhookVerificationError as exc:
            return str(exc)
        return "ok" if json.loads(event["body"])["id"] == event["headers"]["webhook-id"] else "id differs"
    return [[verdict(event, secret) for secret in secrets] for event in events]


def received(receiver, ticket_ids: list[str], since: dict[str, int]) -> list[dict]:
    """What the receiver got for these tickets after ``since`` (calls per ticket), as body and headers."""
    return [{"body": r.get_data(as_text=True), "headers": {k.lower(): v for k, v in r.headers.items()}}
            for tid in ticket_ids for r in receiver.calls[tid][since.get(tid, 0):]]


def verdicts(events: list[dict], secrets: list[str], node_verify) -> dict[str, list[list[str]]]:
    return {"svix": svix_verify(events, secrets), "npm standardwebhooks": node_verify(events, secrets)}


def test_every_event_verifies_with_other_libraries_before_and_across_a_secret_rotation(
        rotation_env, receiver, node_verify, tmp_path, tmp_path_factory):
    clear_tickets(rotation_env["REDIS_URL"])
    client = create_app(settings_for(rotation_env["REDIS_URL"], tmp_path,
                                     SMARTSUPPORT_WEBHOOK_URLS=receiver.url)).test_client()

    # Given a worker holding only secret A, and urgent tickets (one answered 503 once, so retried)
    with answering_worker(rotation_env, tmp_path_factory, "worker with secret A"):
        before = [submit(client, text.format("Lisbon")) for text in OUTAGES]
        for tid in before:
            assert finished(client, tid, webhook=True)["webhook"]["status"] == "delivered"
    events = received(receiver, before, {})
    assert len(events) == len(OUTAGES) + 1  # the retried one twice
    assert {json.loads(e["body"])["type"] for e in events} == {"ticket.urgent"}
    assert all(" " not in e["headers"]["webhook-signature"] for e in events)

    # Then both other verifiers accept every one with A, and none with B
    for name, results in verdicts(events, [OLD, NEW], node_verify).items():
        assert [r[0] for r in results] == ["ok"] * len(events), (name, results)
        assert "ok" not in [r[1] for r in results], (name, results)
    print(f"before the rotation: {len(events)} events, 100 % verified with A by svix and npm standardwebhooks")

    # When the secret is rotated: a worker with the new secret B and A as the previous one, which
    # sends new tickets' events and redelivers the earlier tickets' events
    seen = {tid: len(receiver.calls[tid]) for tid in before}
    rotated = {**rotation_env, "SMARTSUPPORT_WEBHOOK_SECRET": NEW, "SMARTSUPPORT_WEBHOOK_PREVIOUS_SECRET": OLD}
    with answering_worker(rotated, tmp_path_factory, "worker with secrets B and A"):
        after = [submit(client, text.format("Porto")) for text in OUTAGES]
        for tid in before:
            assert client.post(f"/api/tickets/{tid}/webhooks/redeliver", headers=AUTH).status_code == 202
        for tid in after:
            assert finished(client, tid, webhook=True)["webhook"]["status"] == "delivered"
        for tid in before:
            wait_for(lambda: len(receiver.calls[tid]) > seen[tid], timeout_s=30, what=f"the redelivery of {tid}")
    events = received(receiver, after, {}) + received(receiver, before, seen)
    assert len(events) >= 2 * len(OUTAGES) + 1
    assert all(len(e["headers"]["webhook-signature"].split(" ")) == 2 for e in events)

    # Then each verifier accepts every event holding only B, and holding only A; never a stranger's secret
    for name, results in verdicts(events, [NEW, OLD, STRANGER], node_verify).items():
        assert [r[:2] for r in results] == [["ok", "ok"]] * len(events), (name, results)
        assert "ok" not in [r[2] for r in results], (name, results)
    print(f"across the rotation: {len(events)} events, 100 % verified with B alone and with A alone "
          "by svix and npm standardwebhooks")
