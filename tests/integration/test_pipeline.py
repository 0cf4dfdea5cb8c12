import time

import pytest
from standardwebhooks.webhooks import Webhook

from smartsupport.store import TicketStore
from smartsupport.ticket import Ticket, Urgency, UrgencyLevel
from workers.celery import app

from tests.helpers import AUTH, WEBHOOK_SECRET, finished, submit

pytestmark = pytest.mark.integration


def test_an_outage_comes_back_technical_critical_with_timings_and_one_signed_webhook(client, receiver):
    ticket_id = submit(client, "Our production API is down and every checkout fails, fix ASAP")

    view = finished(client, ticket_id, webhook=True)

    assert view["status"] == "done" and view["error"] is None
    assert view["category"]["label"] == "Technical"
    assert set(view["category"]["scores"]) == {"Billing", "Technical", "Legal", "Other"}
    assert view["urgency"]["level"] == "critical" and view["urgency"]["score"] >= 0.75
    assert "is down" in {s["phrase"] for s in view["urgency"]["signals"]}
    assert set(view["timings_ms"]) == {"queue_wait", "classify", "score", "notify", "total"}
    assert view["timings_ms"]["total"] >= view["timings_ms"]["classify"] > 0
    assert view["webhook"] == {**view["webhook"], "status": "delivered", "attempts": 1}
    (request,) = receiver.calls[ticket_id]
    event = Webhook(WEBHOOK_SECRET).verify(request.get_data(as_text=True), dict(request.headers))
    assert event["type"] == "ticket.urgent" and event["data"]["id"] == ticket_id


def test_an_invoice_question_comes_back_billing_low_with_no_webhook(client, receiver):
    ticket_id = submit(client, "Can you send me an invoice with our VAT number?")

    view = finished(client, ticket_id)

    assert view["category"]["label"] == "Billing" and view["urgency"]["level"] == "low"
    assert view["webhook"]["status"] == "not_needed" and view["webhook"]["attempts"] == 0
    assert receiver.calls[ticket_id] == []


def test_a_failing_endpoint_is_retried_with_the_same_event_id_until_it_accepts(client, receiver):
    ticket_id = submit(client, "Total outage, the server is down for everyone [respond 503 503 200]")

    view = finished(client, ticket_id, webhook=True)

    assert view["webhook"]["status"] == "delivered" and view["webhook"]["attempts"] == 3
    assert [a["status_code"] for a in view["webhook"]["log"]] == [503, 503, 200]
    calls = receiver.calls[ticket_id]
    assert len(calls) == 3 and len({c.headers["webhook-id"] for c in calls}) == 1
    for call in calls:
        Webhook(WEBHOOK_SECRET).verify(call.get_data(as_text=True), dict(call.headers))


def test_a_client_error_from_the_endpoint_is_not_retried(client, receiver):
    ticket_id = submit(client, "Data breach: customer records leaked, the site is down [respond 400]")

    view = finished(client, ticket_id, webhook=True)

    assert view["webhook"]["status"] == "failed" and view["webhook"]["attempts"] == 1
    assert len(receiver.calls[ticket_id]) == 1


def test_the_queue_lists_the_most_urgent_first(client):
    ids = [submit(client, text) for text in ("How do I change my avatar?",
                                             "Production is down, outage for all users, fix immediately",
                                             "The export is a bit slow")]
    for ticket_id in ids:
        finished(client, ticket_id)

    listed = client.get("/api/tickets?sort=urgency", headers=AUTH).get_json()["tickets"]

    scores = [t["urgency"]["score"] for t in listed]
    assert listed[0]["id"] == ids[1] and scores == sorted(scores, reverse=True)


def test_health_is_ok_with_redis_and_a_worker(client):
    response = client.get("/api/health")
    assert response.status_code == 200 and response.get_json()["workers"] >= 1


def test_health_says_warming_until_a_new_worker_s_model_has_run_once(redis_server, worker_env, tmp_path):
    from tests.helpers import clear_queues, clear_tickets, settings_for, start_worker, wait_for
    from web import create_app
    from web.health import check

    # Given a worker starting on a database of its own (no other test's: its scheduler leaves tasks
    # there once it stops), with nothing else consuming there
    url = redis_server + "/8"
    clear_tickets(url)
    clear_queues(url)
    services = create_app(settings_for(url, tmp_path)).extensions["smartsupport"]
    worker = start_worker({**worker_env, "REDIS_URL": url}, tmp_path / "worker.log", beat=True)
    reports = []

    def healthy():
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
        report, ok = check(services, operator=True)  # as found now, not a cached report
        reports.append(report)
        return ok

    try:
        wait_for(healthy, timeout_s=120, interval_s=0.05, what="the new worker to be healthy")
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        clear_queues(url)  # what its scheduler sent last: no later test finds it

    # Then while its model loaded it consumed its queues but was not ready: health named it warming
    warming = [r for r in reports if r.get("warming")]
    assert warming and all("(warming up)" in " ".join(r["missing"]) for r in warming)
    assert reports[-1]["status"] == "ok" and not reports[-1].get("warming")
    assert "loaded embedding model" in (tmp_path / "worker.log").read_text()


def test_a_correction_through_the_api_changes_the_next_similar_tickets_category(client):
    # Given a ticket the model puts in some category
    first = finished(client, submit(client, "Please update the company name printed on our account page"))
    original = first["category"]["label"]
    target = next(name for name in ("Legal", "Billing", "Technical") if name != original)

    # When an operator corrects it
    response = client.post(f"/api/tickets/{first['id']}/category", json={"label": target}, headers=AUTH)
    assert response.status_code == 200

    # Then a similar ticket gets the corrected category, with no retraining
    second = finished(client, submit(client, "Could you update the company name shown on our account page?"))
    assert second["category"]["label"] == target


def test_a_failed_ticket_retried_by_an_operator_finishes(client):
    # Given a ticket that failed (stored, its classification failed, nothing left in flight)
    from smartsupport.ticket import Ticket

    store = client.application.extensions["smartsupport"].store
    ticket = Ticket.new(body="The CSV export fails with an error since this morning")
    store.create(ticket)
    store.tickets.fail(ticket.id, "classify: RuntimeError: the model process died")
    assert client.get(f"/api/tickets/{ticket.id}", headers=AUTH).get_json()["status"] == "failed"

    # When an operator retries it
    assert client.post(f"/api/tickets/{ticket.id}/retry", headers=AUTH).status_code == 202

    # Then it goes through the pipeline and is done, with no error left
    view = finished(client, ticket.id)
    assert view["status"] == "done" and view["error"] is None
    assert view["category"]["label"] == "Technical" and view["urgency"]["level"]


def test_an_urgency_correction_through_the_api_moves_the_next_similar_ticket(client):
    # Given a ticket the score puts low
    first = finished(client, submit(client, "Could you change the colour of the logo in our monthly report?"))
    assert first["urgency"]["level"] in ("low", "medium"), first["urgency"]

    # When an operator says it is critical
    response = client.post(f"/api/tickets/{first['id']}/urgency", json={"level": "critical"}, headers=AUTH)
    assert response.status_code == 200 and response.get_json()["urgency"]["level"] == "critical"

    # Then a similar ticket scores clearly higher, with no retraining, and the signals say why
    second = finished(client, submit(client, "Can you change the colour of the logo in the monthly report?"))
    assert second["urgency"]["score"] >= first["urgency"]["score"] + 0.2, (first["urgency"], second["urgency"])
    assert any(s["tier"] == "semantic" for s in second["urgency"]["signals"])


def test_the_traffic_centre_is_learnt_and_shared_through_redis(client):
    # When tickets are classified, then the model processes keep the centre they score around in Redis
    from smartsupport.centring import TrafficCentre

    store = client.application.extensions["smartsupport"].store
    store.r.delete("ss:classifier:centre")
    for text in ("The export fails with an error", "Please refund the second charge on my card"):
        finished(client, submit(client, text))
    centre = TrafficCentre.from_bytes(store.model_state.traffic_centre())
    assert centre.seen >= 2 and set(centre.labels) >= {"Billing", "Technical"}


def test_a_message_published_under_the_stage_s_old_name_still_finishes_its_ticket(client, worker_env):
    """`notify_team` was renamed `route_and_notify` on 2026-12-07: a message a worker of an older
    release left in the queue must still route and finish its ticket after an upgrade."""
    store = TicketStore.from_url(worker_env["REDIS_URL"])
    ticket = Ticket.new(body="Where is the invoice for last month?")
    store.create(ticket)  # stored, but published to no stage
    store.tickets.save_urgencies([(ticket.id, Urgency(score=0.2, level=UrgencyLevel.LOW, signals=()))],
                                 started=time.time())

    app.send_task("workers.tasks.notify_team", args=(ticket.id,))

    view = finished(client, ticket.id)
    assert view["status"] == "done" and view["route"]["rule"]["name"] == "default"
