"""A private Request Tracker 5, for the helpdesk tests and benchmark: Debian's request-tracker5 with
SQLite and its standalone server (scripts/install-rt.sh), with a site configuration, a database and a
port of its own, in a temporary folder. The queues, the three custom fields the connector writes and
two users (the connector and an agent, both allowed everything) are seeded from a datafile."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import requests

SERVER = Path("/usr/share/request-tracker5/libexec/rt-server")
CONNECTOR, CONNECTOR_PASSWORD = "smartsupport", "connector-test-password"
AGENT, AGENT_PASSWORD = "agent", "agent-test-password"
QUEUES = ("General", "Billing", "Technical", "Legal", "Other")
INSTALL_HINT = "Request Tracker is not installed: `make helpdesk-server` (scripts/install-rt.sh) installs it"

SITE_CONFIG = """Set($rtname, 'smartsupport-test');
Set($Organization, 'smartsupport-test');
Set($DatabaseType, 'SQLite');
Set($DatabaseName, '{dir}/var/rt.db');
Set($WebDomain, '127.0.0.1');
Set($WebPort, {port});
Set($WebPath, '');
Set($WebBaseURL, 'http://127.0.0.1:{port}');
Set($MailCommand, 'mbox');
Set($LogToSTDERR, 'error');
Set($LogToSyslog, undef);
Set($LogToFile, undef);
Set($BcryptCost, 4);
Set($Timezone, 'UTC');
$RT::VarPath = '{dir}/var';
$RT::MasonDataDir = '{dir}/cache';
$RT::MasonSessionDir = '{dir}/session';
1;
"""

# REST2 cannot apply a custom field to chosen queues: the datafile can.
SEED = """@Queues = map {{ {{ Name => $_ }} }} qw({queues});
@CustomFields = map {{
    {{ Name => $_, Type => 'FreeformSingle', LookupType => 'RT::Queue-RT::Ticket', ApplyTo => [qw(General {queues})] }}
}} ('Category', 'Urgency', 'Needs review');
@Users = (
    {{ Name => '{connector}', Password => '{connector_password}', Privileged => 1 }},
    {{ Name => '{agent}', Password => '{agent_password}', Privileged => 1 }},
);
@ACL = ({{ UserId => '{connector}', Right => 'SuperUser' }}, {{ UserId => '{agent}', Right => 'SuperUser' }});
1;
"""


def installed() -> bool:
    """Whether scripts/install-rt.sh has run (the programs an instance needs are there)."""
    return SERVER.exists() and shutil.which("rt-setup-database-5") is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RequestTracker:
    """RT on a free loopback port, serving with ``workers`` processes (about 220 MB each); ``close()``
    stops it and removes its folder."""

    def __init__(self, *, workers: int = 2) -> None:
        if not installed():
            raise FileNotFoundError(INSTALL_HINT)
        self.dir = Path(tempfile.mkdtemp(prefix="smartsupport-rt-"))
        self.port = _free_port()
        for sub in ("var", "cache", "session", "etc.d"):
            (self.dir / sub).mkdir()
        (self.dir / "RT_SiteConfig.pm").write_text(SITE_CONFIG.format(dir=self.dir, port=self.port))
        self.env = {**os.environ, "RT_SITE_CONFIG": str(self.dir / "RT_SiteConfig.pm"),
                    "RT_SITE_CONFIG_DIR": str(self.dir / "etc.d")}
        (self.dir / "seed.pl").write_text(SEED.format(
            queues=" ".join(QUEUES[1:]), connector=CONNECTOR, connector_password=CONNECTOR_PASSWORD,
            agent=AGENT, agent_password=AGENT_PASSWORD))
        self._setup("--action", "init", "--force")
        self._setup("--action", "insert", "--datafile", str(self.dir / "seed.pl"))
        self.workers = workers
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _setup(self, *args: str) -> None:
        done = subprocess.run(["rt-setup-database-5", *args], env=self.env, capture_output=True, text=True,
                              timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"rt-setup-database-5 {' '.join(args)}: {done.stdout[-2000:]}{done.stderr[-2000:]}")

    def start(self) -> None:
        with open(self.dir / "server.log", "ab") as log:
            self.proc = subprocess.Popen(
                [str(SERVER), "--host", "127.0.0.1", "--port", str(self.port), "--max-workers", str(self.workers)],
                cwd=self.dir, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while not self._answers():
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"Request Tracker did not answer in 60 s: {self.dir / 'server.log'}")
            time.sleep(0.25)

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError("Request Tracker exited: " + (self.dir / "server.log").read_text()[-3000:])
        try:
            return self.get("/queues/all").status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        """SIGTERM (as root, SIGINT makes rt-server chown the package's state folder)."""
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- REST2, as an agent or a customer's mail would use it ----------------------------------------

    def get(self, path: str, *, user: str = AGENT, password: str = AGENT_PASSWORD, **params) -> requests.Response:
        return requests.get(f"{self.url}/REST/2.0{path}", params=params, auth=(user, password), timeout=30)

    def create(self, subject: str, body: str, *, queue: str = "General",
               requestor: str = "dana@customer.example") -> int:
        answer = self._send("POST", "/ticket", {"Queue": queue, "Subject": subject, "Requestor": requestor,
                                                "Content": body, "ContentType": "text/plain"}, expect=(201,))
        return int(answer.json()["id"])

    def update(self, ticket: int, **fields) -> list[str]:
        return self._send("PUT", f"/ticket/{ticket}", fields).json()

    def correspond(self, ticket: int, body: str) -> None:
        """A reply on the ticket (what RT records when the requestor writes again)."""
        self._send("POST", f"/ticket/{ticket}/correspond", {"Content": body, "ContentType": "text/plain"},
                   expect=(201,))

    def delete(self, ticket: int) -> None:
        """The ticket deleted, as an agent does (RT keeps it with the status ``deleted``)."""
        self._send("DELETE", f"/ticket/{ticket}", None, expect=(200, 204))

    def _send(self, method: str, path: str, body: dict | None, *,
              expect: tuple[int, ...] = (200,)) -> requests.Response:
        answer = requests.request(method, f"{self.url}/REST/2.0{path}", auth=(AGENT, AGENT_PASSWORD), json=body,
                                  timeout=30)
        if answer.status_code not in expect:
            raise RuntimeError(f"RT answered {answer.status_code} to {method} {path}: {answer.text[:500]}")
        return answer

    def ticket(self, ticket: int) -> dict:
        """The ticket with its queue's name and its custom fields by name."""
        found = self.get(f"/ticket/{ticket}").json()
        queue = self.get(f"/queue/{found['Queue']['id']}").json()["Name"]
        fields = {cf["name"]: (cf["values"] or [None])[0] for cf in found.get("CustomFields", [])}
        return {**found, "QueueName": queue, "Fields": fields}

    def comments(self, ticket: int) -> list[str]:
        history = self.get(f"/ticket/{ticket}/history", fields="Type", per_page=100).json()["items"]
        ids = [t["id"] for t in history if t["Type"] == "Comment"]
        texts = []
        for txn in ids:
            parts = self.get(f"/transaction/{txn}/attachments", fields="Content,ContentType").json()["items"]
            texts += [p["Content"] for p in parts if p["ContentType"] == "text/plain"]
        return texts
