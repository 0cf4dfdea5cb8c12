"""`python -m deploy run --only ...`: one host's share of the programs, and no secret born on a worker host."""

import asyncio
import concurrent.futures
import importlib
import subprocess

import pytest

from deploy import cli
from smartsupport.config import Settings


def test_a_worker_host_runs_only_its_programs_and_generates_no_secret(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(cli.os, "execv", lambda path, argv: started.append(argv))  # instead of becoming supervisord
    monkeypatch.setenv("SMARTSUPPORT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REDIS_URL", "redis://:pw@10.0.0.1:6379/0")
    for name in ("SMARTSUPPORT_WEBHOOK_SECRET", "SMARTSUPPORT_API_KEYS", "SMARTSUPPORT_ROUTING_FILE"):
        monkeypatch.delenv(name, raising=False)

    cli.main(["run", "--only", "model,io,webhooks"])

    conf = (tmp_path / "supervisord.conf").read_text()
    assert started and {"[program:model]", "[program:io]", "[program:webhooks]"} <= set(conf.splitlines())
    assert "[program:web]" not in conf and "[program:scheduler]" not in conf and "[program:flower]" not in conf
    assert not (tmp_path / "webhook_secret").exists() and not (tmp_path / "api_key").exists()


def test_only_names_known_programs(capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["run", "--only", "model,gpu"])
    assert stopped.value.code == 2 and "--only takes programs among redis, model" in capsys.readouterr().err


def _printed_curl_header(banner: str, env: dict[str, str]) -> str:
    """The Authorization header of the banner's curl line, as a shell expands it."""
    [line] = [line for line in banner.splitlines() if "Try it" in line]
    command = line.split(": ", 1)[1].replace("curl ", "printf '%s\\n' ", 1)
    expanded = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True, check=True).stdout
    return next(arg for arg in expanded.splitlines() if arg.startswith("Authorization:"))


def test_the_banner_shows_a_generated_key_masked_and_says_which_file_holds_it(tmp_path):
    settings = Settings.from_env({"SMARTSUPPORT_DATA_DIR": str(tmp_path / "my data")}, create_secrets=True)
    key = (tmp_path / "my data" / "api_key").read_text().strip()

    banner = cli.banner(settings)

    assert key not in banner and f"API key         : {key[:8]}…   (in {tmp_path / 'my data' / 'api_key'})" in banner
    # and its curl line still works as printed: the shell reads the key from that file
    assert _printed_curl_header(banner, {}) == f"Authorization: Bearer {key}"


def test_the_banner_shows_a_key_from_the_environment_masked_and_names_the_variable(tmp_path):
    env = {"SMARTSUPPORT_DATA_DIR": str(tmp_path), "SMARTSUPPORT_API_KEYS": "ssk_first-operator-key,ssk_second-key"}
    settings = Settings.from_env(env, create_secrets=True)

    banner = cli.banner(settings)

    assert "ssk_first-operator-key" not in banner and "second" not in banner
    assert "API key         : ssk_firs…   (the first of SMARTSUPPORT_API_KEYS)" in banner
    assert _printed_curl_header(banner, env) == "Authorization: Bearer ssk_first-operator-key"


def test_flower_asks_for_its_password_on_metrics_as_on_its_pages(tmp_path):
    # Given Flower as `make run` starts it: its app module, and the password from its environment
    from flower.app import Flower
    from flower.options import options
    from flower.urls import settings as flower_settings
    from tornado.httpclient import AsyncHTTPClient
    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets

    settings = Settings.from_env({"SMARTSUPPORT_DATA_DIR": str(tmp_path), "SMARTSUPPORT_API_KEYS": "ssk_op"})
    command = cli.commands(settings)["flower"]
    celery_app = importlib.import_module(command[command.index("-A") + 1]).app

    async def answers() -> dict[str, int]:
        flower = Flower(capp=celery_app, options=options, **flower_settings)
        [sock] = bind_sockets(0, "127.0.0.1")
        server = HTTPServer(flower)
        server.add_sockets([sock])
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        try:
            fetch = AsyncHTTPClient().fetch
            return {
                "page": (await fetch(base + "/", raise_error=False)).code,
                "metrics": (await fetch(base + "/metrics", raise_error=False)).code,
                "metrics, wrong password": (await fetch(base + "/metrics", auth_username="operator",
                                                        auth_password="guess", raise_error=False)).code,
                "metrics, password": (await fetch(base + "/metrics", auth_username="operator",
                                                  auth_password="ssk_op", raise_error=False)).code,
                "healthcheck": (await fetch(base + "/healthcheck", raise_error=False)).code,
            }
        finally:
            server.stop()
            flower.executor.shutdown(wait=False)

    # Then /metrics, like its pages, answers only with the password (the health check stays open)
    options.basic_auth, unset = ["operator:ssk_op"], options.basic_auth  # tornado's options are global
    try:
        # in a thread of its own: a test before may have left an event loop running in this one
        with concurrent.futures.ThreadPoolExecutor(1) as thread:
            found = thread.submit(asyncio.run, answers()).result()
    finally:
        options.basic_auth = unset
    assert found == {"page": 401, "metrics": 401, "metrics, wrong password": 401, "metrics, password": 200,
                     "healthcheck": 200}
