"""The SLA clock in the tickets the API answers: each route's ``sla`` gains ``open_s_left`` and
``clock`` (smartsupport.routing.sla.sla_clock), counted in its calendar's open time at the
request's time, so that a client shows business hours left without knowing the calendar."""

from __future__ import annotations

import time
from typing import Any

from smartsupport.routing import Routing

from .blueprint import current_services


def with_clock(view: dict[str, Any], *, now: float | None = None) -> dict[str, Any]:
    """The ticket ``view`` with its route's SLA clock at ``now`` (the request's time by default)."""
    return clocked(view, current_services().routing.current(), now=time.time() if now is None else now)


def with_clocks(views: list[dict[str, Any]], *, now: float | None = None) -> list[dict[str, Any]]:
    """Each of ``views`` with its route's SLA clock, all at one instant."""
    rules, now = current_services().routing.current(), time.time() if now is None else now
    return [clocked(view, rules, now=now) for view in views]


def clocked(view: dict[str, Any], rules: Routing, *, now: float) -> dict[str, Any]:
    """``view`` with ``route.sla.open_s_left`` and ``route.sla.clock`` (a view without an SLA as it is)."""
    route = view.get("route")
    found = rules.sla_clock(route, now=now) if route else None
    if found is None:
        return view
    return {**view, "route": {**route, "sla": {**route["sla"], **found}}}
