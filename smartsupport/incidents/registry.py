"""The operator's side of incidents: list them, read one with its tickets and events, close, merge."""

from __future__ import annotations

from typing import Any

from ..errors import IncidentMerged, IncidentMergedIntoItself, IncidentNotOpen
from ..store import TicketStore
from ..store.base import guarded


class IncidentRegistry:
    """What the API needs: list incidents, read one with its tickets, close, merge."""

    def __init__(self, store: TicketStore) -> None:
        self.store, self.incidents = store, store.incidents

    @guarded
    def list(self, *, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        return [v for v in self.incidents.all() if status in (None, v["status"])][:limit]

    @guarded
    def get(self, incident_id: str, *, with_tickets: bool = True) -> dict[str, Any]:
        view = self.incidents.view(incident_id)
        member_ids = self.incidents.members(incident_id)
        view["ticket_ids"] = member_ids
        if with_tickets:
            view["tickets"] = [self._ticket(tid) for tid in member_ids[:500]]
            view["tickets"] = [t for t in view["tickets"] if t]
        view["events"] = self._events(incident_id)
        return view

    def _ticket(self, ticket_id: str) -> dict[str, Any] | None:
        try:
            return self.store.views.get(ticket_id)
        except Exception:  # deleted since it joined
            return None

    def _events(self, incident_id: str) -> list[dict[str, Any]]:
        events = []
        for subject in self.incidents.event_subjects(incident_id):
            payload = self.store.deliveries.event_payload(subject) or {}
            states, log = self.store.deliveries.of(subject)
            events.append({"type": payload.get("type"), "event_id": payload.get("id"), "subject": subject,
                           "size": payload.get("data", {}).get("size"), "deliveries": states, "log": log})
        return sorted(events, key=lambda e: e["size"] or 0)

    @guarded
    def close(self, incident_id: str) -> dict[str, Any]:
        with self.incidents.decision_lock():
            view = self.get(incident_id, with_tickets=False)
            if view["status"] != "open":
                raise IncidentNotOpen(f"incident {incident_id} is {view['status']} already")
            self.incidents.close(incident_id)
        return self.get(incident_id, with_tickets=False)

    @guarded
    def merge(self, incident_id: str, into: str) -> dict[str, Any]:
        """Move every member of ``incident_id`` into ``into``; the first ends ``merged``."""
        if incident_id == into:
            raise IncidentMergedIntoItself("an incident cannot be merged into itself")
        with self.incidents.decision_lock():
            source = self.get(incident_id, with_tickets=False)
            target = self.get(into, with_tickets=False)
            for view in (source, target):
                if view["status"] == "merged":
                    raise IncidentMerged(f"incident {view['id']} was merged already")
            self.incidents.merge(incident_id, into, source["ticket_ids"],
                                 size=len(set(source["ticket_ids"]) | set(target["ticket_ids"])))
        return self.get(into, with_tickets=False)

    @guarded
    def expire(self, *, older_than_s: float, now: float | None = None) -> int:
        """Delete closed and merged incidents untouched for ``older_than_s``, with their events'
        payloads and deliveries (open ones stay, however old); returns how many."""
        stale = self.incidents.stale(older_than_s=older_than_s, now=now)
        with self.store.transaction() as tx:
            for incident in stale:
                for subject in incident.events:
                    self.store.deliveries.forget_event(tx, subject)
                self.incidents.delete(tx, incident.incident_id)
        return len(stale)
