"""The mailbox process (`python -m workers.mailbox`, a program of `make run` when
SMARTSUPPORT_IMAP_URL is set): each new message of the support mailbox becomes a ticket.

Every ``SMARTSUPPORT_IMAP_POLL_S`` it takes the folder's unseen messages, oldest first:
- a message that is a ticket already (the same ``Message-ID`` and the same content digest: a message
  fetched twice) is left as it is;
- a reply (``In-Reply-To``/``References`` naming a message we know) joins that ticket when its sender
  is one of the ticket's participants (smartsupport.mail.may_join), and the ticket is scored again
  (workers.tasks.rescore_ticket);
- any other message becomes a ticket through the same call as the API's (enqueue_new_ticket), the
  message bound to the ticket first, so that a message fetched twice is one ticket. A reply from
  someone who is not a participant is such a ticket, flagged ``unverified_reply`` with the ticket it
  named in ``claimed_reply_to``;
- a message that cannot become one (smartsupport.mail.MailRejected) is copied to the error folder
  with an ``X-SmartSupport-Error`` header giving the reason, then removed from the folder: never lost,
  never half a ticket.
Only then is the message flagged ``\\Seen``. A mailbox that is away is retried with backoff, and its
state is kept in Redis for /api/health.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from urllib.parse import unquote, urlsplit

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from smartsupport import mail
from smartsupport.config import Settings
from smartsupport.errors import StoreUnavailable, TicketNotFound
from smartsupport.store import TicketStore
from smartsupport.ticket import Ticket

log = logging.getLogger("smartsupport.mailbox")
#: Seconds between tries while the mailbox is away: doubling, at most a minute.
BACKOFF_S = (1, 2, 4, 8, 15, 30, 60)
FETCH_BATCH = 50


class Mailbox:
    def __init__(self, settings: Settings, store: TicketStore) -> None:
        self.settings, self.store = settings, store
        url = urlsplit(settings.imap_url or "")
        self.host, self.user = url.hostname, unquote(url.username or "")
        self.ssl = url.scheme == "imaps"
        self.port = url.port or (993 if self.ssl else 143)
        self.folder = unquote(url.path.strip("/")) or settings.imap_folder

    def connect(self) -> IMAPClient:
        client = IMAPClient(self.host, port=self.port, ssl=self.ssl, timeout=30)
        client.login(self.user, self.settings.imap_password)
        if not client.folder_exists(self.settings.imap_error_folder):
            client.create_folder(self.settings.imap_error_folder)
        client.select_folder(self.folder)
        return client

    def poll(self, client: IMAPClient) -> int:
        """Take every unseen message; returns how many were handled."""
        handled = 0
        uids = sorted(client.search("UNSEEN"))
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start:start + FETCH_BATCH]
            for uid, data in sorted(client.fetch(batch, ["BODY.PEEK[]"]).items()):
                self.take(client, uid, data[b"BODY[]"])
                handled += 1
        return handled

    def take(self, client: IMAPClient, uid: int, raw: bytes) -> None:
        try:
            inbound = mail.parse(raw)
        except mail.MailRejected as exc:
            self.reject(client, uid, raw, str(exc))
            return
        known = self.store.mail.ticket_of_message(inbound.message_id, inbound.digest)
        if known is not None:
            log.info("mail %s is ticket %s already", inbound.message_id, known)
            self.store.mail.bind_message(known, inbound.message_id, inbound.digest)  # in case a crash cut it short
        else:
            self.file(inbound)
        client.add_flags([uid], [b"\\Seen"])

    def file(self, inbound: mail.Inbound) -> None:
        """Join the first ticket the message names that counts its sender as a participant; else open
        a ticket, flagged when the message named one."""
        named = self.store.mail.tickets_for(inbound.in_reply_to)
        for ticket_id in named:
            try:
                ticket, replies = self.store.tickets.load(ticket_id), self.store.mail.replies(ticket_id)
            except TicketNotFound:  # deleted since
                continue
            if mail.may_join(inbound, ticket, replies):
                self.join(ticket_id, inbound)
                return
        if named:
            log.warning("mail %s names ticket %s, but its sender is none of the ticket's participants: "
                        "a ticket of its own, flagged unverified_reply", inbound.message_id, named[0])
        self.open_ticket(inbound, claimed_reply_to=named[0] if named else None)

    def join(self, ticket_id: str, inbound: mail.Inbound) -> None:
        from .tasks import rescore_ticket

        if self.store.mail.add_reply(ticket_id, inbound.message_id, inbound.digest, {
                "message_id": inbound.message_id, "subject": inbound.subject, "body": inbound.body,
                "from": inbound.sender_email, "attachments": list(inbound.attachments)}):
            self.store.mail.bind_message(ticket_id, inbound.message_id, inbound.digest)
            rescore_ticket.delay(ticket_id)
            log.info("mail %s joined ticket %s as a reply", inbound.message_id, ticket_id)

    def open_ticket(self, inbound: mail.Inbound, *, claimed_reply_to: str | None = None) -> None:
        from .pipeline import enqueue_new_ticket

        ticket = Ticket.new(body=inbound.body, subject=inbound.subject, customer=inbound.customer(),
                            metadata=inbound.metadata(claimed_reply_to=claimed_reply_to), submitter="mailbox")
        bound = self.store.mail.claim_message(inbound.message_id, inbound.digest, ticket.id)
        if bound != ticket.id:
            log.info("mail %s is ticket %s already", inbound.message_id, bound)
            return
        try:
            enqueue_new_ticket(self.store, ticket)
        except StoreUnavailable:
            self.store.mail.release_message(inbound.message_id, inbound.digest, ticket.id)
            raise
        self.store.mail.bind_message(ticket.id, inbound.message_id, inbound.digest)
        log.info("mail %s is now ticket %s", inbound.message_id, ticket.id)

    def reject(self, client: IMAPClient, uid: int, raw: bytes, reason: str) -> None:
        """Keep the message, with the reason, in the error folder; then out of the folder we read."""
        header = f"X-SmartSupport-Error: {' '.join(reason.split())[:500]}\r\n".encode()
        client.append(self.settings.imap_error_folder, header + raw, flags=[b"\\Seen"])
        client.delete_messages([uid])
        client.expunge([uid]) if client.has_capability("UIDPLUS") else client.expunge()
        log.warning("mail moved to %s: %s", self.settings.imap_error_folder, reason)


def run(settings: Settings, *, once: bool = False) -> int:
    from .celery import use_broker

    use_broker(settings)
    store = TicketStore.from_url(settings.broker_url)
    box = Mailbox(settings, store)
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    failures, client = 0, None
    while not stop["now"]:
        try:
            client = client or box.connect()
            handled = box.poll(client)
            store.mail.set_mailbox_status("ok")
            failures = 0
            if handled:
                log.info("%d messages taken from %s", handled, box.folder)
            if once:
                return 0
            _sleep(settings.imap_poll_s, stop)
        except (OSError, IMAPClientError, StoreUnavailable) as exc:
            wait = BACKOFF_S[min(failures, len(BACKOFF_S) - 1)]
            failures += 1
            log.warning("mailbox %s away (%s: %s); trying again in %s s", settings.imap_url,
                        type(exc).__name__, exc, wait)
            try:
                store.mail.set_mailbox_status("away", f"{type(exc).__name__}: {exc}"[:300])
            except StoreUnavailable:
                pass
            client = None
            _sleep(wait, stop)
    return 0


def _sleep(seconds: float, stop: dict) -> None:
    deadline = time.monotonic() + seconds
    while not stop["now"] and time.monotonic() < deadline:
        time.sleep(min(0.2, deadline - time.monotonic()))


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    if settings.redact:  # senders' addresses and what mail carries stay out of the log
        from smartsupport import redact
        redact.install(region=settings.phone_region)
    if not settings.imap_url:
        print("smartsupport: set SMARTSUPPORT_IMAP_URL to read a mailbox", file=sys.stderr)
        return 2
    return run(settings)


if __name__ == "__main__":
    sys.exit(main())
