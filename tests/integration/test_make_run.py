"""The whole system as `make run` starts it: embedded Redis, worker, gunicorn API and Flower."""

import os
import signal
import subprocess
import time

import psutil
import pytest
import redis
import requests

from deploy import cli
from tests.helpers import start_stack, wait_for

pytestmark = pytest.mark.integration
PROGRAMS = ["redis", "model", "io", "webhooks", "scheduler", "web", "flower"]


@pytest.fixture
def stack(tmp_path):
    proc, base, ports = start_stack(tmp_path)
    try:
        yield proc, base, ports, tmp_path
    finally:
        if proc.poll() is None:  # the test failed before its Ctrl-C: supervisord stops its programs on SIGINT
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _check_processes(proc, key: str) -> None:
    """supervisord runs every program under its guard, each the leader of its own process group, all in
    the run's session (one scheduling autogroup, so the nice values order them)."""
    guards = psutil.Process(proc.pid).children()
    assert sorted(g.cmdline()[3] for g in guards) == sorted(PROGRAMS)
    commands = {g.cmdline()[3]: wait_for(lambda g=g: g.children(), what="each guard's command")[0] for g in guards}
    for guard in guards:
        assert os.getpgid(guard.pid) == guard.pid
        tree = [guard, *guard.children(recursive=True)]
        assert {os.getsid(p.pid) for p in tree} == {os.getsid(proc.pid)}
    # (Redis and the API at 0, the workers at their nice values once each has waited for Redis)
    expected = {"redis": 0, "web": 0, "model": cli.MODEL_NICE, "io": cli.IO_NICE, "webhooks": cli.IO_NICE,
                "scheduler": cli.IO_NICE, "flower": cli.FLOWER_NICE}
    wait_for(lambda: {n: c.nice() for n, c in commands.items()} == expected, timeout_s=30,
             what="every command to run at its nice value")
    # No secret on any command line (readable by every local user in /proc)
    for command in commands.values():
        assert key not in " ".join(command.cmdline())


def _check_flower(ports: dict, base: str, auth: dict, key: str) -> None:
    """Flower answers behind basic auth, its metrics too, and shows the three stages of the chain as
    tasks (one per batch), once it listens to events."""
    flower = f"http://127.0.0.1:{ports['FLOWER_PORT']}/"
    for page in (flower, flower + "metrics"):
        assert requests.get(page, timeout=5).status_code == 401
        assert requests.get(page, auth=("operator", key), timeout=5).status_code == 200

    def stages_in_flower() -> bool:
        requests.post(base + "/api/tickets", json={"body": "The CSV export fails"}, headers=auth, timeout=10)
        tasks = requests.get(flower + "api/tasks", auth=("operator", key), timeout=5).json()
        done = {t["name"] for t in tasks.values() if t.get("state") == "SUCCESS"}
        return {f"workers.tasks.{n}" for n in ("classify_ticket", "score_ticket", "route_and_notify")} <= done
    wait_for(stages_in_flower, timeout_s=60, interval_s=1, what="Flower to show a batch of each stage")


def test_the_stack_prints_its_urls_and_key_serves_tickets_over_http_and_stops_on_ctrl_c(stack):
    proc, base, ports, tmp_path = stack
    output = (tmp_path / "run.log").read_text()
    key = (tmp_path / "data" / "api_key").read_text().strip()
    assert f"http://127.0.0.1:{ports['SMARTSUPPORT_PORT']}/" in output
    # The banner names the key by its first characters and its file, never in full
    assert f"{key[:8]}…   (in {tmp_path / 'data' / 'api_key'})" in output and key not in output
    auth = {"Authorization": f"Bearer {key}"}
    _check_processes(proc, key)

    # When a ticket is posted over HTTP, the API answers 202 at once
    started = time.monotonic()
    text = "Our production API is down and every checkout fails, fix ASAP"
    response = requests.post(base + "/api/tickets", json={"body": text}, headers=auth, timeout=10)
    assert response.status_code == 202
    status_url = base + response.json()["status_url"]

    # Then it comes back done, Technical and critical
    view = wait_for(lambda: (v := requests.get(status_url, headers=auth, timeout=5).json())["status"] == "done" and v,
                    timeout_s=60, interval_s=0.05, what="the ticket to be done")
    assert view["category"]["label"] == "Technical" and view["urgency"]["level"] == "critical"
    assert time.monotonic() - started < 30

    # Prometheus metrics cover the API processes and the pipeline stages (recorded just after "done")
    metrics = wait_for(lambda: (m := requests.get(base + "/metrics", timeout=5).text) and
                       'smartsupport_stage_duration_milliseconds_count{stage="total"} 1.0' in m and m,
                       timeout_s=10, what="the stage metrics of the done ticket")
    assert 'smartsupport_http_request_duration_seconds_count{endpoint="api.submit_ticket"' in metrics

    _check_flower(ports, base, auth, key)

    # A local client without the generated password is refused; no data file is readable by other users
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=ports["SMARTSUPPORT_REDIS_PORT"], socket_timeout=5).get("ss:tickets:created")
    data = tmp_path / "data"
    assert data.stat().st_mode & 0o777 == 0o700
    assert [str(f) for f in data.rglob("*") if f.stat().st_mode & 0o077] == []

    # Ctrl-C stops every process, and the embedded Redis kept its data in the data dir
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) is not None
    for port in ports.values():
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/", timeout=2)
    assert sum(f.stat().st_size for f in (tmp_path / "data" / "appendonlydir").iterdir()) > 0
