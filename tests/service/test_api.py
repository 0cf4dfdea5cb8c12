import base64
import dataclasses
import json
import threading

import pytest

from smartsupport.store import FinishPlan
from tests.helpers import OPERATOR_KEY, queued_messages, settings_for
from web import create_app


def post(client, headers, **kwargs):
    return client.post("/api/tickets", headers=headers, **kwargs)


def test_a_valid_ticket_is_accepted_stored_and_queued(client, operator, store):
    response = post(client, operator, json={"body": "Our API is down", "subject": "Outage", "customer": {"id": 7}})

    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "queued" and response.headers["Location"] == body["status_url"]
    view = client.get(body["status_url"], headers=operator).get_json()
    assert view["id"] == body["id"] and view["status"] == "queued" and view["body"] == "Our API is down"
    assert view["category"] is None and view["webhook"]["status"] == "pending"
    assert {"received", "queued"} <= set(view["timestamps"])
    # the first stage's message, and only it, is on the broker
    assert queued_messages(store.r, "model") == [[body["id"]]]


def test_a_ticket_and_its_first_task_are_written_in_one_transaction(client, operator, store):
    # Watch every command Redis runs on this database while one ticket is posted, up to a marker
    db = store.r.connection_pool.connection_kwargs.get("db", 0)
    seen, ready = [], threading.Event()

    def watch():
        with store.r.monitor() as monitor:
            ready.set()
            for event in monitor.listen():
                if event["db"] == db:
                    seen.append(event["command"])
                if event["command"] == "ECHO end-of-post":
                    return
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert ready.wait(5)

    ticket_id = post(client, operator, json={"body": "Our API is down"}).get_json()["id"]
    store.r.echo("end-of-post")
    watcher.join(10)
    assert not watcher.is_alive()

    # Then the ticket and the classify message for it went in between one MULTI and its EXEC
    start = seen.index("MULTI")
    transaction = seen[start:seen.index("EXEC", start) + 1]
    assert any(c.startswith(f"HSET ss:ticket:{ticket_id}") for c in transaction)
    pushes = [c for c in transaction if c.startswith("LPUSH model")]
    assert len(pushes) == 1 and ticket_id in pushes[0]
    # and no message for it was published outside that transaction
    assert sum(ticket_id in c for c in seen if c.startswith("LPUSH")) == 1


def test_requests_without_a_valid_key_get_401(client):
    assert post(client, {}, json={"body": "x"}).status_code == 401
    response = client.get("/api/tickets", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("kwargs, status, code", [
    ({"data": "body=x", "content_type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
    ({"data": "{not json", "content_type": "application/json"}, 400, "invalid_json"),
    ({"json": ["a list"]}, 422, "invalid_ticket"),
    ({"json": {}}, 422, "validation_error"),
    ({"json": {"body": "   "}}, 422, "validation_error"),
    ({"json": {"body": "hi", "unknown": 1}}, 422, "validation_error"),
    ({"json": {"body": "bell \x07 in the text"}}, 422, "validation_error"),
    ({"json": {"body": "x" * 20001}}, 422, "validation_error"),
    ({"json": {"body": "deep", "metadata": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}}}, 422, "validation_error"),
    ({"data": '{"body": "x", "metadata": {"score": NaN}}', "content_type": "application/json"}, 422,
     "validation_error"),
    ({"data": '{"body": "x", "customer": {"ltv": [1, -Infinity]}}', "content_type": "application/json"}, 422,
     "validation_error"),
    ({"data": '{"body": "' + "x" * 300_000 + '"}', "content_type": "application/json"}, 413,
     "request_entity_too_large"),
])
def test_bad_input_gets_a_clear_4xx_and_stores_nothing(client, operator, store, kwargs, status, code):
    response = post(client, operator, **kwargs)

    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert store.r.zcard("ss:tickets:created") == 0


def test_unicode_text_is_kept_as_sent(client, operator):
    text = "Le paiement a échoué 💳 — 支払いが失敗しました"
    ticket_id = post(client, operator, json={"body": text}).get_json()["id"]
    assert client.get(f"/api/tickets/{ticket_id}", headers=operator).get_json()["body"] == text


def test_unknown_ticket_is_404(client, operator):
    response = client.get("/api/tickets/nope", headers=operator)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_list_sorts_by_creation_and_filters_by_status(client, operator):
    ids = [post(client, operator, json={"body": f"ticket {i}"}).get_json()["id"] for i in range(3)]

    listed = client.get("/api/tickets?sort=created", headers=operator).get_json()["tickets"]

    assert [t["id"] for t in listed] == ids[::-1]
    assert client.get("/api/tickets?status=done", headers=operator).get_json() == {"tickets": []}
    assert len(client.get("/api/tickets?limit=2", headers=operator).get_json()["tickets"]) == 2


@pytest.mark.parametrize("query", ["sort=size", "limit=0", "limit=many", "status=lost", "colour=red"])
def test_a_bad_list_query_is_400(client, operator, query):
    assert client.get(f"/api/tickets?{query}", headers=operator).status_code == 400


def test_a_submit_key_reads_only_its_own_tickets(client, operator, submitter):
    mine = post(client, submitter, json={"body": "mine"}).get_json()["id"]
    theirs = post(client, operator, json={"body": "theirs"}).get_json()["id"]

    assert client.get(f"/api/tickets/{mine}", headers=submitter).status_code == 200
    assert client.get(f"/api/tickets/{theirs}", headers=submitter).status_code == 404
    assert [t["id"] for t in client.get("/api/tickets", headers=submitter).get_json()["tickets"]] == [mine]


def test_a_submit_key_sees_no_endpoint_url_attempt_log_or_host_name(api_redis_url, tmp_path, operator, submitter):
    # Given a ticket of a submit key whose webhook went to a secret URL, attempted by a named worker
    from smartsupport.delivery import Delivered

    secret_url = "https://hooks.example.invalid/services/T000/B000/XXXXSECRET"
    client = create_app(settings_for(api_redis_url, tmp_path, SMARTSUPPORT_WEBHOOK_URLS=secret_url)).test_client()
    store = client.application.extensions["smartsupport"].store
    mine = post(client, submitter, json={"body": "mine"}).get_json()["id"]
    store.finish_tickets([FinishPlan(mine, f"evt_{mine}", (secret_url,))], started=0.0, worker="io@worker-host-7")
    store.deliveries.record_attempt(mine, secret_url, {"at": 1.0, "status_code": 200}, Delivered())

    # Then the operator sees all of it, the submitter only the outcome
    full = client.get(f"/api/tickets/{mine}", headers=operator).get_json()
    assert full["webhook"]["endpoints"][0]["url"] == secret_url and full["workers"]["notify"] == "io@worker-host-7"
    for view in (client.get(f"/api/tickets/{mine}", headers=submitter).get_json(),
                 client.get("/api/tickets", headers=submitter).get_json()["tickets"][0]):
        text = json.dumps(view)
        assert secret_url not in text and "worker-host-7" not in text and "log" not in view["webhook"]
        assert view["webhook"]["status"] == "delivered" and view["webhook"]["attempts"] == 1


def test_openapi_spec_is_served_without_a_key(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.") and "/api/tickets" in spec["paths"]
    assert spec["components"]["schemas"]["TicketIn"]["required"] == ["body"]


def test_health_is_503_when_no_worker_answers(client):
    response = client.get("/api/health")
    assert response.status_code == 503 and response.get_json()["redis"] == "ok"


def test_health_asked_in_a_flood_asks_the_workers_once_per_view_and_period(client, operator):
    from web import health

    control = client.application.extensions["smartsupport"].celery.control
    broadcasts = []
    real_broadcast = control.broadcast

    def counted(*args, **kwargs):  # the real broadcast, counted
        broadcasts.append(args[0])
        return real_broadcast(*args, **kwargs)

    control.broadcast = counted
    try:
        answers = [client.get("/api/health", headers=operator if i % 2 else {}).status_code for i in range(40)]
    finally:
        del control.broadcast

    # Then 40 checks within CACHE_S cost one broadcast for each view (operator or not), and give the same answer
    assert answers == [503] * 40
    assert broadcasts == ["readiness", "readiness"] and health.CACHE_S >= 1


def test_store_down_gives_503_not_500(tmp_path):
    from tests.helpers import free_port, settings_for
    from web import create_app

    app = create_app(settings_for(f"redis://127.0.0.1:{free_port()}/0", tmp_path))
    response = app.test_client().post("/api/tickets", json={"body": "x"},
                                      headers={"Authorization": f"Bearer {OPERATOR_KEY}"})
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "unavailable"
    assert response.headers["Retry-After"] == "5"


def test_tickets_that_look_urgent_are_queued_for_the_model_first(client, operator, store):
    # Given a backlog-free broker
    store.r.delete("model", "model:3", "model:6", "model:9")

    urgent = client.post("/api/tickets", json={"body": "Outage! The site is down, fix ASAP"}, headers=operator)
    calm = client.post("/api/tickets", json={"body": "How do I change my avatar?"}, headers=operator)

    # Then the urgent one waits on the highest-priority list, the calm one on a lower one
    def queued_ids(key):
        return {json.loads(base64.b64decode(json.loads(m)["body"]))[0][0] for m in store.r.lrange(key, 0, -1)}
    assert queued_ids("model") == {urgent.get_json()["id"]}
    assert queued_ids("model:6") == {calm.get_json()["id"]}


def test_with_a_broker_outside_the_store_the_ticket_is_stored_then_published(app, client, operator, store):
    from workers.celery import app as celery_app, use_broker
    from workers.publishing import captured_commands

    # Given a broker that cannot join the store's Redis transaction (kombu's in-process transport)
    settings = app.extensions["smartsupport"].settings
    use_broker(dataclasses.replace(settings, broker="memory://"))
    try:
        assert captured_commands(celery_app.signature("workers.tasks.classify_ticket", ("t1",)), store) is None

        response = post(client, operator, json={"body": "Our API is down"})

        # Then the ticket is stored, and its classify message went to that broker instead; the
        # outbox entry stored with the ticket is gone once the message was sent
        assert response.status_code == 202
        ticket_id = response.get_json()["id"]
        assert store.tickets.load(ticket_id).text == "Our API is down" and store.outbox.waiting() == []
        assert not any(ticket_id in m for key in ("model", "model:3", "model:6", "model:9")
                       for m in store.r.lrange(key, 0, -1))
        with celery_app.connection_for_write() as connection:
            message = connection.default_channel.basic_get("model")
        assert message is not None and message.payload[0] == [ticket_id]
    finally:
        use_broker(settings)
