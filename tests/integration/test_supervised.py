"""`make run` under load while its processes are SIGKILLed (as the OOM killer does): supervisord brings
each back, health names what is missing meanwhile, and every accepted ticket is done."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid

import psutil
import pytest
import requests

from tests.helpers import start_stack, wait_for

pytestmark = pytest.mark.integration
TICKETS = 300
TEXTS = ["Our API is down for all users, fix ASAP", "Please send the March invoice with our VAT number",
         "I want my personal data deleted under GDPR", "The export fails with an error"]


@pytest.fixture
def stack(tmp_path):
    # A short visibility timeout: the messages a killed worker held come back within seconds
    proc, base, ports = start_stack(tmp_path, SMARTSUPPORT_VISIBILITY_TIMEOUT_S="15", SMARTSUPPORT_STUCK_AFTER_S="45",
                                    SMARTSUPPORT_WEBHOOK_TIMEOUT_S="2")
    key = (tmp_path / "data" / "api_key").read_text().strip()
    yield proc, base, ports, {"Authorization": f"Bearer {key}"}, tmp_path
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def command(supervisord: int, program: str) -> psutil.Process | None:
    """The process a program's guard runs (the Celery worker's or gunicorn's main process), if any now."""
    for guard in psutil.Process(supervisord).children():
        try:
            children = guard.children() if guard.cmdline()[3:4] == [program] else []
            if children:
                return children[0]
        except psutil.Error:  # a guard exiting just now
            continue
    return None


def _submit_all(base: str, auth: dict, accepted: list, stop: threading.Event) -> None:
    """Each ticket once: a POST that finds the API down is sent again with its Idempotency-Key."""
    for i in range(TICKETS):
        key = uuid.uuid4().hex
        while not stop.is_set():
            try:
                response = requests.post(base + "/api/tickets", json={"body": f"{TEXTS[i % 4]} (#{i})"},
                                         headers={**auth, "Idempotency-Key": key}, timeout=5)
                if response.status_code == 202:
                    accepted.append(response.json()["id"])
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        time.sleep(0.1)


def _health(base: str, auth: dict) -> tuple[int, dict]:
    try:
        response = requests.get(base + "/api/health", headers=auth, timeout=5)
        return response.status_code, response.json()
    except requests.RequestException:
        return 0, {}


def _back(proc, base: str, auth: dict, program: str, old_pid: int, killed_at: float) -> float:
    """Seconds until ``program`` runs again as a new process and health says 200."""
    wait_for(lambda: (c := command(proc.pid, program)) and c.pid != old_pid and _health(base, auth)[0] == 200,
             timeout_s=30, interval_s=0.2, what=f"{program} to come back")
    return time.monotonic() - killed_at


def _kill_the_model_pool_three_times(proc) -> dict[str, float]:
    recovered = {}
    for n in range(3):
        model = command(proc.pid, "model")
        children = wait_for(lambda: model.children(), what="the model pool")
        for child in children:
            child.kill()
        started = time.monotonic()
        wait_for(lambda: len(model.children()) == len(children) and not {c.pid for c in model.children()} &
                 {c.pid for c in children}, timeout_s=30, interval_s=0.2, what="new pool processes")
        recovered[f"model pool #{n + 1}"] = time.monotonic() - started
        time.sleep(2)
    return recovered


def _kill_the_workers_then_the_api(proc, base: str, auth: dict) -> dict[str, float]:
    """The I/O worker's main process, then the model worker's (health names the missing consumer),
    then gunicorn's master (the API unreachable, then back)."""
    recovered = {}
    for program, queue in (("io", "tickets"), ("model", "model")):
        main = command(proc.pid, program)
        main.kill()
        killed_at = time.monotonic()
        # (each API process reuses its report for 2 s: one may still show the last kill's; a
        # restarted model worker may already be there, warming up: "... queue (warming up)")
        _, report = wait_for(lambda: (h := _health(base, auth))[0] == 503 and any(
            m.startswith(f"a worker for the {queue} queue") for m in h[1]["missing"]) and h,
            timeout_s=15, interval_s=0.1, what=f"health to say the {program} worker is missing")
        if program == "io":  # the model worker consumes no tickets queue: none of it is warming up
            assert "a worker for the tickets queue" in report["missing"], report
        recovered[program] = _back(proc, base, auth, program, main.pid, killed_at)
    master = command(proc.pid, "web")
    master.kill()
    recovered["web"] = _back(proc, base, auth, "web", master.pid, time.monotonic())
    return recovered


def test_killed_processes_come_back_health_says_what_is_missing_and_no_ticket_is_lost(stack):
    proc, base, ports, auth, tmp_path = stack
    accepted, stop = [], threading.Event()
    submitter = threading.Thread(target=_submit_all, args=(base, auth, accepted, stop))
    submitter.start()
    try:
        wait_for(lambda: len(accepted) >= 20, timeout_s=60, what="the first tickets")
        # When the model worker's pool children are SIGKILLed, three times, then the workers and the API
        recovered = _kill_the_model_pool_three_times(proc)
        recovered.update(_kill_the_workers_then_the_api(proc, base, auth))
        submitter.join(timeout=180)
    finally:
        stop.set()
        submitter.join(timeout=30)

    # Then every accepted ticket is done, and each process came back within 30 s
    assert len(accepted) == TICKETS

    def all_done():
        listed = requests.get(base + "/api/tickets?status=done&limit=500", headers=auth, timeout=10).json()
        return {t["id"] for t in listed["tickets"]} >= set(accepted)
    wait_for(all_done, timeout_s=180, interval_s=1, what="every accepted ticket to be done")
    assert max(recovered.values()) < 30, recovered
    print(f"\n{TICKETS} tickets, 0 lost; back after (s): " + ", ".join(f"{k} {v:.1f}" for k, v in recovered.items()))


def test_a_process_that_keeps_crashing_is_given_up_on_reported_and_the_rest_keep_serving(tmp_path):
    # Given Flower's port taken by another program, so that Flower dies each time it starts
    import socket

    taken = socket.create_server(("127.0.0.1", 0))
    proc, base, ports = start_stack(tmp_path, FLOWER_PORT=str(taken.getsockname()[1]), wait_healthy=False)
    key = (tmp_path / "data" / "api_key").read_text().strip()
    auth = {"Authorization": f"Bearer {key}"}
    try:
        # Then supervisord gives up on it after its retries, and health names it while the API serves
        def flower_given_up():
            try:
                report = requests.get(base + "/api/health", headers=auth, timeout=5).json()
            except requests.RequestException:
                return None
            return report.get("processes", {}).get("flower") == "FATAL" and report
        report = wait_for(flower_given_up, timeout_s=90, interval_s=1, what="flower to be given up on")
        assert "the flower process (it keeps crashing)" in report["missing"] and report["status"] == "unavailable"
        assert all(state == "RUNNING" for name, state in report["processes"].items() if name != "flower")
        response = requests.post(base + "/api/tickets", json={"body": "The export fails"}, headers=auth, timeout=5)
        assert response.status_code == 202
        assert "gave up: flower entered FATAL state" in (tmp_path / "run.log").read_text()
    finally:
        taken.close()
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
