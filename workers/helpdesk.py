"""The helpdesk process (`python -m workers.helpdesk`, a program of `make run` when
SMARTSUPPORT_HELPDESK_URL is set): tickets of the team's helpdesk triaged by SmartSupport.

Every ``SMARTSUPPORT_HELPDESK_POLL_S`` it asks the helpdesk (smartsupport.helpdesk: one connector,
Request Tracker's over REST2) for what happened after its cursors, which it keeps in Redis:
- each new ticket of the intake queues becomes a SmartSupport ticket through the same call as the
  API's (enqueue_new_ticket), bound to the helpdesk's ticket id first, so that a ticket seen twice is
  one ticket; once its chain is done, workers.tasks.write_back_ticket writes the result back;
- a reply joins its ticket and the ticket is scored again, as a mail reply does;
- a person's queue move or Category/Urgency change is a correction, the same as one through the
  API (workers.corrections); the connector's own writes are never read back (its account's changes
  are left out by the connector);
- a ticket deleted in the helpdesk is deleted here too.
A cursor moves only once what it covers is taken, so a helpdesk (or Redis) away is retried with
backoff and nothing is missed or doubled; the process's state is kept in Redis for /api/health.
"""

from __future__ import annotations

import hashlib
import logging
import signal
import sys

from smartsupport.config import Settings
from smartsupport.errors import HelpdeskRejected, HelpdeskUnavailable, StoreUnavailable
from smartsupport.helpdesk import Change, Helpdesk, NewTicket, Reply, mapping
from smartsupport.helpdesk.rt import connector
from smartsupport.store import TicketStore
from smartsupport.ticket import Ticket, UrgencyLevel

from .mailbox import BACKOFF_S, _sleep

log = logging.getLogger("smartsupport.helpdesk")
BATCH = 50
ACTOR_ROLE = "helpdesk"


class Connector:
    def __init__(self, store: TicketStore, helpdesk: Helpdesk) -> None:
        self.store, self.helpdesk = store, helpdesk

    def poll(self) -> int:
        """Take what is new, oldest first, each kind up to its cursor; returns how much was taken."""
        taken = 0
        for name, fetch, handle in (("tickets", self.helpdesk.new_tickets, self.take),
                                    ("replies", self.helpdesk.replies, self.join),
                                    ("changes", self.helpdesk.changes_by_people, self.apply)):
            while True:
                cursor = self.store.helpdesk.cursor(name)
                found, after = fetch(cursor, limit=BATCH)
                for item in found:
                    handle(item)
                self.store.helpdesk.set_cursor(name, after)
                taken += len(found)
                if after == cursor or not found:
                    break
        return taken

    def take(self, new: NewTicket) -> None:
        from .pipeline import enqueue_new_ticket

        ticket = Ticket.new(body=new.body or new.subject, subject=new.subject or None,
                            customer={"email": new.requestor} if new.requestor else None,
                            metadata={"helpdesk_id": new.external_id, "helpdesk_queue": new.queue},
                            submitter="helpdesk")
        bound = self.store.helpdesk.claim(new.external_id, ticket.id)
        if bound != ticket.id:
            log.info("helpdesk ticket %s is ticket %s already", new.external_id, bound)
            return
        try:
            enqueue_new_ticket(self.store, ticket)
        except StoreUnavailable:
            self.store.helpdesk.release(new.external_id, ticket.id)
            raise
        log.info("helpdesk ticket %s is now ticket %s", new.external_id, ticket.id)

    def join(self, reply: Reply) -> None:
        from .tasks import rescore_ticket

        ticket_id = self.store.helpdesk.ticket_of(reply.external_id)
        if ticket_id is None:
            return
        key = f"helpdesk:{reply.external_id}:{hashlib.sha256(reply.body.encode()).hexdigest()[:24]}"
        if self.store.mail.add_reply(ticket_id, key, reply.author, {"body": reply.body, "from": reply.author}):
            rescore_ticket.delay(ticket_id)

    def apply(self, change: Change) -> None:
        from . import corrections
        from .runtime import current_labels, current_routing

        ticket_id = self.store.helpdesk.ticket_of(change.external_id)
        if ticket_id is None:
            return
        if change.kind == "deleted":
            self.store.delete_tickets([ticket_id])
            self.store.helpdesk.forget(change.external_id, ticket_id)
            log.info("helpdesk ticket %s deleted: ticket %s deleted", change.external_id, ticket_id)
            return
        rules = current_routing()
        found = mapping.correction_for(change, rules, [label.name for label in current_labels().labels])
        if found is None or self.store.views.get(ticket_id)["status"] != "done":
            return
        kind, value = found
        actor = f"{change.author} (helpdesk)"
        if kind == "category":
            corrections.correct_category(self.store, rules, ticket_id, value, actor=actor, role=ACTOR_ROLE)
        else:
            corrections.correct_urgency(self.store, rules, ticket_id, UrgencyLevel(value), actor=actor,
                                        role=ACTOR_ROLE)
        log.info("helpdesk ticket %s: %s corrected to %s by %s", change.external_id, kind, value, change.author)


def run(settings: Settings, *, once: bool = False) -> int:
    from .celery import use_broker
    from .runtime import current_routing

    use_broker(settings)
    store = TicketStore.from_url(settings.broker_url)
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    failures = 0
    while not stop["now"]:
        try:
            taken = Connector(store, connector(settings, current_routing().helpdesk.intake)).poll()
            store.helpdesk.set_status("ok")
            failures = 0
            if taken:
                log.info("%d tickets, replies and changes taken from the helpdesk", taken)
            if once:
                return 0
            _sleep(settings.helpdesk_poll_s, stop)
        except (HelpdeskUnavailable, HelpdeskRejected, StoreUnavailable) as exc:
            wait = min(BACKOFF_S[min(failures, len(BACKOFF_S) - 1)], settings.helpdesk_backoff_max_s)
            failures += 1
            log.warning("helpdesk away (%s: %s); trying again in %s s", type(exc).__name__, exc, wait)
            try:
                store.helpdesk.set_status("away", f"{type(exc).__name__}: {exc}"[:300])
            except StoreUnavailable:
                pass
            _sleep(wait, stop)
    return 0


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    if not settings.helpdesk_url:
        print("smartsupport: set SMARTSUPPORT_HELPDESK_URL to triage a helpdesk's tickets", file=sys.stderr)
        return 2
    return run(settings)


if __name__ == "__main__":
    sys.exit(main())
