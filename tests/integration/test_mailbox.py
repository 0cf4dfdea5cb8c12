"""Tickets from a mailbox, end to end: a real IMAP server (Debian's Dovecot, started here with a
configuration of its own), real messages appended into it, the mailbox process and a real worker
on their own Redis database."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from email.message import EmailMessage
from pathlib import Path

import pytest
from imapclient import IMAPClient

from tests.helpers import free_port, missing, settings_for, wait_for, worker_with_program
from web import create_app

pytestmark = pytest.mark.integration
USER, PASSWORD = "support", "mailbox-test-password"
ERRORS = "SmartSupport-Errors"

CONF = """protocols = imap
listen = 127.0.0.1
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{dir}/mail/%u
first_valid_uid = 1
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {dir}/passwd
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={dir}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


class Dovecot:
    """A private Dovecot on a free loopback port; stop() and start() to take the mailbox away."""

    def __init__(self) -> None:
        if not shutil.which("dovecot"):
            missing("dovecot is not installed: `make test` installs it (scripts/install-dovecot.sh)")
        self.dir = Path(tempfile.mkdtemp(prefix="smartsupport-dovecot-"))  # not under pytest's 0700 dirs
        self.dir.chmod(0o755)
        self.port = free_port()
        for sub in ("run", "state", "mail"):
            (self.dir / sub).mkdir()
        shutil.chown(self.dir / "mail", "dovecot", "dovecot")
        (self.dir / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        (self.dir / "dovecot.conf").write_text(CONF.format(dir=self.dir, port=self.port))
        self.proc = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", str(self.dir / "dovecot.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._answers, timeout_s=20, what="Dovecot to answer")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                return s.recv(100).startswith(b"* OK")
        except OSError:
            return False

    def stop(self) -> None:
        """The server gone, its imap processes with it: Dovecot's master exits on SIGTERM but leaves
        a client's imap process serving its connection for up to half a minute."""
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def client(self) -> IMAPClient:
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        client.login(USER, PASSWORD)
        return client

    def deliver(self, message: EmailMessage | bytes, folder: str = "INBOX") -> None:
        with self.client() as c:
            c.append(folder, message if isinstance(message, bytes) else message.as_bytes())

    def messages(self, folder: str) -> list[tuple[set, bytes]]:
        with self.client() as c:
            if not c.folder_exists(folder):
                return []
            c.select_folder(folder, readonly=True)
            found = c.fetch(c.search("ALL"), ["FLAGS", "BODY.PEEK[]"])
            return [(set(d[b"FLAGS"]), d[b"BODY[]"]) for _, d in sorted(found.items())]

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def mail(subject: str, body: str, *, message_id: str, sender: str = "Dana Whitfield <dana@customer.example>",
         in_reply_to: str | None = None, html: str | None = None, cc: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "support@ourcompany.example", subject
    msg["Message-ID"] = message_id
    if cc:
        msg["Cc"] = cc
    if in_reply_to:
        msg["In-Reply-To"] = msg["References"] = in_reply_to
    if html is None:
        msg.set_content(body)
    else:
        msg.set_content(html, subtype="html")
    return msg


@pytest.fixture(scope="module")
def dovecot():
    server = Dovecot()
    yield server
    server.close()


@pytest.fixture(scope="module")
def mail_env(worker_env, redis_server, dovecot):
    return {**worker_env, "REDIS_URL": redis_server + "/5", "SMARTSUPPORT_IMAP_PASSWORD": PASSWORD,
            "SMARTSUPPORT_IMAP_URL": f"imap://{USER}@127.0.0.1:{dovecot.port}", "SMARTSUPPORT_IMAP_POLL_S": "1"}


@pytest.fixture(scope="module")
def mailbox(mail_env, tmp_path_factory):
    """A real worker and the mailbox process, as `make run` starts them."""
    with worker_with_program(mail_env, tmp_path_factory, "workers.mailbox", "mail") as running:
        yield running


@pytest.fixture
def client(mailbox, mail_env, tmp_path):
    app = create_app(settings_for(mail_env["REDIS_URL"], tmp_path, SMARTSUPPORT_IMAP_POLL_S="1",
                                  SMARTSUPPORT_IMAP_URL=mail_env["SMARTSUPPORT_IMAP_URL"]))
    return app.test_client(), {"Authorization": f"Bearer {app.extensions['smartsupport'].settings.api_keys[0]}"}


def tickets_of(client, headers, message_id: str) -> list[dict]:
    listed = client.get("/api/tickets?limit=500&sort=created", headers=headers).get_json()["tickets"]
    return [t for t in listed if t["metadata"].get("message_id") == message_id]


def all_taken(dovecot) -> None:
    wait_for(lambda: all(b"\\Seen" in flags for flags, _ in dovecot.messages("INBOX")), timeout_s=30,
             what="every message in the inbox to be taken")


def done_ticket(client, headers, message_id: str) -> dict:
    def done():
        found = tickets_of(client, headers, message_id)
        return found if found and found[0]["status"] == "done" else None
    [ticket] = wait_for(done, timeout_s=60, interval_s=0.3, what=f"the ticket of {message_id}")
    return client.get(f"/api/tickets/{ticket['id']}", headers=headers).get_json()


def test_a_message_becomes_a_ticket_its_reply_joins_it_and_a_repeat_is_no_second_one(dovecot, client):
    client, headers = client
    first = mail("Question about our invoice", "Hello, could you explain the extra line on invoice 4471? "
                 "Thanks, Dana", message_id="<invoice-4471@customer.example>")
    first.add_attachment(b"%PDF-1.4 ...", maintype="application", subtype="pdf", filename="invoice-4471.pdf")
    dovecot.deliver(first)

    ticket = done_ticket(client, headers, "<invoice-4471@customer.example>")
    assert ticket["subject"] == "Question about our invoice" and "invoice 4471" in ticket["body"]
    assert ticket["customer"] == {"name": "Dana Whitfield", "email": "dana@customer.example"}
    assert ticket["category"]["label"] and ticket["urgency"]["level"]
    assert ticket["metadata"]["attachments"] == [{"name": "invoice-4471.pdf", "type": "application/pdf",
                                                  "bytes": len(b"%PDF-1.4 ...")}]
    before = ticket["urgency"]["score"]

    # the same message again (a client that delivers twice, or the message marked unread)
    dovecot.deliver(first)
    all_taken(dovecot)
    assert len(tickets_of(client, headers, "<invoice-4471@customer.example>")) == 1

    # a reply joins the ticket and scores it again
    dovecot.deliver(mail("Re: Question about our invoice", "Update: we were charged twice and our account is now "
                         "suspended, our whole team is locked out. This is urgent, please fix it ASAP!",
                         message_id="<reply-1@customer.example>", in_reply_to="<invoice-4471@customer.example>"))

    def joined():
        view = client.get(f"/api/tickets/{ticket['id']}", headers=headers).get_json()
        return view if view["replies"] and view["urgency"]["score"] != before else None
    view = wait_for(joined, timeout_s=60, interval_s=0.3, what="the reply to join and the ticket to be scored anew")
    assert [r["message_id"] for r in view["replies"]] == ["<reply-1@customer.example>"]
    assert view["urgency"]["score"] > before
    assert tickets_of(client, headers, "<reply-1@customer.example>") == []  # no ticket of its own


def test_a_strangers_reply_is_a_flagged_ticket_of_its_own_and_a_participants_reply_still_joins(dovecot, client):
    client, headers = client
    # Given Dana's ticket, with her colleague Lee in Cc
    dovecot.deliver(mail("Order 88 not shipped", "Our order 88 has not shipped yet, could you check?",
                         message_id="<order-88@customer.example>", cc="Lee Chan <lee@customer.example>"))
    ticket = done_ticket(client, headers, "<order-88@customer.example>")
    assert ticket["metadata"]["cc"] == ["lee@customer.example"]

    # When a stranger who learnt its Message-ID (and the Message-ID Lee's reply will have) answers it
    # first, in Dana's name
    dovecot.deliver(mail("Re: Order 88 not shipped", "URGENT: everything is down, page the on-call now!",
                         sender="Dana Whitfield <eve@evil.example>", message_id="<lee-88@customer.example>",
                         in_reply_to="<order-88@customer.example>"))
    all_taken(dovecot)

    # Then Dana's ticket is left alone, and the stranger's mail is a ticket that says what it claimed
    assert client.get(f"/api/tickets/{ticket['id']}", headers=headers).get_json()["replies"] == []
    flagged = done_ticket(client, headers, "<lee-88@customer.example>")
    assert flagged["id"] != ticket["id"] and flagged["customer"]["email"] == "eve@evil.example"
    assert flagged["metadata"]["unverified_reply"] is True
    assert flagged["metadata"]["claimed_reply_to"] == ticket["id"]

    # And Lee's genuine reply, under the Message-ID the stranger used first, joins Dana's ticket
    dovecot.deliver(mail("Re: Order 88 not shipped", "Adding to Dana's question: order 89 is late too.",
                         sender="Lee Chan <Lee@Customer.example>", message_id="<lee-88@customer.example>",
                         in_reply_to="<order-88@customer.example>"))
    all_taken(dovecot)
    replies = client.get(f"/api/tickets/{ticket['id']}", headers=headers).get_json()["replies"]
    assert [(r["message_id"], r["from"]) for r in replies] == [("<lee-88@customer.example>", "lee@customer.example")]
    assert [t["id"] for t in tickets_of(client, headers, "<lee-88@customer.example>")] == [flagged["id"]]


def test_a_forged_message_sent_first_under_a_message_id_does_not_swallow_the_genuine_one(dovecot, client):
    client, headers = client
    message_id = "<refund-9001@customer.example>"
    forged = mail("Refund 9001", "Please send the refund for 9001 to my new bank account instead.",
                  sender="Dana Whitfield <dana@customer.example>", message_id=message_id)
    genuine = mail("Refund 9001", "Where is the refund for order 9001? It was due last week.", message_id=message_id)
    dovecot.deliver(forged)
    done_ticket(client, headers, message_id)

    # When the genuine message arrives under the same Message-ID, and later once more
    dovecot.deliver(genuine)
    all_taken(dovecot)
    dovecot.deliver(genuine)
    all_taken(dovecot)

    # Then it is a ticket of its own, once
    bodies = sorted(t["body"] for t in tickets_of(client, headers, message_id))
    assert bodies == ["Please send the refund for 9001 to my new bank account instead.",
                      "Where is the refund for order 9001? It was due last week."]


def test_html_only_mail_is_read_as_text(dovecot, client):
    client, headers = client
    dovecot.deliver(mail("Export broken", "", message_id="<html-1@customer.example>",
                         html="<html><body><p>The <b>CSV export</b> fails with an error.</p>"
                              "<table><tr><td>since Monday</td></tr></table></body></html>"))

    ticket = done_ticket(client, headers, "<html-1@customer.example>")

    assert "CSV export fails with an error" in " ".join(ticket["body"].split()) and "<" not in ticket["body"]


def test_mail_that_cannot_be_a_ticket_lands_in_the_error_folder_with_its_reason(dovecot, client):
    client, headers = client
    unknown_charset = (b"From: someone@customer.example\r\nSubject: =?x-unknown-7?Q?test?=\r\n"
                       b"Message-ID: <charset-1@customer.example>\r\nMIME-Version: 1.0\r\n"
                       b"Content-Type: text/plain; charset=x-unknown-7\r\n\r\nsome text\r\n")
    empty = b"From: someone@customer.example\r\nMessage-ID: <empty-1@customer.example>\r\n\r\n"
    dovecot.deliver(unknown_charset)
    dovecot.deliver(empty)

    moved = wait_for(lambda: len(found := dovecot.messages(ERRORS)) == 2 and found, timeout_s=30,
                     what="both messages in the error folder")

    reasons = sorted(raw.split(b"\r\n", 1)[0].decode() for _, raw in moved)
    assert reasons == ["X-SmartSupport-Error: no text: neither a text part nor a subject",
                       "X-SmartSupport-Error: unknown charset 'x-unknown-7'"]
    assert all(raw.split(b"\r\n", 1)[1] in (unknown_charset, empty) for _, raw in moved)  # kept whole
    inbox = [raw for _, raw in dovecot.messages("INBOX")]
    assert not any(b"charset-1" in raw or b"empty-1" in raw for raw in inbox)  # out of the inbox
    assert tickets_of(client, headers, "<charset-1@customer.example>") == []


def test_a_mailbox_that_is_away_shows_in_health_and_is_taken_up_again(dovecot, client):
    client, headers = client
    dovecot.stop()
    try:
        health = wait_for(lambda: (h := client.get("/api/health", headers=headers).get_json())["mailbox"]["state"]
                          == "away" and h, timeout_s=30, what="health to show the mailbox away")
        assert any(m.startswith("the mailbox (away") for m in health["missing"])
    finally:
        dovecot.start()
    dovecot.deliver(mail("Back again", "Is the API down for everyone? We get timeouts.",
                         message_id="<after-outage@customer.example>"))
    done_ticket(client, headers, "<after-outage@customer.example>")
    # health reports what it found at most CACHE_S ago (web/health.py)
    wait_for(lambda: client.get("/api/health", headers=headers).get_json()["mailbox"]["state"] == "ok",
             timeout_s=10, what="health to show the mailbox back")
