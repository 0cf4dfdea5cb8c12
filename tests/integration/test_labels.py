"""A worker follows its labels file: an operator edits it and the next ticket is classified with the
new labels, no restart (real worker, real Redis, its own database)."""

from __future__ import annotations

import json
import os
import time

import pytest

from smartsupport.labels import DEFAULT_LABELS_FILE
from tests.helpers import AUTH, answering_worker, clear_tickets, finished, settings_for, submit
from web import create_app

pytestmark = pytest.mark.integration
TEXT = "Where is my parcel? The tracking number shows nothing since Monday"
SHIPPING = {"labels": [
    {"name": "Shipping", "description": "Parcels, delivery, tracking numbers, couriers, late packages."},
    {"name": "Returns", "description": "Sending an item back, return labels, exchanges and refunds for returns."},
]}


def test_a_changed_labels_file_is_used_for_the_next_ticket_without_a_restart(worker_env, tmp_path_factory, tmp_path):
    # Given a worker reading a labels file that holds the default labels
    labels = tmp_path / "labels.json"
    labels.write_text(DEFAULT_LABELS_FILE.read_text())
    url = worker_env["REDIS_URL"].rsplit("/", 1)[0] + "/3"
    clear_tickets(url)
    env = {**worker_env, "REDIS_URL": url, "SMARTSUPPORT_LABELS_FILE": str(labels)}
    client = create_app(settings_for(url, tmp_path / "api", SMARTSUPPORT_LABELS_FILE=str(labels))).test_client()
    with answering_worker(env, tmp_path_factory, "labels-worker"):
        before = finished(client, submit(client, TEXT))

        # When an operator replaces the label set in that file
        labels.write_text(json.dumps(SHIPPING))
        os.utime(labels, (time.time() + 1, time.time() + 1))  # a new mtime even within the same second

        # Then the next ticket is classified with the new labels, and the API lists them
        after = finished(client, submit(client, TEXT))
    assert set(before["category"]["scores"]) == {"Billing", "Technical", "Legal", "Other"}
    assert set(after["category"]["scores"]) == {"Shipping", "Returns"} and after["category"]["label"] == "Shipping"
    assert client.get("/api/meta", headers=AUTH).get_json()["labels"] == ["Shipping", "Returns"]
