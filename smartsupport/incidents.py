"""Incidents: many tickets about one problem, found while they are classified.

Every classified ticket's embedding is compared with the open incidents (their centroids) and with the
recent tickets that belong to none. A ticket close enough to an incident joins it; a ticket with
``min_tickets - 1`` close recent neighbours opens one with them. When an incident opens or reaches a
size milestone, recent tickets close to its (now better) centroid are swept in as well: the first
tickets of a burst, compared with each other only, miss some of their paraphrases.

State lives in Redis, so that any number of model workers share it:
  ss:incidents:log             stream: {k: t, id, t, cat, v} a ticket seen (v: float16, base64);
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
Each worker process replays the log into its own in-memory window (``RecentWindow``), so comparing a
ticket costs one matrix-vector product over at most ``recent_max`` vectors, not a Redis query.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import redis

from .errors import IncidentNotFound, InvalidTicket
from .notify import event_id_for
from .store import TicketStore, _guarded, _key

LOG = "ss:incidents:log"
LOCK = "ss:incidents:lock"
ALL = "ss:incidents"
OPEN = "ss:incidents:open"
#: Bumped by every change to an incident: workers reload the open ones only when it moved.
VERSION = "ss:incidents:version"
#: Sizes at which an incident.updated event fires (and stragglers are swept in).
MILESTONES = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
TITLE_CHARS = 90
_STREAM_ID = re.compile(r"^\d+-\d+$")
#: The lock outlives any decision by far; a worker that died holding it blocks the others this long.
LOCK_TTL_MS = 30_000
LOCK_WAIT_S = 60.0
#: Release the lock only if it is still ours (as redis-py's Lock does).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


def _incident_key(incident_id: str) -> str:
    return f"ss:incident:{incident_id}"


def event_subject(incident_id: str, name: str) -> str:
    """The webhook subject of one incident event, e.g. ``incident:<id>:event:opened``."""
    return f"incident:{incident_id}:event:{name}"


@dataclass(frozen=True)
class Policy:
    similarity: float = 0.6
    min_tickets: int = 5
    window_s: float = 3600.0
    recent_max: int = 10_000

    @classmethod
    def from_settings(cls, settings) -> "Policy":
        return cls(similarity=settings.incident_similarity, min_tickets=settings.incident_min_tickets,
                   window_s=float(settings.incident_window_s), recent_max=settings.incident_recent_max)


@dataclass(frozen=True)
class Seen:
    """One classified ticket, as the tracker needs it."""

    ticket_id: str
    text: str
    vector: np.ndarray
    category: str
    at: float


class RecentWindow:
    """The recent tickets in memory: ids, times, unit vectors, categories and incident (or None)."""

    def __init__(self, dim: int | None = None, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self.ids: list[str] = []
        self.times: list[float] = []
        self.categories: list[str] = []
        self.incident: list[str | None] = []
        self.index: dict[str, int] = {}
        self._vectors = np.zeros((0, dim or 0), dtype=np.float32)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def __contains__(self, ticket_id: str) -> bool:
        return ticket_id in self.index

    @property
    def vectors(self) -> np.ndarray:
        return self._vectors[:self._n]

    def add(self, ticket_id: str, at: float, vector: np.ndarray, category: str, incident: str | None = None) -> None:
        if ticket_id in self.index:
            return
        if self._vectors.shape[1] != vector.shape[0]:
            self._vectors = np.zeros((max(64, self._n), vector.shape[0]), dtype=np.float32)
        if self._n == len(self._vectors):
            grown = np.zeros((min(max(64, 2 * self._n), self.capacity + 64), vector.shape[0]), dtype=np.float32)
            grown[:self._n] = self._vectors[:self._n]
            self._vectors = grown
        self._vectors[self._n] = vector
        self.index[ticket_id] = self._n
        self.ids.append(ticket_id)
        self.times.append(at)
        self.categories.append(category)
        self.incident.append(incident)
        self._n += 1
        if self._n > self.capacity + 63:  # drop the oldest in one go, not one by one
            self._keep_from(self._n - self.capacity)

    def assign(self, ticket_id: str, incident_id: str) -> None:
        i = self.index.get(ticket_id)
        if i is not None:
            self.incident[i] = incident_id

    def prune(self, now: float, window_s: float) -> None:
        """Forget tickets older than the window (times are nearly sorted: arrival order)."""
        cutoff = now - window_s
        first = next((i for i, t in enumerate(self.times) if t >= cutoff), self._n)
        if first:
            self._keep_from(first)

    def _keep_from(self, first: int) -> None:
        self._vectors[:self._n - first] = self._vectors[first:self._n].copy()
        for name in ("ids", "times", "categories", "incident"):
            setattr(self, name, getattr(self, name)[first:])
        self._n -= first
        self.index = {tid: i for i, tid in enumerate(self.ids)}

    def unassigned_close_to(self, vector: np.ndarray, threshold: float) -> list[int]:
        """Positions of the tickets in no incident whose cosine similarity to ``vector`` >= threshold."""
        if not self._n:
            return []
        sims = self.vectors @ vector
        return [int(i) for i in np.flatnonzero(sims >= threshold) if self.incident[i] is None]


@dataclass(frozen=True)
class _Snapshot:
    """The window's ids when a batch began, and which of them were close to each ticket of the batch."""

    ids: list[str]
    close: np.ndarray  # (window, batch) booleans


class IncidentTracker:
    """One worker process's view of the incidents; ``observe`` is the only writer of memberships."""

    def __init__(self, store: TicketStore, policy: Policy, *, webhook_urls: Sequence[str] = (),
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.r, self.policy = store, store.r, policy
        self.webhook_urls = tuple(webhook_urls)
        self.clock = clock
        self.recent = RecentWindow(capacity=policy.recent_max)
        self.last_id: str | None = None
        self.centroids: dict[str, np.ndarray] = {}   # open incident -> summed member vectors
        self.sizes: dict[str, int] = {}
        self.meta: dict[str, dict[str, Any]] = {}    # open incident -> title, category, opened_at
        self.version: str | None = None              # of the incidents, when we last loaded them

    # -- reading the shared state -------------------------------------------------------------

    def sync(self, *, lock_token: str | None = None) -> bool:
        """Replay what other workers logged since our last look, and reload the open incidents when
        they changed (one round trip when nothing did). With ``lock_token``, take the lock in the
        same round trip: False (and nothing read) when another worker holds it."""
        pipe = self.r.pipeline(transaction=False)
        if lock_token:
            pipe.set(LOCK, lock_token, nx=True, px=LOCK_TTL_MS)
        pipe.exists(LOG)
        pipe.get(VERSION)
        pipe.xrange(LOG, min="-" if self.last_id is None else f"({self.last_id}", count=5000)
        replies = pipe.execute()
        if lock_token and not replies.pop(0):
            return False
        exists, version, entries = replies
        if self.last_id is not None and not exists:
            self._forget()  # the log was deleted (data wiped): what we remember is gone too
            entries = self.r.xrange(LOG, min="-", count=5000)
        while True:
            for entry_id, fields in entries:
                self._apply(fields)
                self.last_id = entry_id
            if len(entries) < 5000:
                break
            entries = self.r.xrange(LOG, min=f"({self.last_id}", count=5000)
        self.recent.prune(self.clock(), self.policy.window_s)
        if version != self.version or version is None:
            self._load_open_incidents()
            self.version = version
        return True

    def _load_open_incidents(self) -> None:
        open_ids = self.r.smembers(OPEN)
        pipe = self.r.pipeline(transaction=False)
        for incident_id in open_ids:
            pipe.hmget(_incident_key(incident_id), ["sum", "size", "title", "category", "opened_at"])
        self.centroids, self.sizes, self.meta = {}, {}, {}
        for incident_id, (raw_sum, size, title, category, opened_at) in zip(open_ids, pipe.execute()):
            if raw_sum:
                self.centroids[incident_id] = _decode(raw_sum, np.float32)
                self.sizes[incident_id] = int(size or 0)
                self.meta[incident_id] = {"title": title, "category": category, "opened_at": float(opened_at)}

    def _apply(self, fields: dict[str, str]) -> None:
        if fields["k"] == "t":
            self.recent.add(fields["id"], float(fields["t"]), _decode(fields["v"], np.float16).astype(np.float32),
                            fields.get("cat", ""), fields.get("inc") or None)
        elif fields["k"] == "a":
            self.recent.assign(fields["id"], fields["inc"])

    # -- deciding -----------------------------------------------------------------------------

    @_guarded
    def observe(self, batch: Sequence[Seen]) -> tuple[dict[str, str | None], list[str]]:
        """Compare each ticket with the open incidents and the recent ones; join, open, or just
        remember it. Returns ticket id -> incident id (or None), and the subjects of the events to
        deliver (already recorded). One Redis transaction per batch."""
        if not batch:
            return {}, []
        # Two round trips in all when nothing else changed: take the lock and read what is new, then
        # one MULTI/EXEC that writes the batch's decisions and releases the lock.
        token = uuid.uuid4().hex
        deadline = time.monotonic() + LOCK_WAIT_S
        try:
            while not self.sync(lock_token=token):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another worker held {LOCK} for over {LOCK_WAIT_S} s")
                time.sleep(0.002)
            return self._observe(batch, token)
        except BaseException:
            self._forget()  # memory may be ahead of Redis now: rebuild it from the log next time
            try:
                self.r.eval(_RELEASE, 1, LOCK, token)
            except redis.RedisError:
                pass  # Redis is away: the lock expires by itself
            raise

    def _forget(self) -> None:
        self.recent = RecentWindow(capacity=self.policy.recent_max)
        self.last_id = None

    def _observe(self, batch: Sequence[Seen], token: str) -> tuple[dict[str, str | None], list[str]]:
        pipe = self.r.pipeline(transaction=True)
        events: list[str] = []
        units = np.stack([_unit(seen.vector) for seen in batch])
        # One matrix product for the whole batch against the window as it is now (the window is read
        # once, not once per ticket); tickets of this batch are compared with each other as they come.
        close = (self.recent.vectors @ units.T >= self.policy.similarity) if len(self.recent) else (
            np.zeros((0, len(batch)), dtype=bool))
        before = _Snapshot(list(self.recent.ids), close)
        for b, seen in enumerate(batch):
            if seen.ticket_id in self.recent:  # a redelivered batch: decided already
                continue
            vector = units[b]
            incident_id = self._best_incident(vector)
            if incident_id:
                self._log_ticket(pipe, seen, vector, incident_id)
                self._join(pipe, incident_id, [seen.ticket_id], [vector], events)
            else:
                neighbours = self._unassigned_neighbours(before, b, batch[:b], units[:b], vector)
                self._log_ticket(pipe, seen, vector, None)
                self._maybe_open(pipe, seen, vector, neighbours, events)
        index, incident = self.recent.index, self.recent.incident
        result = {s.ticket_id: incident[index[s.ticket_id]] if s.ticket_id in index else None for s in batch}
        pipe.xtrim(LOG, maxlen=3 * self.policy.recent_max, approximate=True)
        changed = any(incident is not None for incident in result.values())
        if changed:
            pipe.incr(VERSION)
        pipe.eval(_RELEASE, 1, LOCK, token)
        replies = pipe.execute()[:-1]
        written = [r for r in replies if isinstance(r, str) and _STREAM_ID.match(r)]
        if written:  # nobody else writes while we hold the lock: our entries are the newest
            self.last_id = written[-1]
        if changed:  # and nobody else changed an incident: what we hold is current
            self.version = str(replies[-1])
        return result, events

    def _unassigned_neighbours(self, before: "_Snapshot", b: int, earlier: Sequence[Seen],
                               earlier_units: np.ndarray, vector: np.ndarray) -> list[str]:
        """The tickets in no incident close to batch ticket ``b``: those that were in the window when
        the batch began, and the batch's own earlier tickets."""
        ids = [before.ids[j] for j in np.flatnonzero(before.close[:, b])]
        if len(earlier):
            sims = earlier_units @ vector
            ids += [seen.ticket_id for seen, sim in zip(earlier, sims) if sim >= self.policy.similarity]
        index, incident = self.recent.index, self.recent.incident
        return [tid for tid in dict.fromkeys(ids) if tid in index and incident[index[tid]] is None]

    def _best_incident(self, vector: np.ndarray) -> str | None:
        best, best_sim = None, self.policy.similarity
        for incident_id, total in self.centroids.items():
            sim = float(_unit(total) @ vector)
            if sim >= best_sim:
                best, best_sim = incident_id, sim
        return best

    def _log_ticket(self, pipe, seen: Seen, vector: np.ndarray, incident_id: str | None) -> None:
        pipe.xadd(LOG, {"k": "t", "id": seen.ticket_id, "t": repr(seen.at), "cat": seen.category,
                        "v": _encode(vector, np.float16), "inc": incident_id or ""})
        self.recent.add(seen.ticket_id, seen.at, vector, seen.category, incident_id)

    def _assign(self, pipe, incident_id: str, ticket_ids: Iterable[str], now: float) -> None:
        for tid in ticket_ids:
            pipe.xadd(LOG, {"k": "a", "id": tid, "inc": incident_id})
            pipe.zadd(_incident_key(incident_id) + ":members", {tid: now})
            pipe.hset(_key(tid), "incident", incident_id)
            self.recent.assign(tid, incident_id)

    def _maybe_open(self, pipe, seen: Seen, vector: np.ndarray, close: list[str], events: list[str]) -> None:
        index = self.recent.index  # positions now: adding this ticket may have dropped the oldest
        neighbours = [index[tid] for tid in close if tid in index and tid != seen.ticket_id]
        if len(neighbours) + 1 < self.policy.min_tickets:
            return
        now = self.clock()
        incident_id = "inc_" + uuid.uuid4().hex[:16]
        members = [self.recent.ids[i] for i in neighbours] + [seen.ticket_id]
        vectors = [self.recent.vectors[i] for i in neighbours] + [vector]
        self.centroids[incident_id] = np.zeros_like(vector)
        self.sizes[incident_id] = 0
        categories = [self.recent.categories[i] for i in neighbours] + [seen.category]
        category = max(sorted(set(categories)), key=categories.count)
        self.meta[incident_id] = {"title": "", "category": category, "opened_at": now}
        pipe.hset(_incident_key(incident_id), mapping={
            "id": incident_id, "category": category, "status": "open", "opened_at": repr(now),
            "title": "",  # set below, from the members' texts
        })
        pipe.zadd(ALL, {incident_id: now})
        pipe.sadd(OPEN, incident_id)
        self._join(pipe, incident_id, members, vectors, events, opening=True, texts={seen.ticket_id: seen.text})

    def _join(self, pipe, incident_id: str, ticket_ids: list[str], vectors: list[np.ndarray], events: list[str],
              *, opening: bool = False, texts: dict[str, str] | None = None) -> None:
        """Add members; at opening and at each milestone, sweep in close recent tickets and fire an event."""
        now = self.clock()
        before = self.sizes[incident_id]
        self.centroids[incident_id] = self.centroids[incident_id] + np.sum(vectors, axis=0)
        self._assign(pipe, incident_id, ticket_ids, now)
        size = before + len(ticket_ids)
        crossed = [m for m in MILESTONES if before < m <= size]
        if opening or crossed:
            swept = self.recent.unassigned_close_to(_unit(self.centroids[incident_id]), self.policy.similarity)
            if swept:
                self.centroids[incident_id] = self.centroids[incident_id] + self.recent.vectors[swept].sum(axis=0)
                self._assign(pipe, incident_id, [self.recent.ids[i] for i in swept], now)
                size += len(swept)
            crossed = [m for m in MILESTONES if before < m <= size]
        self.sizes[incident_id] = size
        fields = {"sum": _encode(self.centroids[incident_id], np.float32), "size": size, "updated_at": repr(now)}
        if opening:
            fields["title"] = self.meta[incident_id]["title"] = self._title(incident_id, texts or {})
        pipe.hset(_incident_key(incident_id), mapping=fields)
        if opening or crossed:
            name = "opened" if opening else f"updated-{crossed[-1]}"
            self._stage_event(pipe, incident_id, name, "incident.opened" if opening else "incident.updated", size)
            events.append(event_subject(incident_id, name))

    def _title(self, incident_id: str, texts: dict[str, str]) -> str:
        """The member nearest the centroid, in a line: its subject, or its first sentence."""
        centroid = _unit(self.centroids[incident_id])
        members = [i for i, inc in enumerate(self.recent.incident) if inc == incident_id]
        nearest = self.recent.ids[max(members, key=lambda i: float(self.recent.vectors[i] @ centroid))]
        if nearest in texts:
            text = texts[nearest]
        else:
            try:
                text = self.store.load(nearest).text
            except Exception:  # deleted meanwhile: any member will do
                text = next(iter(texts.values()), "")
        return title_of(text)

    def _stage_event(self, pipe, incident_id: str, name: str, event_type: str, size: int) -> None:
        """Keep the event (a snapshot of the incident, as Stripe's events are) and open its deliveries."""
        subject = event_subject(incident_id, name)
        event_id = event_id_for(subject)
        members = [tid for tid, inc in zip(self.recent.ids, self.recent.incident) if inc == incident_id]
        data = {"id": incident_id, "status": "open", "size": size, "updated_at": self.clock(),
                **self.meta[incident_id], "ticket_ids": members}
        self.store.stage_event(pipe, subject, event_id, {"type": event_type, "id": event_id, "data": data},
                               self.webhook_urls)
        pipe.sadd(_incident_key(incident_id) + ":events", subject)


def title_of(text: str) -> str:
    first = text.strip().split("\n", 1)[0]
    sentence = re.split(r"(?<=[.!?])\s", first, maxsplit=1)[0].strip()
    return sentence if len(sentence) <= TITLE_CHARS else sentence[:TITLE_CHARS - 1].rstrip() + "…"


# -- the operator's side: reading, closing, merging ------------------------------------------------

class IncidentRegistry:
    """What the API needs: list incidents, read one with its tickets, close, merge."""

    def __init__(self, store: TicketStore) -> None:
        self.store, self.r = store, store.r

    @_guarded
    def list(self, *, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        ids = self.r.zrevrange(ALL, 0, -1)
        pipe = self.r.pipeline(transaction=False)
        for incident_id in ids:
            pipe.hgetall(_incident_key(incident_id))
        views = [_view(raw) for raw in pipe.execute() if raw]
        return [v for v in views if status in (None, v["status"])][:limit]

    @_guarded
    def get(self, incident_id: str, *, with_tickets: bool = True) -> dict[str, Any]:
        raw = self.r.hgetall(_incident_key(incident_id))
        if not raw:
            raise IncidentNotFound(incident_id)
        view = _view(raw)
        member_ids = self.r.zrange(_incident_key(incident_id) + ":members", 0, -1)
        view["ticket_ids"] = member_ids
        if with_tickets:
            view["tickets"] = [self._ticket(tid) for tid in member_ids[:500]]
            view["tickets"] = [t for t in view["tickets"] if t]
        view["events"] = self._events(incident_id)
        return view

    def _ticket(self, ticket_id: str) -> dict[str, Any] | None:
        try:
            return self.store.get(ticket_id)
        except Exception:  # deleted since it joined
            return None

    def _events(self, incident_id: str) -> list[dict[str, Any]]:
        events = []
        for subject in self.r.smembers(_incident_key(incident_id) + ":events"):
            payload = self.store.event_payload(subject) or {}
            states, log = self.store.deliveries(subject)
            events.append({"type": payload.get("type"), "event_id": payload.get("id"), "subject": subject,
                           "size": payload.get("data", {}).get("size"), "deliveries": states, "log": log})
        return sorted(events, key=lambda e: e["size"] or 0)

    @_guarded
    def close(self, incident_id: str) -> dict[str, Any]:
        with self.r.lock(LOCK, timeout=30, blocking_timeout=60):
            view = self.get(incident_id, with_tickets=False)
            if view["status"] != "open":
                raise InvalidTicket(f"incident {incident_id} is {view['status']} already", code="not_open", status=409)
            pipe = self.r.pipeline(transaction=True)
            pipe.hset(_incident_key(incident_id), mapping={"status": "closed", "closed_at": repr(time.time())})
            pipe.srem(OPEN, incident_id)
            pipe.incr(VERSION)
            pipe.execute()
        return self.get(incident_id, with_tickets=False)

    @_guarded
    def merge(self, incident_id: str, into: str) -> dict[str, Any]:
        """Move every member of ``incident_id`` into ``into``; the first ends ``merged``."""
        if incident_id == into:
            raise InvalidTicket("an incident cannot be merged into itself", code="same_incident", status=409)
        with self.r.lock(LOCK, timeout=30, blocking_timeout=60):
            source = self.get(incident_id, with_tickets=False)
            target = self.get(into, with_tickets=False)
            for view in (source, target):
                if view["status"] == "merged":
                    raise InvalidTicket(f"incident {view['id']} was merged already", code="merged", status=409)
            total = _decode(self.r.hget(_incident_key(incident_id), "sum"), np.float32) + _decode(
                self.r.hget(_incident_key(into), "sum"), np.float32)
            now = time.time()
            pipe = self.r.pipeline(transaction=True)
            for tid in source["ticket_ids"]:
                pipe.xadd(LOG, {"k": "a", "id": tid, "inc": into})
                pipe.zadd(_incident_key(into) + ":members", {tid: now})
                pipe.hset(_key(tid), "incident", into)
            pipe.delete(_incident_key(incident_id) + ":members")
            pipe.hset(_incident_key(into), mapping={
                "sum": _encode(total, np.float32), "size": len(set(source["ticket_ids"]) | set(target["ticket_ids"])),
                "updated_at": repr(now)})
            pipe.hset(_incident_key(incident_id), mapping={"status": "merged", "merged_into": into, "size": 0,
                                                           "updated_at": repr(now)})
            pipe.srem(OPEN, incident_id)
            pipe.incr(VERSION)
            pipe.execute()
        return self.get(into, with_tickets=False)


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


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm else vector.astype(np.float32)


def _encode(vector: np.ndarray, dtype) -> str:
    return base64.b64encode(np.asarray(vector, dtype=dtype).tobytes()).decode()


def _decode(raw: str, dtype) -> np.ndarray:
    return np.frombuffer(base64.b64decode(raw), dtype=dtype).astype(np.float32)
