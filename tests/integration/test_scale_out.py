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
