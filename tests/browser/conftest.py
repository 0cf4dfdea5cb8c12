"""The stack as `make run` starts it (with a webhook receiver), and Debian's Chromium driving the dashboard."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from playwright.sync_api import expect, sync_playwright
from pytest_httpserver import HTTPServer

from tests.conftest import ROOT, free_port, start_stack

# Playwright's own browser download cannot run here: scripts/install-chromium.sh installs Debian's.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DASHBOARD = ROOT / "web" / "static" / "index.html"


@dataclass(frozen=True)
class Stack:
    base: str
    key: str


def _missing(reason: str) -> None:
    """Skip on a laptop without the browser; fail in CI, where `make test` installs everything."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def webhook_receiver():
    server = HTTPServer(host="127.0.0.1", port=free_port())
    server.expect_request("/hook", method="POST").respond_with_data("ok")
    server.start()
    yield server.url_for("/hook")
    server.clear()
    server.stop()


@contextmanager
def running_stack(tmp_path_factory, **env: str):
    """`python -m smartsupport.cli run` on free ports and a fresh data dir, healthy; stopped with Ctrl-C after."""
    if not DASHBOARD.is_file():
        _missing("the dashboard is not built: run `make build`")
    tmp_path = tmp_path_factory.mktemp("stack")
    proc, base, _ = start_stack(tmp_path, **env)
    try:
        yield Stack(base=base, key=(tmp_path / "data" / "api_key").read_text().strip())
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, webhook_receiver):
    with running_stack(tmp_path_factory, SMARTSUPPORT_WEBHOOK_URLS=webhook_receiver) as running:
        yield running


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM):
        _missing(f"no {CHROMIUM}: run scripts/install-chromium.sh")
    # The queue polls every 2 s and the first ticket waits for the model to load.
    expect.set_options(timeout=15_000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh tab (its own sessionStorage); an uncaught script error fails the test."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(error))
    yield page
    context.close()
    assert not errors, f"the dashboard threw: {errors}"
