"""The dashboard names what is down, for real: its own Redis, worker and API server, stopped one by one."""

from __future__ import annotations

import os
import threading

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from deploy import redis_server
from tests.helpers import (DASHBOARD, OPERATOR_KEY, WEBHOOK_SECRET, free_port, missing, settings_for, sign_in,
                           start_worker, wait_for)
from web import create_app

pytestmark = pytest.mark.browser


@pytest.fixture
def parts(tmp_path):
    """A Redis, a worker and the API (serving the built dashboard), each a process or thread of its own."""
    if not DASHBOARD.is_file():
        missing("the dashboard is not built: run `make build`")
    port = free_port()
    redis_proc = redis_server.start(port=port, data_dir=tmp_path / "redis")
    url = f"redis://127.0.0.1:{port}/0"
    env = {**os.environ, "REDIS_URL": url, "SMARTSUPPORT_DATA_DIR": str(tmp_path / "worker"),
           "SMARTSUPPORT_WEBHOOK_SECRET": WEBHOOK_SECRET, "SMARTSUPPORT_WORKER_CONCURRENCY": "1"}
    worker = start_worker(env, tmp_path / "worker.log", beat=True)
    app = create_app(settings_for(url, tmp_path / "api"))
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    wait_for(lambda: app.test_client().get("/api/health").status_code == 200, timeout_s=120,
             what="the worker to answer the health check")
    yield {"base": f"http://127.0.0.1:{server.server_port}", "redis": redis_proc, "worker": worker, "server": server}
    for proc in (worker, redis_proc):
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    server.shutdown()


def test_the_dashboard_says_what_is_down_as_the_worker_then_redis_then_the_api_stop(parts, page):
    # Given a signed-in operator and every part up: no banner
    page.goto(parts["base"])
    sign_in(page, OPERATOR_KEY)
    expect(page.get_by_text("Live queue")).to_be_visible()
    banner = page.locator(".banner")
    expect(banner).to_have_count(0)

    # When the worker stops, then the banner says tickets will wait
    parts["worker"].terminate()
    parts["worker"].wait(timeout=60)
    expect(banner).to_have_text("No worker is running: tickets will wait in the queue", timeout=30_000)

    # When Redis stops too, then the banner and the queue (answered 503) say so
    parts["redis"].kill()
    parts["redis"].wait(timeout=30)
    expect(banner).to_contain_text("Redis is unavailable", timeout=30_000)
    expect(page.locator(".queue")).to_contain_text("Redis is unavailable", timeout=30_000)

    # When the API itself goes away, then the banner says the API cannot be reached
    parts["server"].shutdown()
    expect(banner).to_have_text("Cannot reach the SmartSupport API", timeout=30_000)
