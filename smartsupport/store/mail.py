"""Mail: which ticket each message is, which ticket each known Message-ID names, replies joined to their
ticket, the mailbox's state.

  ss:mail:msg:<sha>          string: a message's ticket (its own, or the one it joined as a reply); the
                             digest is of its Message-ID and its content digest: a message is a repeat
                             only when both match (a Message-ID alone is the sender's to choose)
  ss:mail:id:<sha>           string: a Message-ID's ticket, for replies that name it: the first message
                             with that Message-ID to become a ticket or join one
  ss:ticket:<id>:replies     list: one JSON entry per reply that joined the ticket
  ss:ticket:<id> mail_ids    the keys above that point at the ticket (deleted with it)
  ss:mail:status             string: the mailbox process's state {"state", "error", "at", "since"}
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any, Iterable

import redis

from . import keys
from .base import Part, claim, guarded, release
from .transaction import Transaction

MAIL_STATUS = keys.PREFIX + "mail:status"


def mail_id(message_id: str) -> str:
    return f"{keys.PREFIX}mail:id:{hashlib.sha256(message_id.encode()).hexdigest()[:32]}"


def message_key(message_id: str, digest: str) -> str:
    return f"{keys.PREFIX}mail:msg:{hashlib.sha256(f'{message_id} {digest}'.encode()).hexdigest()[:32]}"


class Mail(Part):
    @guarded
    def ticket_of_message(self, message_id: str, digest: str) -> str | None:
        """The ticket this very message (Message-ID and content) already is or joined, if it exists."""
        bound = self.r.get(message_key(message_id, digest))
        return bound if bound and self.r.exists(keys.ticket(bound)) else None

    @guarded
    def claim_message(self, message_id: str, digest: str, ticket_id: str) -> str:
        """Bind a new message to ``ticket_id`` unless it is bound already; returns the ticket it is bound
        to. A binding whose ticket was never written (a crash in between) is taken over."""
        return claim(self.r, message_key(message_id, digest), ticket_id)

    @guarded
    def release_message(self, message_id: str, digest: str, ticket_id: str) -> None:
        """Forget a binding whose ticket could not be written (only if it is still ours)."""
        release(self.r, message_key(message_id, digest), ticket_id)

    @guarded
    def bind_message(self, ticket_id: str, message_id: str, digest: str) -> None:
        """Once a message is ``ticket_id`` (or joined it): its Message-ID names the ticket unless another
        existing ticket was named by it first, and the ticket remembers the keys that point at it (so that
        deleting it forgets them). Safe to run again, as after a crash before it ran."""
        anchor = mail_id(message_id)
        if not self.r.set(anchor, ticket_id, nx=True):
            named = self.r.get(anchor)
            if named != ticket_id and not (named and self.r.exists(keys.ticket(named))):
                self.r.set(anchor, ticket_id)
        ours = [key for key in (message_key(message_id, digest), anchor) if self.r.get(key) == ticket_id]
        raw, exists = self.r.hmget(keys.ticket(ticket_id), ["mail_ids", "ticket"])
        noted = json.loads(raw) if raw else []
        missing = [key for key in ours if key not in noted]
        if missing and exists:  # (a ticket deleted meanwhile is not brought back as a hash of mail_ids)
            self.r.hset(keys.ticket(ticket_id), "mail_ids", json.dumps([*noted, *missing]))

    @guarded
    def tickets_for(self, message_ids: Iterable[str]) -> list[str]:
        """The existing tickets these Message-IDs name, in their order, once each."""
        found: list[str] = []
        for message_id in message_ids:
            bound = self.r.get(mail_id(message_id))
            if bound and bound not in found and self.r.exists(keys.ticket(bound)):
                found.append(bound)
        return found

    @guarded
    def add_reply(self, ticket_id: str, message_id: str, digest: str, reply: dict[str, Any]) -> bool:
        """Join a reply to its ticket, once: False when this message (Message-ID and content) is a ticket
        or joined one already. The binding and the reply are written together."""
        key = message_key(message_id, digest)
        entry = json.dumps({**reply, "at": time.time()})
        with self.r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)
                    bound = pipe.get(key)
                    if bound and pipe.exists(keys.ticket(bound)):
                        return False
                    pipe.multi()
                    pipe.set(key, ticket_id)
                    pipe.rpush(_replies(ticket_id), entry)
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue

    @guarded
    def replies(self, ticket_id: str) -> list[dict[str, Any]]:
        return [json.loads(r) for r in self.r.lrange(_replies(ticket_id), 0, -1)]

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

    def forget(self, tx: Transaction, ticket_id: str, raw_mail_ids: str | None) -> None:
        """Within ``tx``: a deleted ticket's replies and the Message-ID keys that named it."""
        tx.pipe.delete(_replies(ticket_id))
        if raw_mail_ids:
            for key in json.loads(raw_mail_ids):
                tx.pipe.delete(key)


def _replies(ticket_id: str) -> str:
    return keys.ticket(ticket_id) + ":replies"
