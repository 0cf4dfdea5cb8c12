"""A Python client generated from the served /openapi.json by openapi-python-client drives the real API
over HTTP (a real server on a free port, the session's real worker and Redis): submit a ticket, poll it
until done, correct its category and its urgency, read it back, list tickets. Every step goes through
the generated functions and models only; a spec the generator cannot turn into a working client fails
here (issue #18).

The generator runs in a throwaway virtualenv of its own: openapi-python-client pins typer below the
version that requirements.txt pins for transformers. The generated code needs only httpx and attrs,
which the project's venv has.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import threading
import venv
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.helpers import OPERATOR_KEY, ROOT, clear_tickets, free_port, settings_for, wait_for
from web import create_app

pytestmark = pytest.mark.integration

GENERATOR = "openapi-python-client==0.29.1"
#: The generator's own dependencies that requirements.txt does not pin (or pins at a version it refuses).
GENERATOR_DEPS = ["typer==0.27.3", "ruff==0.17.6", "ruamel.yaml==0.19.1"]
PACKAGE = "smartsupport_api_client"
TEXT = "Can you send me an invoice with our VAT number?"


@pytest.fixture(scope="module")
def generator(tmp_path_factory) -> Path:
    """openapi-python-client in its own venv; the rest of its dependencies at requirements.txt's pins."""
    home = tmp_path_factory.mktemp("generator")
    venv.create(home / "venv", with_pip=True)
    pinned = {line.split("==")[0].lower() for line in GENERATOR_DEPS}
    constraints = home / "constraints.txt"
    constraints.write_text("".join(line + "\n" for line in (ROOT / "requirements.txt").read_text().splitlines()
                                   if "==" in line and line.split("==")[0].lower() not in pinned))
    pip = subprocess.run([str(home / "venv" / "bin" / "python"), "-m", "pip", "install", "--quiet",
                          "--disable-pip-version-check", "-c", str(constraints), GENERATOR, *GENERATOR_DEPS],
                         capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    return home / "venv" / "bin"


def generate(bin_dir: Path, spec: dict, out: Path) -> str:
    """Generate the client package into ``out``/PACKAGE; returns what the generator printed."""
    (out / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "COLUMNS": "200",
           "NO_COLOR": "1"}  # ruff (its post-hooks) from the generator's venv
    run = subprocess.run([str(bin_dir / "openapi-python-client"), "generate", "--path", str(out / "spec.json"),
                          "--output-path", str(out / PACKAGE), "--meta", "none", "--overwrite",
                          "--fail-on-warning"], capture_output=True, text=True, cwd=out, env=env, timeout=300)
    printed = run.stdout + run.stderr
    assert run.returncode == 0, printed
    # --fail-on-warning fails on schemas it could not parse; this also catches post-hook trouble.
    assert "Warning" not in printed and "Error" not in printed and "Skipping" not in printed, printed
    return printed


@pytest.fixture
def served(worker, worker_env, tmp_path):
    """The API served over real HTTP (werkzeug, in a thread) against the session worker's Redis."""
    clear_tickets(worker_env["REDIS_URL"])
    app = create_app(settings_for(worker_env["REDIS_URL"], tmp_path / "api",
                                  SMARTSUPPORT_WEBHOOK_URLS=worker_env["SMARTSUPPORT_WEBHOOK_URLS"]))
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def generated(generator, served, tmp_path):
    """The spec the served app has (its label set included), turned into an importable package."""
    app, _ = served
    spec = app.test_client().get("/openapi.json")
    assert spec.status_code == 200
    generate(generator, spec.get_json(), tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        yield lambda name: importlib.import_module(f"{PACKAGE}.{name}")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def test_a_client_generated_from_the_spec_submits_polls_corrects_and_lists_a_ticket(generated, served):
    _, base_url = served
    models = generated("models")
    submit_ticket, get_ticket, list_tickets, correct_category, correct_urgency = (
        generated(f"api.tickets.{name}")
        for name in ("submit_ticket", "get_ticket", "list_tickets", "correct_category", "correct_urgency"))
    with generated("client").AuthenticatedClient(base_url=base_url, token=OPERATOR_KEY,
                                                 raise_on_unexpected_status=True) as client:
        # Given a ticket submitted through the generated client
        accepted = submit_ticket.sync_detailed(client=client, body=models.TicketIn(body=TEXT))
        assert accepted.status_code == 202, accepted.content
        assert isinstance(accepted.parsed, models.Accepted)
        ticket_id = accepted.parsed.id

        # When it is polled until done
        def done():
            view = get_ticket.sync(ticket_id, client=client)
            assert isinstance(view, models.Ticket), view
            return view if view.status in (models.TicketStatus.DONE, models.TicketStatus.FAILED) else None
        view = wait_for(done, timeout_s=60, what=f"ticket {ticket_id}")

        # Then it reads back typed: the classifier's category and the urgency score
        assert view.id == ticket_id and view.status == models.TicketStatus.DONE and view.body == TEXT
        assert isinstance(view.category, models.Category) and view.category.label == "Billing"
        assert isinstance(view.urgency, models.Urgency) and view.urgency.level == models.UrgencyLevel.LOW

        # When an operator corrects its category, then its urgency
        corrected = correct_category.sync(ticket_id, client=client,
                                          body=models.CategoryIn(label=models.CategoryInLabel.TECHNICAL))
        assert isinstance(corrected, models.Ticket), corrected
        assert corrected.category.label == "Technical" and corrected.category.corrected is True
        corrected = correct_urgency.sync(ticket_id, client=client,
                                         body=models.UrgencyIn(level=models.UrgencyInLevel.HIGH))
        assert isinstance(corrected, models.Ticket), corrected
        assert corrected.urgency.level == models.UrgencyLevel.HIGH

        # Then reading it back shows both corrections and what the classifier had said
        again = get_ticket.sync(ticket_id, client=client)
        assert isinstance(again, models.Ticket), again
        assert again.category.label == "Technical" and again.category.original_label == "Billing"
        assert again.urgency.level == models.UrgencyLevel.HIGH and again.urgency.corrected is True
        assert again.urgency.original_level == models.UrgencyOriginalLevelType0.LOW

        # And the list holds it, typed too
        listed = list_tickets.sync(client=client, sort=models.ListTicketsSort.CREATED, limit=50)
        assert isinstance(listed, models.TicketList), listed
        (mine,) = [t for t in listed.tickets if t.id == ticket_id]
        assert isinstance(mine, models.Ticket) and mine.category.label == "Technical"
        assert mine.urgency.level == models.UrgencyLevel.HIGH
