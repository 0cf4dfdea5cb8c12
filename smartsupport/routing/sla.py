"""SLA policies and the deadlines they give a ticket: a first response and a resolution, each an
instant at which that much open time of the policy's calendar has passed (the wall clock without
one), with a warning at a share of it; and the same deadlines moved on after a pause."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..calendars import WALL_CLOCK, Calendar, WallClock

#: Each target: its due key, its warning key and the policy's open seconds for it.
#: The SLA clock's entries: each event's name on the clock (store/routes.py's due set), the ``sla``
#: key of its time, the flag that says it fired, and what stops it (``ack``: the first response;
#: ``resolve``: the resolution).
SLA_CLOCK = (("ticket.sla_warning", "warning_at", "warned", "ack"),
             ("ticket.sla_breached", "first_response_due", "breached", "ack"),
             ("ticket.sla_warning:resolution", "resolution_warning_at", "resolution_warned", "resolve"),
             ("ticket.sla_breached:resolution", "resolution_due", "resolution_breached", "resolve"))
#: The flags of an ``sla`` that say one of its events fired.
FIRED = tuple(entry[2] for entry in SLA_CLOCK)
TARGETS = (("first_response_due", "warning_at", "first_response_s"),
           ("resolution_due", "resolution_warning_at", "resolution_s"))


@dataclass(frozen=True)
class SlaPolicy:
    name: str
    first_response_s: float | None
    resolution_s: float | None = None
    #: The calendar whose open time the targets count (None: the wall clock).
    calendar: str | None = None


def sla_record(policy: SlaPolicy, calendar: Calendar | None, *, created_at: float, warning_share: float,
               breached: bool) -> dict[str, Any]:
    """The ``sla`` of a route record: each target's due time and warning time from ``created_at``
    (None for a target the policy does not set), JSON-plain, instants rounded to the millisecond."""
    clock: Calendar | WallClock = calendar or WALL_CLOCK
    times: dict[str, float | None] = {}
    for due_key, warning_key, attr in TARGETS:
        target = getattr(policy, attr)
        times[due_key] = None if target is None else round(clock.add_open_time(created_at, target), 3)
        times[warning_key] = (None if target is None
                              else round(clock.add_open_time(created_at, target * warning_share), 3))
    return {"policy": policy.name, "first_response_due": times["first_response_due"],
            "warning_at": times["warning_at"], "breached": breached, "resolution_due": times["resolution_due"],
            "resolution_warning_at": times["resolution_warning_at"], "calendar": policy.calendar,
            "paused_at": None, "open_s_used": 0}


def sla_after_resume(sla: dict[str, Any], policy: SlaPolicy, calendar: Calendar | None, *, paused_at: float,
                     resumed_at: float) -> dict[str, Any]:
    """The ``sla`` of a ticket whose clock stood still from ``paused_at`` to ``resumed_at``: each
    instant still ahead at the pause moves so that the open time left then is counted from the
    resume (one already passed stays: its event is due or fired); ``paused_at`` back to None and
    ``open_s_used``, the policy's open time spent before this pause."""
    if resumed_at < paused_at:
        raise ValueError(f"resumed at {resumed_at}, before the pause at {paused_at}")
    clock: Calendar | WallClock = calendar or WALL_CLOCK
    moved = dict(sla)
    for key in (k for target in TARGETS for k in target[:2]):
        at = sla.get(key)
        if at is not None and at > paused_at:
            moved[key] = round(clock.add_open_time(resumed_at, clock.open_seconds_between(paused_at, at)), 3)
    used = sla.get("open_s_used") or 0
    for due_key, _, attr in reversed(TARGETS):  # the resolution's, the longer, when the policy sets it
        target, due = getattr(policy, attr), sla.get(due_key)
        if target is not None and due is not None:
            used = target - clock.open_seconds_between(paused_at, due)
            break
    moved.update(paused_at=None, open_s_used=round(used, 3))
    return moved


def sla_clock(route: dict[str, Any], calendar: Calendar | None, *, now: float) -> dict[str, Any]:
    """What is left of a route's deadlines at ``now``: ``open_s_left``, each target's open time of
    ``calendar`` (None: the wall clock) until it is due (negative once past; None for a target the
    policy does not set, or one met: the first response once acknowledged or resolved, the
    resolution once resolved), counted at ``now``, or at the pause while the ticket waits on the
    customer; and ``clock``: ``at`` (that instant), ``running`` (not paused, and the calendar open
    at ``now``), ``opens_at`` (not paused and closed: when the calendar opens next) and
    ``closes_at`` (running in a calendar: the end of its open interval; None on the wall clock)."""
    sla = route["sla"]
    clock: Calendar | WallClock = calendar or WALL_CLOCK
    paused_at = sla.get("paused_at")
    at = now if paused_at is None else min(paused_at, now)
    met = {"first_response": route.get("acknowledged_at") is not None or route.get("resolved_at") is not None,
           "resolution": route.get("resolved_at") is not None}
    left = {}
    for target, due_key in (("first_response", "first_response_due"), ("resolution", "resolution_due")):
        due = sla.get(due_key)
        left[target] = None if due is None or met[target] else round(clock.open_seconds_between(at, due), 3)
    running = paused_at is None and clock.is_open(now)
    closes_at = calendar.closing_at(now) if running and calendar is not None else None
    opens_at = clock.next_open(now) if paused_at is None and not running else None
    instants = {"opens_at": opens_at, "closes_at": closes_at}
    return {"open_s_left": left, "clock": {"at": round(at, 3), "running": running,
                                           **{k: None if v is None else round(v, 3) for k, v in instants.items()}}}
