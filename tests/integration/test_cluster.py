"""Four "hosts" in network namespaces that share nothing but the network (deploy/netns.py): a Redis
host, an API host, two worker hosts that know only REDIS_URL. Real processes under `python -m
deploy run --only ...`, real Redis, real HTTP across veth links; needs root, as CI has."""

from __future__ import annotations

import json

import pytest

from deploy import netns
from smartsupport.labels import DEFAULT_LABELS_FILE

pytestmark = pytest.mark.integration
WORKER_HOSTS = {"worker-a", "worker-b"}
SHIPPING = {"labels": [
    {"name": "Shipping", "description": "Parcels, delivery, tracking numbers, couriers, late packages."},
    {"name": "Returns", "description": "Sending an item back, return labels, exchanges and refunds for returns."},
]}
TEXTS = ["Production is down: every API call fails with 500 errors for all our users, fix ASAP",
         "I was charged twice for my subscription this month", "The export button does nothing in Firefox",
         "Where is my parcel? The tracking number shows nothing since Monday"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    why = netns.available()
    if why:
        pytest.skip(f"no network namespaces here: {why}")
    with netns.Cluster(tmp_path_factory.mktemp("cluster"), labels_text=DEFAULT_LABELS_FILE.read_text(),
                       log=lambda line: None) as cluster:
        try:
            cluster.wait_healthy()
            yield cluster
        except BaseException:
            for host in netns.HOSTS:
                print(f"===== {host}\n{cluster.log_of(host)[-4000:]}")
            raise


def classify_on_every_worker_host(cluster, max_tickets: int = 40) -> list[dict]:
    """Tickets sent one at a time until each worker host has classified at least one."""
    views = []
    for i in range(max_tickets):
        views.append(cluster.finished(cluster.submit(f"{TEXTS[i % len(TEXTS)]} (#{i})")))
        if {v["workers"]["classify"].split("@")[1] for v in views} >= WORKER_HOSTS:
            break
    return views


def test_tickets_posted_to_the_api_host_are_classified_on_the_worker_hosts_and_signed_with_its_secret(cluster):
    from standardwebhooks.webhooks import Webhook

    # When tickets are posted to the API host, across the network
    views = classify_on_every_worker_host(cluster)

    # Then each was classified, scored and notified on a worker host, both hosts taking work
    assert {v["status"] for v in views} == {"done"}
    hosts = {stage: {node.split("@")[1] for v in views for s, node in v["workers"].items() if s == stage}
             for stage in ("classify", "score", "notify")}
    assert hosts["classify"] == WORKER_HOSTS and hosts["score"] <= WORKER_HOSTS and hosts["notify"] <= WORKER_HOSTS
    # and the urgent one's webhook, sent from a worker host that has no secret, is signed with the API host's
    urgent = next(v for v in views if v["urgency"]["level"] == "critical")
    cluster_wait(lambda: cluster.receiver.for_ticket(urgent["id"]), what="the urgent ticket's webhook")
    headers, body = cluster.receiver.for_ticket(urgent["id"])[0]
    assert Webhook(cluster.webhook_secret).verify(body, headers)["data"]["id"] == urgent["id"]
    for host in WORKER_HOSTS:  # no secret of their own, generated or configured
        assert not (cluster.root / host / "data" / "webhook_secret").exists()
        assert "SMARTSUPPORT_WEBHOOK_SECRET" not in cluster.host_env(host, {})


def test_a_labels_change_made_once_on_the_api_host_reaches_both_worker_hosts(cluster):
    # When the operator edits the labels file on the API host, once, without restarting anything
    cluster.labels_file.write_text(json.dumps(SHIPPING))
    cluster.api("GET", "/api/meta")  # any request lets the API notice the edit

    # Then the next tickets are classified with the new labels on both worker hosts
    views = classify_on_every_worker_host(cluster)
    assert {v["workers"]["classify"].split("@")[1] for v in views} == WORKER_HOSTS
    assert all(set(v["category"]["scores"]) == {"Shipping", "Returns"} for v in views)
    assert cluster.api("GET", "/api/meta").json()["labels"] == ["Shipping", "Returns"]


def cluster_wait(condition, *, what: str, timeout_s: float = 60):
    from tests.helpers import wait_for
    return wait_for(condition, timeout_s=timeout_s, what=what)
