"""The operator's side of incidents: list them, read one with its tickets and events, close, merge."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..errors import IncidentMerged, IncidentMergedIntoItself, IncidentNotFound, IncidentNotOpen
from ..store import TicketStore, keys
from ..store.base import guarded
from .state import ALL, LOCK, LOG, OPEN, VERSION, decode, encode, incident_key


class IncidentRegistry:
    """What the API needs: list incidents, read one with its tickets, close, merge."""

    def __init__(self, store: TicketStore) -> None:
        self.store, self.r = store, store.r

    @guarded
    def list(self, *, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        ids = self.r.zrevrange(ALL, 0, -1)
        pipe = self.r.pipeline(transaction=False)
        for incident_id in ids:
            pipe.hgetall(incident_key(incident_id))
        views = [_view(raw) for raw in pipe.execute() if raw]
        return [v for v in views if status in (None, v["status"])][:limit]

    @guarded
    def get(self, incident_id: str, *, with_tickets: bool = True) -> dict[str, Any]:
        raw = self.r.hgetall(incident_key(incident_id))
        if not raw:
            raise IncidentNotFound(incident_id)
        view = _view(raw)
        member_ids = self.r.zrange(incident_key(incident_id) + ":members", 0, -1)
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
        for subject in self.r.smembers(incident_key(incident_id) + ":events"):
            payload = self.store.event_payload(subject) or {}
            states, log = self.store.deliveries(subject)
            events.append({"type": payload.get("type"), "event_id": payload.get("id"), "subject": subject,
                           "size": payload.get("data", {}).get("size"), "deliveries": states, "log": log})
        return sorted(events, key=lambda e: e["size"] or 0)

    @guarded
    def close(self, incident_id: str) -> dict[str, Any]:
        with self.r.lock(LOCK, timeout=30, blocking_timeout=60):
            view = self.get(incident_id, with_tickets=False)
            if view["status"] != "open":
                raise IncidentNotOpen(f"incident {incident_id} is {view['status']} already")
            pipe = self.r.pipeline(transaction=True)
            pipe.hset(incident_key(incident_id), mapping={"status": "closed", "closed_at": repr(time.time())})
            pipe.srem(OPEN, incident_id)
            pipe.incr(VERSION)
            pipe.execute()
        return self.get(incident_id, with_tickets=False)

    @guarded
    def merge(self, incident_id: str, into: str) -> dict[str, Any]:
        """Move every member of ``incident_id`` into ``into``; the first ends ``merged``."""
        if incident_id == into:
            raise IncidentMergedIntoItself("an incident cannot be merged into itself")
        with self.r.lock(LOCK, timeout=30, blocking_timeout=60):
            source = self.get(incident_id, with_tickets=False)
            target = self.get(into, with_tickets=False)
            for view in (source, target):
                if view["status"] == "merged":
                    raise IncidentMerged(f"incident {view['id']} was merged already")
            total = decode(self.r.hget(incident_key(incident_id), "sum"), np.float32) + decode(
                self.r.hget(incident_key(into), "sum"), np.float32)
            now = time.time()
            pipe = self.r.pipeline(transaction=True)
            for tid in source["ticket_ids"]:
                pipe.xadd(LOG, {"k": "a", "id": tid, "inc": into})
                pipe.zadd(incident_key(into) + ":members", {tid: now})
                pipe.hset(keys.ticket(tid), "incident", into)
            pipe.delete(incident_key(incident_id) + ":members")
            pipe.hset(incident_key(into), mapping={
                "sum": encode(total, np.float32), "size": len(set(source["ticket_ids"]) | set(target["ticket_ids"])),
                "updated_at": repr(now)})
            pipe.hset(incident_key(incident_id),
                      mapping={"status": "merged", "merged_into": into, "size": 0, "updated_at": repr(now)})
            pipe.srem(OPEN, incident_id)
            pipe.incr(VERSION)
            pipe.execute()
        return self.get(into, with_tickets=False)

    @guarded
    def expire(self, *, older_than_s: float, now: float | None = None) -> int:
        """Delete closed and merged incidents untouched for ``older_than_s``, with their events'
        payloads and deliveries (open ones stay, however old); returns how many."""
        cutoff = (time.time() if now is None else now) - older_than_s
        old = self.r.zrangebyscore(ALL, 0, cutoff)
        pipe = self.r.pipeline(transaction=False)
        for incident_id in old:
            pipe.hmget(incident_key(incident_id), ["status", "updated_at"])
            pipe.smembers(incident_key(incident_id) + ":events")
        replies = pipe.execute()
        gone = 0
        pipe = self.r.pipeline(transaction=True)
        for incident_id, (status, updated), events in zip(old, replies[::2], replies[1::2]):
            if status == "open" or (updated and float(updated) > cutoff):
                continue
            for subject in events:
                pipe.delete(keys.subject(subject), keys.subject(subject) + ":deliveries",
                            keys.subject(subject) + ":attempts")
            pipe.delete(incident_key(incident_id), incident_key(incident_id) + ":members",
                        incident_key(incident_id) + ":events")
            pipe.zrem(ALL, incident_id)
            gone += 1
        pipe.execute()
        return gone


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
