"""The stack as `make run` starts it (with a webhook receiver), and Debian's Chromium driving the dashboard."""

from __future__ import annotations

import re
import shutil

import pytest
from pytest_httpserver import HTTPServer

from tests.helpers import CHROMIUM, CHROMIUM_ARGS, WEBHOOK_SECRET, free_port, running_stack

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # each test skips, saying so (pytest_runtest_setup)
    expect = sync_playwright = None

EXAMPLE_DESTINATIONS = ("BILLING_SLACK", "TECH_PAGER", "OPS_HOOK")


def pytest_runtest_setup(item):
    """Without Playwright or Chromium each browser test skips, saying which is missing, wherever it
    runs; before its fixtures start a stack."""
    if sync_playwright is None:
        pytest.skip("Playwright is not installed: pip install -r requirements.txt")
    if not shutil.which(CHROMIUM):
        pytest.skip(f"Chromium is not installed at {CHROMIUM}: run scripts/install-chromium.sh (make chromium)")


@pytest.fixture(scope="module")
def webhook_receiver():
    server = HTTPServer(host="127.0.0.1", port=free_port())
    server.expect_request("/hook", method="POST").respond_with_data("ok")
    server.start()
    yield server.url_for("/hook")
    server.clear()
    server.stop()


@pytest.fixture(scope="module")
def destinations_receiver():
    """Every destination of examples/routing.yaml, on loopback: each answers 200."""
    server = HTTPServer(host="127.0.0.1", port=free_port())
    server.expect_request(re.compile("^/"), method="POST").respond_with_data("ok")
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture(scope="module")
def destination_env(destinations_receiver) -> dict[str, str]:
    """The ${NAME}s of examples/routing.yaml's destinations: their URLs on the receiver, and a secret."""
    env = {}
    for name in EXAMPLE_DESTINATIONS:
        env[f"{name}_URL"] = destinations_receiver.url_for(f"/{name.lower()}")
        env[f"{name}_SECRET"] = WEBHOOK_SECRET
    return env


@pytest.fixture(scope="module")
def stack(tmp_path_factory, webhook_receiver):
    with running_stack(tmp_path_factory, SMARTSUPPORT_WEBHOOK_URLS=webhook_receiver) as running:
        yield running


@pytest.fixture(scope="session")
def browser():
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
