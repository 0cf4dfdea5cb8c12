"""Incidents in Redis: the log every model process replays, the lock one decision at a time is
taken under, and each incident with its members and events (smartsupport.incidents decides).

  ss:incidents:log             stream: {k: t, id, t, cat, v, inc} a ticket seen (v: float16, base64);
                               {k: a, id, inc} a ticket assigned to an incident. Trimmed to a bound.
  ss:incidents:lock            held while a worker decides (one decision at a time, any host)
  ss:incidents                 zset: incident id -> opened at
  ss:incidents:open            set: ids of the open incidents
  ss:incidents:version         counter, bumped by every change to an incident
  ss:incident:<id>             hash: id, title, category, status (open|closed|merged), opened_at,
                               updated_at, size, sum (float32 base64: the members' summed vectors),
                               merged_into, closed_at
  ss:incident:<id>:members     zset: ticket id -> joined at
  ss:incident:<id>:events      set: the subjects of its events
  ss:incident:<id>:event:<n>   an incident.opened / incident.updated event: payload and deliveries
                               (deliveries.py)
  ss:ticket:<id> incident      the incident a ticket belongs to
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import redis
import redis.lock

from ..errors import IncidentNotFound
from . import keys
from .base import Part, guarded
from .transaction import Reply, Transaction

LOG = keys.PREFIX + "incidents:log"
LOCK = keys.PREFIX + "incidents:lock"
ALL = keys.PREFIX + "incidents"
OPEN = keys.PREFIX + "incidents:open"
#: Bumped by every change to an incident: workers reload the open ones only when it moved.
VERSION = keys.PREFIX + "incidents:version"
#: The lock outlives any decision by far; a worker that died holding it blocks the others this long.
LOCK_TTL_MS = 30_000
#: Log entries read per round trip.
PAGE = 5000
#: Release the lock only if it is still ours (as redis-py's Lock does).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


def incident_key(incident_id: str) -> str:
    return f"{keys.PREFIX}incident:{incident_id}"


def event_subject(incident_id: str, name: str) -> str:
    """The webhook subject of one incident event, e.g. ``incident:<id>:event:opened``."""
    return f"incident:{incident_id}:event:{name}"


def encode(vector: np.ndarray, dtype) -> str:
    return base64.b64encode(np.asarray(vector, dtype=dtype).tobytes()).decode()


def decode(raw: str, dtype) -> np.ndarray:
    return np.frombuffer(base64.b64decode(raw), dtype=dtype).astype(np.float32)


@dataclass(frozen=True)
class Logged:
    """A ticket a worker saw, as the log has it (its unit vector, and the incident it joined)."""

    ticket_id: str
    at: float
    vector: np.ndarray
    category: str
    incident: str | None


@dataclass(frozen=True)
class Assigned:
    """A ticket the log says joined an incident after it was seen."""

    ticket_id: str
    incident: str


@dataclass(frozen=True)
class LogPage:
    """Log entries in order, the id of the last one read (None: none), and whether more may follow."""

    entries: list[Logged | Assigned]
    last_id: str | None
    full: bool


@dataclass(frozen=True)
class LogRead:
    """What a worker reads before it decides: whether the log exists, the incidents' version, the
    first page of entries after the last one it read."""

    exists: bool
    version: str | None
    page: LogPage


@dataclass(frozen=True)
class OpenIncident:
    incident_id: str
    total: np.ndarray  # the members' summed unit vectors
    size: int
    title: str
    category: str
    opened_at: float


@dataclass(frozen=True)
class StaleIncident:
    """A closed or merged incident past retention, with the subjects of its events."""

    incident_id: str
    events: list[str]


class Incidents(Part):
    # -- the log and the decision lock (the tracker) ------------------------------------------

    @guarded
    def read_log(self, after: str | None, *, lock_token: str | None = None) -> LogRead | None:
        """In one round trip: the log's state and its entries after ``after`` (None: from the
        start). With ``lock_token``, take the decision lock first: None (nothing read) when another
        worker holds it."""
        pipe = self.r.pipeline(transaction=False)
        if lock_token:
            pipe.set(LOCK, lock_token, nx=True, px=LOCK_TTL_MS)
        pipe.exists(LOG)
        pipe.get(VERSION)
        pipe.xrange(LOG, min="-" if after is None else f"({after}", count=PAGE)
        replies = pipe.execute()
        if lock_token and not replies.pop(0):
            return None
        exists, version, entries = replies
        return LogRead(bool(exists), version, _page(entries))

    @guarded
    def log_page(self, after: str | None) -> LogPage:
        """The log's entries after ``after`` (None: from the start)."""
        return _page(self.r.xrange(LOG, min="-" if after is None else f"({after}", count=PAGE))

    def release_lock(self, token: str, *, tx: Transaction | None = None) -> None:
        """Release the decision lock if ``token`` still holds it: within ``tx``, or now, as well as
        Redis lets (when it is away the lock expires by itself)."""
        if tx is not None:
            tx.pipe.eval(_RELEASE, 1, LOCK, token)
            return
        try:
            self.r.eval(_RELEASE, 1, LOCK, token)
        except redis.RedisError:
            pass

    @guarded
    def open_incidents(self) -> list[OpenIncident]:
        open_ids = self.r.smembers(OPEN)
        pipe = self.r.pipeline(transaction=False)
        for incident_id in open_ids:
            pipe.hmget(incident_key(incident_id), ["sum", "size", "title", "category", "opened_at"])
        return [OpenIncident(incident_id, decode(raw_sum, np.float32), int(size or 0), title, category,
                             float(opened_at))
                for incident_id, (raw_sum, size, title, category, opened_at) in zip(open_ids, pipe.execute())
                if raw_sum]

    # -- a decision's writes, within the caller's transaction ---------------------------------

    def log_ticket(self, tx: Transaction, seen: Logged) -> Reply[str]:
        """Log a ticket seen (its vector kept as float16); the reply: the entry's id."""
        entry_id = tx.next_reply()
        tx.pipe.xadd(LOG, {"k": "t", "id": seen.ticket_id, "t": repr(seen.at), "cat": seen.category,
                           "v": encode(seen.vector, np.float16), "inc": seen.incident or ""})
        return entry_id

    def assign(self, tx: Transaction, incident_id: str, ticket_id: str, *, at: float) -> Reply[str]:
        """The ticket joins the incident (logged too); the reply: the log entry's id."""
        entry_id = tx.next_reply()
        tx.pipe.xadd(LOG, {"k": "a", "id": ticket_id, "inc": incident_id})
        tx.pipe.zadd(incident_key(incident_id) + ":members", {ticket_id: at})
        tx.pipe.hset(keys.ticket(ticket_id), "incident", incident_id)
        return entry_id

    def open(self, tx: Transaction, incident_id: str, *, category: str, at: float) -> None:
        tx.pipe.hset(incident_key(incident_id), mapping={
            "id": incident_id, "category": category, "status": "open", "opened_at": repr(at),
            "title": "",  # set with its first members (save_progress)
        })
        tx.pipe.zadd(ALL, {incident_id: at})
        tx.pipe.sadd(OPEN, incident_id)

    def save_progress(self, tx: Transaction, incident_id: str, *, total: np.ndarray, size: int, at: float,
                      title: str | None = None) -> None:
        """The incident's summed member vectors and size now (and its title, when it opens)."""
        fields: dict[str, Any] = {"sum": encode(total, np.float32), "size": size, "updated_at": repr(at)}
        if title is not None:
            fields["title"] = title
        tx.pipe.hset(incident_key(incident_id), mapping=fields)

    def add_event(self, tx: Transaction, incident_id: str, subject: str) -> None:
        tx.pipe.sadd(incident_key(incident_id) + ":events", subject)

    def trim_log(self, tx: Transaction, *, maxlen: int) -> None:
        tx.pipe.xtrim(LOG, maxlen=maxlen, approximate=True)

    def bump_version(self, tx: Transaction) -> Reply[str]:
        """Every worker reloads the open incidents; the reply: the new version."""
        version = tx.next_reply(str)
        tx.pipe.incr(VERSION)
        return version

    def forget_member(self, tx: Transaction, incident_id: str, ticket_id: str) -> None:
        """Within ``tx``: a deleted ticket leaves its incident's members."""
        tx.pipe.zrem(incident_key(incident_id) + ":members", ticket_id)

    # -- what operators see and do (the registry) ---------------------------------------------

    @guarded
    def all(self) -> list[dict[str, Any]]:
        """Every incident, newest first."""
        ids = self.r.zrevrange(ALL, 0, -1)
        pipe = self.r.pipeline(transaction=False)
        for incident_id in ids:
            pipe.hgetall(incident_key(incident_id))
        return [_view(raw) for raw in pipe.execute() if raw]

    @guarded
    def view(self, incident_id: str) -> dict[str, Any]:
        raw = self.r.hgetall(incident_key(incident_id))
        if not raw:
            raise IncidentNotFound(incident_id)
        return _view(raw)

    @guarded
    def members(self, incident_id: str) -> list[str]:
        return self.r.zrange(incident_key(incident_id) + ":members", 0, -1)

    @guarded
    def event_subjects(self, incident_id: str) -> set[str]:
        return self.r.smembers(incident_key(incident_id) + ":events")

    def decision_lock(self) -> redis.lock.Lock:
        """The lock a worker decides under, for an operator's change (``with``; waits up to a minute)."""
        return self.r.lock(LOCK, timeout=30, blocking_timeout=60)

    @guarded
    def close(self, incident_id: str, *, now: float | None = None) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(incident_key(incident_id), mapping={"status": "closed",
                                                      "closed_at": repr(time.time() if now is None else now)})
        pipe.srem(OPEN, incident_id)
        pipe.incr(VERSION)
        pipe.execute()

    @guarded
    def merge(self, incident_id: str, into: str, ticket_ids: list[str], *, size: int,
              now: float | None = None) -> None:
        """Move ``ticket_ids`` (the members of ``incident_id``) into ``into``, whose size is then
        ``size``; the first ends ``merged``."""
        total = decode(self.r.hget(incident_key(incident_id), "sum"), np.float32) + decode(
            self.r.hget(incident_key(into), "sum"), np.float32)
        now = time.time() if now is None else now
        with Transaction(self.r) as tx:
            for tid in ticket_ids:
                self.assign(tx, into, tid, at=now)
            tx.pipe.delete(incident_key(incident_id) + ":members")
            tx.pipe.hset(incident_key(into), mapping={"sum": encode(total, np.float32), "size": size,
                                                      "updated_at": repr(now)})
            tx.pipe.hset(incident_key(incident_id),
                         mapping={"status": "merged", "merged_into": into, "size": 0, "updated_at": repr(now)})
            tx.pipe.srem(OPEN, incident_id)
            tx.pipe.incr(VERSION)

    @guarded
    def stale(self, *, older_than_s: float, now: float | None = None) -> list[StaleIncident]:
        """The closed and merged incidents untouched for ``older_than_s`` (open ones stay, however old)."""
        cutoff = (time.time() if now is None else now) - older_than_s
        old = self.r.zrangebyscore(ALL, 0, cutoff)
        pipe = self.r.pipeline(transaction=False)
        for incident_id in old:
            pipe.hmget(incident_key(incident_id), ["status", "updated_at"])
            pipe.smembers(incident_key(incident_id) + ":events")
        replies = pipe.execute()
        return [StaleIncident(incident_id, list(events))
                for incident_id, (status, updated), events in zip(old, replies[::2], replies[1::2])
                if not (status == "open" or (updated and float(updated) > cutoff))]

    def delete(self, tx: Transaction, incident_id: str) -> None:
        """Within ``tx``: the incident, its members and its list of events (their payloads and
        deliveries are the deliveries part's to delete)."""
        tx.pipe.delete(incident_key(incident_id), incident_key(incident_id) + ":members",
                       incident_key(incident_id) + ":events")
        tx.pipe.zrem(ALL, incident_id)


def _page(entries: list[tuple[str, dict[str, str]]]) -> LogPage:
    parsed: list[Logged | Assigned] = []
    for _, fields in entries:
        if fields["k"] == "t":
            parsed.append(Logged(fields["id"], float(fields["t"]), decode(fields["v"], np.float16),
                                 fields.get("cat", ""), fields.get("inc") or None))
        elif fields["k"] == "a":
            parsed.append(Assigned(fields["id"], fields["inc"]))
    return LogPage(parsed, entries[-1][0] if entries else None, len(entries) >= PAGE)


def _view(raw: dict[str, str]) -> dict[str, Any]:
    return {
        "id": raw["id"],
        "title": raw.get("title", ""),
        "category": raw.get("category", ""),
        "status": raw.get("status", "open"),
        "size": int(raw.get("size", 0)),
        "opened_at": float(raw["opened_at"]),
        "updated_at": float(raw.get("updated_at", raw["opened_at"])),
        "closed_at": float(raw["closed_at"]) if raw.get("closed_at") else None,
        "merged_into": raw.get("merged_into"),
    }
