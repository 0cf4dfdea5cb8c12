"""Mail: which ticket each known Message-ID belongs to, replies joined to their ticket, the mailbox's state.

  ss:mail:id:<sha>           string: a Message-ID's ticket id (the ticket's own, and its replies')
  ss:ticket:<id>:replies     list: one JSON entry per reply that joined the ticket
  ss:ticket:<id> mail_ids    the digests of the Message-IDs that point at the ticket (deleted with it)
  ss:mail:status             string: the mailbox process's state {"state", "error", "at", "since"}
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any, Iterable

from . import keys
from .base import StoreBase, guarded

MAIL_STATUS = keys.PREFIX + "mail:status"


def mail_id(message_id: str) -> str:
    return f"{keys.PREFIX}mail:id:{hashlib.sha256(message_id.encode()).hexdigest()[:32]}"


class Mail(StoreBase):
    @guarded
    def claim_message(self, message_id: str, ticket_id: str) -> str:
        """Bind a new message to ``ticket_id`` unless it is bound already; returns the ticket it is bound
        to. A binding whose ticket was never written (a crash in between) is taken over."""
        key = mail_id(message_id)
        if self.r.set(key, ticket_id, nx=True):
            return ticket_id
        bound = self.r.get(key)
        if bound and not self.r.exists(keys.ticket(bound)):
            self.r.set(key, ticket_id)
            return ticket_id
        return bound or ticket_id

    @guarded
    def release_message(self, message_id: str, ticket_id: str) -> None:
        """Forget a binding whose ticket could not be written (only if it is still ours)."""
        if self.r.get(mail_id(message_id)) == ticket_id:
            self.r.delete(mail_id(message_id))

    @guarded
    def note_message(self, ticket_id: str, message_id: str) -> None:
        """Remember on the ticket that this Message-ID points at it (so that deleting it forgets it)."""
        field = mail_id(message_id)
        raw = self.r.hget(keys.ticket(ticket_id), "mail_ids")
        ids = json.loads(raw) if raw else []
        if field not in ids:
            self.r.hset(keys.ticket(ticket_id), "mail_ids", json.dumps([*ids, field]))

    @guarded
    def ticket_for(self, message_ids: Iterable[str]) -> str | None:
        """The ticket of the first of these Message-IDs that is known and still exists."""
        for message_id in message_ids:
            bound = self.r.get(mail_id(message_id))
            if bound and self.r.exists(keys.ticket(bound)):
                return bound
        return None

    @guarded
    def add_reply(self, ticket_id: str, message_id: str, reply: dict[str, Any]) -> bool:
        """Join a reply to its ticket, once: False when this message joined it before."""
        key = mail_id(message_id)
        if not self.r.set(key, ticket_id, nx=True):
            return False
        pipe = self.r.pipeline(transaction=True)
        pipe.rpush(keys.ticket(ticket_id) + ":replies", json.dumps({**reply, "at": time.time()}))
        pipe.execute()
        self.note_message(ticket_id, message_id)
        return True

    @guarded
    def replies(self, ticket_id: str) -> list[dict[str, Any]]:
        return [json.loads(r) for r in self.r.lrange(keys.ticket(ticket_id) + ":replies", 0, -1)]

    @guarded
    def set_mailbox_status(self, state: str, error: str | None = None, *, now: float | None = None) -> None:
        """The mailbox process's state: ``ok`` after each poll, ``away`` while it cannot reach the mailbox."""
        now = time.time() if now is None else now
        raw = self.r.get(MAIL_STATUS)
        since = json.loads(raw).get("since", now) if raw and json.loads(raw).get("state") == state else now
        self.r.set(MAIL_STATUS, json.dumps({"state": state, "error": error, "at": now, "since": since}))

    @guarded
    def mailbox_status(self) -> dict[str, Any] | None:
        raw = self.r.get(MAIL_STATUS)
        return None if raw is None else json.loads(raw)


def forget_mail(pipe, raw_mail_ids: str | None) -> None:
    """Within a caller's MULTI: the Message-ID bindings of a deleted ticket."""
    if raw_mail_ids:
        for key in json.loads(raw_mail_ids):
            pipe.delete(key)
