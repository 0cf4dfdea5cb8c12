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
