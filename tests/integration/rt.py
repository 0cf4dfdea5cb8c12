"""A private Request Tracker 5 for the helpdesk tests: Debian's request-tracker5 with SQLite and its
standalone server (scripts/install-rt.sh), with a site configuration, a database and a port of its
own, in a temporary folder. The queues, the three custom fields the connector writes and two users
(the connector and an agent, both allowed everything) are seeded from a datafile."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import requests

from tests.helpers import free_port, missing, wait_for

SERVER = Path("/usr/share/request-tracker5/libexec/rt-server")
CONNECTOR, CONNECTOR_PASSWORD = "smartsupport", "connector-test-password"
AGENT, AGENT_PASSWORD = "agent", "agent-test-password"
QUEUES = ("General", "Billing", "Technical", "Legal", "Other")

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


class RequestTracker:
    """RT on a free loopback port; ``stop()`` and ``start()`` take it away and bring it back, ``reset()``
    puts back the database as seeded."""

    def __init__(self) -> None:
        if not SERVER.exists() or not shutil.which("rt-setup-database-5"):
            missing("Request Tracker is not installed: `make test` installs it (scripts/install-rt.sh)")
        self.dir = Path(tempfile.mkdtemp(prefix="smartsupport-rt-"))
        self.port = free_port()
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
        shutil.copyfile(self.dir / "var" / "rt.db", self.dir / "seeded.db")
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _setup(self, *args: str) -> None:
        done = subprocess.run(["rt-setup-database-5", *args], env=self.env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    def start(self) -> None:
        with open(self.dir / "server.log", "ab") as log:
            self.proc = subprocess.Popen(
                [str(SERVER), "--host", "127.0.0.1", "--port", str(self.port), "--max-workers", "2"],
                cwd=self.dir, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._answers, timeout_s=60, interval_s=0.25, what="Request Tracker to answer")

    def _answers(self) -> bool:
        assert self.proc.poll() is None, (self.dir / "server.log").read_text()[-3000:]
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

    def reset(self) -> None:
        self.stop()
        shutil.copyfile(self.dir / "seeded.db", self.dir / "var" / "rt.db")
        self.start()

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- REST2, as an agent or a customer's mail would use it ----------------------------------------

    def get(self, path: str, *, user: str = AGENT, password: str = AGENT_PASSWORD, **params) -> requests.Response:
        return requests.get(f"{self.url}/REST/2.0{path}", params=params, auth=(user, password), timeout=30)

    def create(self, subject: str, body: str, *, queue: str = "General",
               requestor: str = "dana@customer.example") -> int:
        answer = requests.post(f"{self.url}/REST/2.0/ticket", auth=(AGENT, AGENT_PASSWORD), timeout=30, json={
            "Queue": queue, "Subject": subject, "Requestor": requestor, "Content": body, "ContentType": "text/plain"})
        assert answer.status_code == 201, answer.text
        return int(answer.json()["id"])

    def update(self, ticket: int, **fields) -> list[str]:
        answer = requests.put(f"{self.url}/REST/2.0/ticket/{ticket}", auth=(AGENT, AGENT_PASSWORD), json=fields,
                              timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()

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
