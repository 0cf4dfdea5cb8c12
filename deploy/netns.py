"""Several SmartSupport hosts on one machine: Linux network namespaces joined by veth links to a
bridge, each "host" with its own address, hostname, data dir and environment, sharing nothing but
the network (and the installed code). What ``make cluster`` shows and tests/integration/test_cluster.py
checks; it needs root (``ip netns``).

  redis     10.<a>.<b>.1   Debian's redis-server, password in its 0600 config file
  api       10.<a>.<b>.2   python -m deploy run --only web,scheduler   (labels file, webhook secret)
  worker-a  10.<a>.<b>.3   python -m deploy run --only model,io,webhooks   (REDIS_URL and nothing else)
  worker-b  10.<a>.<b>.4   the same
  (this machine)  .254     the bridge: the operator's client and the webhook receiver

Each host's programs run under ``ip netns exec`` in a UTS namespace of their own (``unshare --uts``),
so that Celery's node names differ as on real hosts. ``Cluster.down`` stops every program and
removes the namespaces and the bridge, whatever state ``up`` reached.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from .redis_server import server_binary

ROOT = Path(__file__).resolve().parent.parent
HOSTS = {"redis": 1, "api": 2, "worker-a": 3, "worker-b": 4}
BRIDGE_HOST = 254
API_PORT = 8000
WORKER_PROGRAMS = "model,io,webhooks"
API_PROGRAMS = "web,scheduler"


def available() -> str | None:
    """Why a cluster cannot be made on this machine, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    missing = [tool for tool in ("ip", "unshare") if not shutil.which(tool)]
    if missing:
        return f"missing {', '.join(missing)}"
    probe = f"ss-probe-{os.getpid()}"  # root without the capabilities (a container) cannot make one
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    try:
        server_binary()
    except (FileNotFoundError, RuntimeError) as exc:
        return str(exc)
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class Receiver:
    """A webhook receiver on the bridge: every request kept as (headers, body)."""

    def __init__(self, address: str) -> None:
        self.calls: list[tuple[dict[str, str], str]] = []
        calls = self.calls

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass
        self.server = ThreadingHTTPServer((address, 0), Handler)
        self.url = f"http://{address}:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def for_ticket(self, ticket_id: str) -> list[tuple[dict[str, str], str]]:
        return [(h, b) for h, b in list(self.calls) if json.loads(b).get("data", {}).get("id") == ticket_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Cluster:
    """Four hosts in namespaces under ``root`` (see the module's docstring); use as a context manager."""

    def __init__(self, root: Path, *, labels_text: str, log=print, api_env: dict[str, str] | None = None) -> None:
        self.root, self.labels_text, self.log, self.api_env = Path(root), labels_text, log, api_env or {}
        tag = secrets.token_hex(2)
        self.prefix = f"ss{tag}"  # interface names stay under 15 characters
        self.net = f"10.{200 + int(tag[:2], 16) % 50}.{int(tag[2:], 16)}"
        self.bridge = f"{self.prefix}-br"
        self.api_key = "ssk_" + secrets.token_urlsafe(18)
        self.webhook_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        self.redis_password = secrets.token_hex(16)
        self.procs: dict[str, subprocess.Popen] = {}
        self.namespaces: list[str] = []
        self.veths: list[str] = []
        self.bridge_made = False  # only this cluster's own bridge is ever deleted
        self.receiver: Receiver | None = None

    # -- addresses and files ----------------------------------------------------------------

    def address(self, host: str) -> str:
        return f"{self.net}.{BRIDGE_HOST if host == 'bridge' else HOSTS[host]}"

    def namespace(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    @property
    def api_url(self) -> str:
        return f"http://{self.address('api')}:{API_PORT}"

    @property
    def redis_url(self) -> str:
        return f"redis://:{self.redis_password}@{self.address('redis')}:6379/0"

    @property
    def labels_file(self) -> Path:
        """The labels file, on the API host only."""
        return self.root / "api" / "labels.json"

    def log_of(self, host: str) -> str:
        path = self.root / f"{host}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- bringing it up and down ------------------------------------------------------------

    def __enter__(self) -> "Cluster":
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    def up(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._network()
        self.receiver = Receiver(self.address("bridge"))
        self._start_redis()
        self.labels_file.parent.mkdir(mode=0o700, exist_ok=True)
        self.labels_file.write_text(self.labels_text)
        self.start("api", API_PROGRAMS, {
            "SMARTSUPPORT_HOST": self.address("api"), "SMARTSUPPORT_PORT": str(API_PORT),
            "SMARTSUPPORT_API_KEYS": self.api_key, "SMARTSUPPORT_WEBHOOK_SECRET": self.webhook_secret,
            "SMARTSUPPORT_WEBHOOK_URLS": self.receiver.url, "SMARTSUPPORT_LABELS_FILE": str(self.labels_file),
            **self.api_env,
        })
        for host in ("worker-a", "worker-b"):
            self.start(host, WORKER_PROGRAMS, {"SMARTSUPPORT_WORKER_CONCURRENCY": "1",
                                               "SMARTSUPPORT_TORCH_THREADS": "1"})

    def _network(self) -> None:
        self.log(f"network {self.net}.0/24 on bridge {self.bridge}")
        _ip("link", "add", self.bridge, "type", "bridge")
        self.bridge_made = True
        _ip("addr", "add", f"{self.address('bridge')}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for host, number in HOSTS.items():
            ns, outside, inside = self.namespace(host), f"{self.prefix}-v{number}", f"{self.prefix}-p{number}"
            _ip("netns", "add", ns)
            self.namespaces.append(ns)
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            self.veths.append(outside)
            _ip("link", "set", outside, "master", self.bridge, "up")
            _ip("link", "set", inside, "netns", ns)
            _ip("-n", ns, "link", "set", inside, "name", "eth0")
            _ip("-n", ns, "addr", "add", f"{self.address(host)}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            self.log(f"host {host:<9} {self.address(host)}")

    def _run_in(self, host: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        """``argv`` on ``host``: in its network namespace, with its own hostname, only ``env``."""
        log = open(self.root / f"{host}.log", "ab")
        wrapped = ["ip", "netns", "exec", self.namespace(host), "unshare", "--uts", "sh", "-c",
                   f'hostname {host} && exec "$@"', "sh", *argv]
        proc = subprocess.Popen(wrapped, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        log.close()
        self.procs[host] = proc
        return proc

    def _start_redis(self) -> None:
        data = self.root / "redis"
        data.mkdir(mode=0o700, exist_ok=True)
        conf = data / "redis.conf"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join([
                f"bind {self.address('redis')}", "port 6379", "protected-mode yes", f'dir "{data}"',
                "appendonly yes", 'save ""', "daemonize no", "loglevel warning", 'logfile ""',
                "maxmemory-policy noeviction", f'requirepass "{self.redis_password}"']) + "\n")
        self._run_in("redis", [server_binary(), str(conf)], {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})

    def host_env(self, host: str, extra: dict[str, str]) -> dict[str, str]:
        """What a host's programs see: the Redis URL, its own data dir, and ``extra``."""
        data = self.root / host
        data.mkdir(mode=0o700, exist_ok=True)
        return {
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(data), "LANG": "C.UTF-8", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
            "REDIS_URL": self.redis_url, "SMARTSUPPORT_DATA_DIR": str(data / "data"), **extra,
        }

    def start(self, host: str, programs: str, extra: dict[str, str]) -> None:
        """Start ``python -m deploy run --only programs`` on ``host`` (again, if it was stopped)."""
        self._run_in(host, [sys.executable, "-m", "deploy", "run", "--only", programs], self.host_env(host, extra))

    def stop(self, host: str, timeout_s: float = 30) -> None:
        proc = self.procs.pop(host, None)
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def down(self) -> None:
        for host in list(self.procs)[::-1]:
            self.stop(host)
        if self.receiver:
            self.receiver.close()
            self.receiver = None
        for ns in self.namespaces:  # whatever still runs in a namespace goes with it
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        for veth in self.veths:  # gone with its namespace, unless it never got there
            subprocess.run(["ip", "link", "del", veth], capture_output=True)
        if self.bridge_made:
            subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        self.namespaces, self.veths, self.bridge_made = [], [], False

    # -- using it -----------------------------------------------------------------------------

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, self.api_url + path, headers={"Authorization": f"Bearer {self.api_key}"},
                                timeout=10, **kwargs)

    def wait_healthy(self, timeout_s: float = 240) -> dict:
        """Wait until the API answers /api/health 200 (every queue consumed, the scheduler ticking)."""
        deadline, last = time.monotonic() + timeout_s, None
        while time.monotonic() < deadline:
            for host, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{host} stopped (rc {proc.returncode}):\n{self.log_of(host)[-3000:]}")
            try:
                answer = self.api("GET", "/api/health")
                last = answer.json()
                if answer.status_code == 200:
                    return last
            except (requests.RequestException, ValueError) as exc:
                last = str(exc)
            time.sleep(1)
        raise TimeoutError(f"the cluster did not become healthy in {timeout_s:.0f} s: {last}")

    def submit(self, body: str) -> str:
        answer = self.api("POST", "/api/tickets", json={"body": body})
        if answer.status_code != 202:
            raise RuntimeError(f"POST /api/tickets answered {answer.status_code}: {answer.text}")
        return answer.json()["id"]

    def finished(self, ticket_id: str, timeout_s: float = 120) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            view = self.api("GET", f"/api/tickets/{ticket_id}").json()
            if view["status"] in ("done", "failed"):
                return view
            time.sleep(0.2)
        raise TimeoutError(f"ticket {ticket_id} not done in {timeout_s:.0f} s")


def main(argv: list[str] | None = None) -> int:
    """``make cluster``: bring the four hosts up, show a ticket crossing them and a labels change
    reaching both worker hosts, then take it all down (``--keep``: stay up until Ctrl-C)."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m deploy.netns", description=main.__doc__)
    parser.add_argument("--keep", action="store_true", help="stay up until Ctrl-C, to look around")
    args = parser.parse_args(argv)
    why = available()
    if why:
        print(f"cannot make a cluster here: {why}", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="smartsupport-cluster-"))
    with Cluster(root, labels_text=(ROOT / "smartsupport" / "data" / "labels.json").read_text()) as cluster:
        try:
            print("waiting for the API host to be healthy (workers on both worker hosts, scheduler) ...")
            health = cluster.wait_healthy()
            print("healthy; consumers per queue:", json.dumps(health["queues"]))
            for text in ("Production is down: every API call fails with 500 errors, fix ASAP",
                         "I was charged twice for my subscription this month"):
                view = cluster.finished(cluster.submit(text))
                print(f"ticket {view['id'][:8]} {view['category']['label']:<10} {view['urgency']['level']:<8} "
                      f"stages on {json.dumps(view['workers'])}")
            time.sleep(2)
            print(f"webhooks received on the bridge: {len(cluster.receiver.calls)}, signed with the API host's "
                  "secret (worker hosts have none)")
            cluster.labels_file.write_text(json.dumps({"labels": [
                {"name": "Shipping", "description": "Parcels, delivery, tracking numbers, late packages."},
                {"name": "Returns", "description": "Sending an item back, return labels, refunds for returns."}]}))
            print(f"labels file edited on the API host only: {cluster.labels_file}")
            for i in range(6):
                view = cluster.finished(cluster.submit(f"Where is my parcel? Tracking shows nothing (#{i})"))
                print(f"ticket {view['id'][:8]} {view['category']['label']:<10} classified on "
                      f"{view['workers']['classify']}")
            if args.keep:
                print(f"\nup: API {cluster.api_url} (key {cluster.api_key}), logs in {root}; Ctrl-C stops it all")
                while True:
                    time.sleep(3600)
        except KeyboardInterrupt:
            pass
        except Exception:
            for host in HOSTS:
                print(f"===== {host}\n{cluster.log_of(host)[-3000:]}", file=sys.stderr)
            raise
        finally:
            print("taking the hosts down")
    shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
