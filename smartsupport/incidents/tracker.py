"""Finding incidents while tickets are classified: the tracker each model process runs.

Every classified ticket's embedding is compared with the open incidents (their centroids) and with the
recent tickets that belong to none. A ticket close enough to an incident joins it; a ticket with
``min_tickets - 1`` close recent neighbours opens one with them. When an incident opens or reaches a
size milestone, recent tickets close to its (now better) centroid are swept in as well: the first
tickets of a burst, compared with each other only, miss some of their paraphrases.

Each worker process replays the shared log (the store's ``incidents`` part) into its own ``RecentWindow``, so comparing
a ticket costs one matrix-vector product over at most ``recent_max`` vectors, not a Redis query; one
decision is taken at a time, under a Redis lock, and written in one MULTI/EXEC.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ..notify import event_id_for
from ..store import TicketStore, Transaction
from ..store.base import guarded
from ..store.incidents import LOCK, Assigned, Logged, event_subject
from ..store.transaction import Reply
from .state import MILESTONES, Policy, Seen, title_of, unit
from .window import RecentWindow

LOCK_WAIT_S = 60.0


@dataclass(frozen=True)
class _Snapshot:
    """The window's ids when a batch began, and which of them were close to each ticket of the batch."""

    ids: list[str]
    close: np.ndarray  # (window, batch) booleans


@dataclass
class _Writes:
    """One batch's transaction, the subjects of the events it stages, and its last log entry."""

    tx: Transaction
    events: list[str] = field(default_factory=list)
    last_entry: Reply[str] | None = None


class IncidentTracker:
    """One worker process's view of the incidents; ``observe`` is the only writer of memberships."""

    def __init__(self, store: TicketStore, policy: Policy, *, webhook_urls: Sequence[str] = (),
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.incidents, self.policy = store, store.incidents, policy
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
        read = self.incidents.read_log(self.last_id, lock_token=lock_token)
        if read is None:
            return False
        page = read.page
        if self.last_id is not None and not read.exists:
            self._forget()  # the log was deleted (data wiped): what we remember is gone too
            page = self.incidents.log_page(None)
        while True:
            for entry in page.entries:
                self._apply(entry)
            self.last_id = page.last_id or self.last_id
            if not page.full:
                break
            page = self.incidents.log_page(self.last_id)
        self.recent.prune(self.clock(), self.policy.window_s)
        if read.version != self.version or read.version is None:
            self._load_open_incidents()
            self.version = read.version
        return True

    def _load_open_incidents(self) -> None:
        self.centroids, self.sizes, self.meta = {}, {}, {}
        for incident in self.incidents.open_incidents():
            self.centroids[incident.incident_id] = incident.total
            self.sizes[incident.incident_id] = incident.size
            self.meta[incident.incident_id] = {"title": incident.title, "category": incident.category,
                                               "opened_at": incident.opened_at}

    def _apply(self, entry: Logged | Assigned) -> None:
        if isinstance(entry, Logged):
            self.recent.add(entry.ticket_id, entry.at, entry.vector, entry.category, entry.incident)
        else:
            self.recent.assign(entry.ticket_id, entry.incident)

    # -- deciding -----------------------------------------------------------------------------

    @guarded
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
            self.incidents.release_lock(token)
            raise

    def _forget(self) -> None:
        self.recent = RecentWindow(capacity=self.policy.recent_max)
        self.last_id = None

    def _observe(self, batch: Sequence[Seen], token: str) -> tuple[dict[str, str | None], list[str]]:
        with self.store.transaction() as tx:
            writes = _Writes(tx)
            result, version = self._decide(batch, writes), None
            self.incidents.trim_log(tx, maxlen=3 * self.policy.recent_max)
            if any(incident is not None for incident in result.values()):
                version = self.incidents.bump_version(tx)
            self.incidents.release_lock(token, tx=tx)
        if writes.last_entry:  # nobody else writes while we hold the lock: our entries are the newest
            self.last_id = writes.last_entry.value
        if version:  # and nobody else changed an incident: what we hold is current
            self.version = version.value
        return result, writes.events

    def _decide(self, batch: Sequence[Seen], writes: _Writes) -> dict[str, str | None]:
        """Queue the batch's decisions on ``writes``; returns ticket id -> incident id (or None)."""
        units = np.stack([unit(seen.vector) for seen in batch])
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
                self._log_ticket(writes, seen, vector, incident_id)
                self._join(writes, incident_id, [seen.ticket_id], [vector])
            else:
                neighbours = self._unassigned_neighbours(before, b, batch[:b], units[:b], vector)
                self._log_ticket(writes, seen, vector, None)
                self._maybe_open(writes, seen, vector, neighbours)
        index, incident = self.recent.index, self.recent.incident
        return {s.ticket_id: incident[index[s.ticket_id]] if s.ticket_id in index else None for s in batch}

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
            sim = float(unit(total) @ vector)
            if sim >= best_sim:
                best, best_sim = incident_id, sim
        return best

    def _log_ticket(self, writes: _Writes, seen: Seen, vector: np.ndarray, incident_id: str | None) -> None:
        writes.last_entry = self.incidents.log_ticket(
            writes.tx, Logged(seen.ticket_id, seen.at, vector, seen.category, incident_id))
        self.recent.add(seen.ticket_id, seen.at, vector, seen.category, incident_id)

    def _assign(self, writes: _Writes, incident_id: str, ticket_ids: Iterable[str], now: float) -> None:
        for tid in ticket_ids:
            writes.last_entry = self.incidents.assign(writes.tx, incident_id, tid, at=now)
            self.recent.assign(tid, incident_id)

    def _maybe_open(self, writes: _Writes, seen: Seen, vector: np.ndarray, close: list[str]) -> None:
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
        self.incidents.open(writes.tx, incident_id, category=category, at=now)  # titled below, from the members
        self._join(writes, incident_id, members, vectors, opening=True, texts={seen.ticket_id: seen.text})

    def _join(self, writes: _Writes, incident_id: str, ticket_ids: list[str], vectors: list[np.ndarray], *,
              opening: bool = False, texts: dict[str, str] | None = None) -> None:
        """Add members; at opening and at each milestone, sweep in close recent tickets and fire an event."""
        now = self.clock()
        before = self.sizes[incident_id]
        self.centroids[incident_id] = self.centroids[incident_id] + np.sum(vectors, axis=0)
        self._assign(writes, incident_id, ticket_ids, now)
        size = before + len(ticket_ids)
        crossed = [m for m in MILESTONES if before < m <= size]
        if opening or crossed:
            swept = self.recent.unassigned_close_to(unit(self.centroids[incident_id]), self.policy.similarity)
            if swept:
                self.centroids[incident_id] = self.centroids[incident_id] + self.recent.vectors[swept].sum(axis=0)
                self._assign(writes, incident_id, [self.recent.ids[i] for i in swept], now)
                size += len(swept)
            crossed = [m for m in MILESTONES if before < m <= size]
        self.sizes[incident_id] = size
        title = None
        if opening:
            title = self.meta[incident_id]["title"] = self._title(incident_id, texts or {})
        self.incidents.save_progress(writes.tx, incident_id, total=self.centroids[incident_id], size=size, at=now,
                                     title=title)
        if opening or crossed:
            name = "opened" if opening else f"updated-{crossed[-1]}"
            self._stage_event(writes.tx, incident_id, name, "incident.opened" if opening else "incident.updated",
                              size)
            writes.events.append(event_subject(incident_id, name))

    def _title(self, incident_id: str, texts: dict[str, str]) -> str:
        """The member nearest the centroid, in a line: its subject, or its first sentence."""
        centroid = unit(self.centroids[incident_id])
        members = [i for i, inc in enumerate(self.recent.incident) if inc == incident_id]
        nearest = self.recent.ids[max(members, key=lambda i: float(self.recent.vectors[i] @ centroid))]
        if nearest in texts:
            text = texts[nearest]
        else:
            try:
                text = self.store.tickets.load(nearest).text
            except Exception:  # deleted meanwhile: any member will do
                text = next(iter(texts.values()), "")
        return title_of(text)

    def _stage_event(self, tx: Transaction, incident_id: str, name: str, event_type: str, size: int) -> None:
        """Keep the event (a snapshot of the incident, as Stripe's events are) and open its deliveries."""
        subject = event_subject(incident_id, name)
        event_id = event_id_for(subject)
        members = [tid for tid, inc in zip(self.recent.ids, self.recent.incident) if inc == incident_id]
        data = {"id": incident_id, "status": "open", "size": size, "updated_at": self.clock(),
                **self.meta[incident_id], "ticket_ids": members}
        self.store.deliveries.stage_event(tx, subject, event_id, {"type": event_type, "id": event_id, "data": data},
                                          self.webhook_urls)
        self.incidents.add_event(tx, incident_id, subject)
