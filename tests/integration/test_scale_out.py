import pytest

from tests.helpers import finished, start_worker, submit, wait_for

pytestmark = pytest.mark.integration


def test_two_workers_with_different_node_names_share_the_work(client, worker, worker_env, tmp_path):
    # Given a second worker, under another node name, against the same Redis
    second = start_worker(worker_env, tmp_path / "second.log", name="second")
    celery = client.application.extensions["smartsupport"].celery
    try:
        wait_for(lambda: len(celery.control.ping(timeout=0.5)) >= 2, timeout_s=120, what="two workers")

        # When a burst of tickets arrives
        ids = [submit(client, f"Ticket {i}: the export fails with an error") for i in range(80)]
        views = [finished(client, ticket_id, timeout_s=120) for ticket_id in ids]

        # Then every ticket is done, and both workers did some of the stages
        assert {v["status"] for v in views} == {"done"}
        nodes = {node for v in views for node in v["workers"].values()}
        assert any(n.startswith("second@") for n in nodes) and any(not n.startswith("second@") for n in nodes)
    finally:
        second.terminate()
        second.wait(timeout=30)


def test_a_worker_host_without_the_secret_signs_with_the_installations_never_its_own(
        worker_env, redis_server, receiver, tmp_path, tmp_path_factory):
    from standardwebhooks.webhooks import Webhook

    from tests.helpers import AUTH, WEBHOOK_SECRET, answering_worker, clear_tickets, settings_for
    from web import create_app

    # Given a worker on another "host": its own data dir, no SMARTSUPPORT_WEBHOOK_SECRET
    env = {k: v for k, v in worker_env.items() if k != "SMARTSUPPORT_WEBHOOK_SECRET"}
    env.update(REDIS_URL=redis_server + "/6", SMARTSUPPORT_DATA_DIR=str(tmp_path_factory.mktemp("host-b")))
    clear_tickets(env["REDIS_URL"])
    with answering_worker(env, tmp_path_factory, "secretless worker"):
        # When the API (which has the secret) runs against the same Redis and a ticket fires a webhook
        app = create_app(settings_for(env["REDIS_URL"], tmp_path, SMARTSUPPORT_WEBHOOK_URLS=receiver.url))
        client = app.test_client()
        ticket_id = client.post("/api/tickets", json={"body": "Total outage: the site is down for everyone"},
                                headers=AUTH).get_json()["id"]
        wait_for(lambda: receiver.calls[ticket_id], timeout_s=60, what="the webhook")

    # Then it is signed with the installation's secret, which receivers check
    [call] = receiver.calls[ticket_id]
    assert Webhook(WEBHOOK_SECRET).verify(call.get_data(as_text=True), dict(call.headers))["id"] == "evt_" + ticket_id


ROUTING = """
teams: [{name: shipping}, {name: returns}]
destinations:
  - {name: hook, url: "${SS_TEST_HOOK_URL}", secret: "${SS_TEST_HOOK_SECRET}", events: [ticket.routed]}
rules:
  - {name: parcels, match: {category: Shipping}, team: shipping, notify: [hook]}
  - {name: the-rest, team: returns}
"""


def test_a_worker_host_classifies_and_routes_with_the_labels_and_routing_the_api_host_published(
        worker_env, redis_server, receiver, tmp_path, tmp_path_factory, monkeypatch):
    import json

    from standardwebhooks.webhooks import Webhook

    from smartsupport.labels import DEFAULT_LABELS_FILE
    from tests.helpers import AUTH, WEBHOOK_SECRET, answering_worker, clear_tickets, settings_for
    from tests.integration.test_labels import SHIPPING, TEXT
    from web import create_app

    # Given a worker "host" with no labels file, no routing file, no webhook settings of its own
    own = ("SMARTSUPPORT_WEBHOOK", "SMARTSUPPORT_LABELS", "SMARTSUPPORT_ROUTING", "SS_TEST_")
    env = {k: v for k, v in worker_env.items() if not k.startswith(own)}
    env.update(REDIS_URL=redis_server + "/6", SMARTSUPPORT_DATA_DIR=str(tmp_path_factory.mktemp("host-c")))
    clear_tickets(env["REDIS_URL"])
    # and an API "host" holding both files, the routing file's secret in its environment only
    labels, routing = tmp_path / "labels.json", tmp_path / "routing.yaml"
    labels.write_text(json.dumps(SHIPPING))
    routing.write_text(ROUTING)
    monkeypatch.setenv("SS_TEST_HOOK_URL", receiver.url)
    monkeypatch.setenv("SS_TEST_HOOK_SECRET", WEBHOOK_SECRET)
    app = create_app(settings_for(env["REDIS_URL"], tmp_path / "api", SMARTSUPPORT_LABELS_FILE=str(labels),
                                  SMARTSUPPORT_ROUTING_FILE=str(routing)))
    client = app.test_client()
    with answering_worker(env, tmp_path_factory, "configless worker"):
        # When a ticket arrives, then the labels file is edited once, on the API host, and another arrives
        first = finished(client, submit(client, TEXT))
        wait_for(lambda: receiver.calls[first["id"]], timeout_s=60, what="the routed event")
        labels.write_text(DEFAULT_LABELS_FILE.read_text())
        second = finished(client, submit(client, "I was charged twice for my subscription this month"))

    # Then the worker classified with the published labels, routed with the published file, and
    # signed with the secret it found there; after the edit it classified with the new labels
    assert set(first["category"]["scores"]) == {"Shipping", "Returns"}
    assert (first["route"]["team"], first["route"]["rule"]["name"]) == ("shipping", "parcels")
    [call] = receiver.calls[first["id"]]
    assert Webhook(WEBHOOK_SECRET).verify(call.get_data(as_text=True), dict(call.headers))["type"] == "ticket.routed"
    assert second["category"]["label"] == "Billing"
    meta = client.get("/api/meta", headers=AUTH).get_json()
    assert meta["labels"] == ["Billing", "Technical", "Legal", "Other"]
