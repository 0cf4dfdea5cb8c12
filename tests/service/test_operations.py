"""Operator endpoints: corrections, redelivery, labels, stats (real Redis, no worker)."""

import base64
import json
import os
import time
from datetime import datetime

from smartsupport.store import FinishPlan

from tests.helpers import queued_messages, settings_for
from web import create_app


def submit(client, headers, body="My invoice is wrong") -> str:
    return client.post("/api/tickets", json={"body": body}, headers=headers).get_json()["id"]


def test_a_correction_relabels_the_ticket_and_is_kept_as_an_example(client, operator, store):
    ticket_id = submit(client, operator, "Please send the signed order form")

    response = client.post(f"/api/tickets/{ticket_id}/category", json={"label": "Legal"}, headers=operator)

    assert response.status_code == 200
    category = response.get_json()["category"]
    assert category["label"] == "Legal" and category["corrected"] is True and category["needs_review"] is False
    assert store.corrections.examples() == [("Legal", "Please send the signed order form")]
    assert store.corrections.version() == 1


def test_a_correction_needs_a_known_label_an_existing_ticket_and_an_operator(client, operator, submitter):
    ticket_id = submit(client, operator)

    unknown = client.post(f"/api/tickets/{ticket_id}/category", json={"label": "Sales"}, headers=operator)
    assert unknown.status_code == 422 and unknown.get_json()["error"]["code"] == "unknown_label"
    assert client.post("/api/tickets/nope/category", json={"label": "Legal"}, headers=operator).status_code == 404
    assert client.post(f"/api/tickets/{ticket_id}/category", json={"label": "Legal"},
                       headers=submitter).status_code == 403


def test_redeliver_without_endpoints_is_a_conflict(client, operator):
    ticket_id = submit(client, operator)
    response = client.post(f"/api/tickets/{ticket_id}/webhooks/redeliver", headers=operator)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "no_endpoints"


def test_redeliver_queues_a_delivery_per_endpoint(api_redis_url, tmp_path, operator, store):
    app = create_app(settings_for(api_redis_url, tmp_path, SMARTSUPPORT_WEBHOOK_URLS="http://127.0.0.1:9/a"))
    client = app.test_client()
    ticket_id = submit(client, operator)

    response = client.post(f"/api/tickets/{ticket_id}/webhooks/redeliver", headers=operator)

    assert response.status_code == 202
    view = client.get(f"/api/tickets/{ticket_id}", headers=operator).get_json()
    assert view["webhook"]["status"] == "pending" and view["webhook"]["event_id"] == f"evt_{ticket_id}"
    assert queued_messages(store.r, "webhooks") == [[ticket_id, "http://127.0.0.1:9/a"]]


def test_meta_lists_the_labels_and_follows_the_labels_file_without_restart(api_redis_url, tmp_path, operator):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"labels": [{"name": "Sales"}, {"name": "Support"}]}))
    client = create_app(settings_for(api_redis_url, tmp_path, SMARTSUPPORT_LABELS_FILE=str(path))).test_client()
    assert client.get("/api/meta", headers=operator).get_json()["labels"] == ["Sales", "Support"]

    path.write_text(json.dumps({"labels": [{"name": "Sales"}, {"name": "Support"}, {"name": "Legal"}]}))
    os.utime(path, (1, 1))  # a different mtime even within the same clock tick

    assert client.get("/api/meta", headers=operator).get_json()["labels"] == ["Sales", "Support", "Legal"]


def test_stats_summarise_latency_of_done_tickets(client, operator, store):
    for i, total in enumerate((0.1, 0.2, 0.3)):
        ticket_id = submit(client, operator, f"t{i}")
        received = store.views.get(ticket_id)["timestamps"]["received"]
        store.tickets.mark(ticket_id, "classify_started", now=received + total / 4)
        store.tickets.mark(ticket_id, "classify_finished", now=received + total / 2)
        store.tickets.mark(ticket_id, "done", status="done", now=received + total)

    stats = client.get("/api/stats?last=10", headers=operator).get_json()

    assert stats["count"] == 3
    assert abs(stats["stages"]["total"]["p50"] - 200) < 1 and stats["stages"]["classify"]["n"] == 3
    assert stats["throughput_per_s"] > 0
    assert client.get("/api/stats?last=0", headers=operator).status_code == 400


def test_a_retry_due_later_than_the_visibility_timeout_waits_in_hops(app, store):
    # Given a delivery whose next attempt is due in ten hours
    from workers.runtime import settings
    from workers.tasks import deliver_webhook

    due = time.time() + 10 * 3600
    store.r.delete("webhooks")

    # When its message runs now
    deliver_webhook.apply(args=("t1", "http://127.0.0.1:9/hook"), kwargs={"not_before": due})

    # Then nothing is attempted; the same message is queued again, due within one hop
    (raw,) = store.r.lrange("webhooks", 0, -1)
    message = json.loads(raw)
    wait = datetime.fromisoformat(message["headers"]["eta"]).timestamp() - time.time()
    assert 0 < wait <= settings().retry_hop_s < settings().visibility_timeout_s
    assert json.loads(base64.b64decode(message["body"]))[1]["not_before"] == due


def test_metrics_report_requests_tickets_by_status_and_queue_depth(client, operator, store):
    submit(client, operator)

    text = client.get("/metrics").get_data(as_text=True)

    assert 'smartsupport_tickets{status="queued"} 1.0' in text
    assert 'smartsupport_queue_depth{queue="model"}' in text
    assert 'smartsupport_http_request_duration_seconds_count{endpoint="api.submit_ticket",method="POST",' \
           'status="202"}' in text
    assert 'smartsupport_stage_duration_milliseconds_bucket{le="+Inf",stage="total"}' in text


def test_replaying_every_dead_letter_sends_each_event_again_with_a_fresh_budget(api_redis_url, tmp_path, operator,
                                                                                store):
    # Given two events whose attempts ran out, each to its own endpoint
    from smartsupport.delivery import DeadLetter

    hooks = ("http://127.0.0.1:9/a", "http://127.0.0.1:9/b")
    client = create_app(settings_for(api_redis_url, tmp_path, SMARTSUPPORT_WEBHOOK_URLS=",".join(hooks))).test_client()
    dead = [(submit(client, operator), url) for url in hooks]
    for ticket_id, url in dead:
        store.finish_tickets([FinishPlan(ticket_id, f"evt_{ticket_id}", (url,))], started=time.time())
        store.deliveries.record_attempt(ticket_id, url, {"at": time.time(), "status_code": 503, "error": "HTTP 503"},
                                        DeadLetter("HTTP 503"))
    assert len(client.get("/api/webhooks/dead", headers=operator).get_json()["events"]) == 2

    # When an operator replays all of them (no ticket named)
    response = client.post("/api/webhooks/dead/replay", json={}, headers=operator)

    # Then both are queued again, pending with a new round of attempts, and the list is empty
    assert response.status_code == 202 and response.get_json() == {"replayed": 2}
    assert sorted(queued_messages(store.r, "webhooks")) == sorted([list(d) for d in dead])
    for ticket_id, url in dead:
        state = store.deliveries.state(ticket_id, url)
        assert state == {**state, "status": "pending", "round_start": 1}
    assert client.get("/api/webhooks/dead", headers=operator).get_json()["events"] == []


def test_an_urgency_correction_sets_the_level_and_keeps_the_ticket_as_an_example(client, operator, submitter, store):
    # Given a scored ticket
    from smartsupport.ticket import Urgency, UrgencyLevel

    ticket_id = submit(client, operator)
    store.tickets.save_urgencies([(ticket_id, Urgency(score=0.2, level=UrgencyLevel.LOW))], started=time.time())

    # When an operator says it is critical
    response = client.post(f"/api/tickets/{ticket_id}/urgency", json={"level": "critical"}, headers=operator)

    # Then it shows critical, sorts among critical tickets, and its text is an example of that level
    assert response.status_code == 200
    urgency = response.get_json()["urgency"]
    assert urgency["level"] == "critical" and urgency["corrected"] is True and urgency["original_level"] == "low"
    assert urgency["score"] >= 0.7 and store.r.zscore("ss:tickets:urgency", ticket_id) == urgency["score"]
    assert store.corrections.examples("urgency") == [("critical", store.tickets.load(ticket_id).text)]
    assert store.corrections.version("urgency") == 1 and store.corrections.examples() == []
    # and bad input is a clear 4xx: unknown level, unknown ticket, not an operator
    bad = client.post(f"/api/tickets/{ticket_id}/urgency", json={"level": "panic"}, headers=operator)
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "validation_error"
    assert client.post("/api/tickets/nope/urgency", json={"level": "low"}, headers=operator).status_code == 404
    assert client.post(f"/api/tickets/{ticket_id}/urgency", json={"level": "low"},
                       headers=submitter).status_code == 403
