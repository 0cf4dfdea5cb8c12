"""Routes: each ticket's team, priority, deadline and assignee, the teams' queues and the SLA clock.

  ss:ticket:<id> route        the route JSON (smartsupport.routing.Route.record)
  ss:team:<team>:waiting      zset: unassigned, unresolved tickets -> urgency score (next takes the top)
  ss:team:<team>:since        zset: the same tickets -> created_at (the oldest waiting)
  ss:team:<team>:all          zset: every ticket routed to the team -> created_at (list filter)
  ss:agent:<name>:open        zset: an agent's assigned, unresolved tickets -> when assigned
  ss:agent:<name>:all         zset: every ticket assigned to the agent -> when assigned (list filter)
  ss:sla:due                  zset: "<id> <event>" -> when that SLA event is due
  ss:team:stats               hash: breaches:<team>, resolution_breaches:<team>, acks:<team>,
                              ack_s:<team> (sum of wall-clock seconds to ack)
  ss:metrics:first_response_open:<team>  hash: histogram of the open seconds to ack (metrics.py's buckets)

Every change of a route is one Lua script, so that two agents never take the same ticket and an
acknowledgement never races the SLA clock.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..errors import AgentAtCapacity, TicketNotFound
from ..routing.sla import SLA_CLOCK
from . import keys
from .base import Part, guarded
from .metrics import FIRST_RESPONSE_BUCKETS_S, bucket_of
from .transaction import Transaction

if TYPE_CHECKING:
    from ..calendars import Calendar

SLA_DUE = keys.PREFIX + "sla:due"
TEAM_STATS = keys.PREFIX + "team:stats"
SLA_EVENTS = tuple(entry[0] for entry in SLA_CLOCK)


def team_key(team: str, part: str) -> str:
    return f"{keys.PREFIX}team:{team}:{part}"


def agent_key(agent: str, part: str) -> str:
    return f"{keys.PREFIX}agent:{agent}:{part}"


def sla_subject(ticket_id: str, event: str) -> str:
    """The webhook subject of one SLA event of a ticket, e.g. ``sla:<id>:event:sla_warning`` or
    ``sla:<id>:event:sla_breached:resolution``."""
    return f"sla:{ticket_id}:event:{event.split('.')[-1]}"


def sla_event_type(event: str) -> tuple[str, str]:
    """An SLA clock entry's webhook event type and target: ``("ticket.sla_breached", "resolution")``."""
    kind, _, target = event.partition(":")
    return kind, target or "first_response"


def pending_sla(route: dict[str, Any]) -> dict[str, float]:
    """The SLA events still to fire for a route, by their name in the due set: none once it is
    resolved or while it waits on the customer; the first response's none once it is acknowledged;
    none that fired already."""
    sla = route.get("sla")
    if not sla or route.get("resolved_at") is not None or sla.get("paused_at") is not None:
        return {}
    acknowledged = route.get("acknowledged_at") is not None
    return {event: sla[at] for event, at, fired, stop in SLA_CLOCK
            if sla.get(at) is not None and not sla.get(fired) and not (stop == "ack" and acknowledged)}


@dataclass(frozen=True)
class RoutePlan:
    """A new route to keep: its record (smartsupport.routing.Route.record), the urgency score its
    team's queue orders by, and the ticket's creation time."""

    record: dict[str, Any]
    score: float
    created_at: float


#: KEYS: ticket hash, SLA due; ARGV: ticket id, now, what ("ack" | "resolve"), agent, key prefix, created_at,
#: the open seconds from creation to now and their histogram bucket. Returns the route JSON.
_CLOSE = """
local raw = redis.call('HGET', KEYS[1], 'route')
if not raw then return false end
local route = cjson.decode(raw)
local now = tonumber(ARGV[2])
local id = ARGV[1]
local prefix = ARGV[5]
if route['acknowledged_at'] == cjson.null or route['acknowledged_at'] == nil then
  route['acknowledged_at'] = now
  if ARGV[4] ~= '' then route['acknowledged_by'] = ARGV[4] end
  redis.call('HINCRBY', prefix .. 'team:stats', 'acks:' .. route['team'], 1)
  redis.call('HINCRBYFLOAT', prefix .. 'team:stats', 'ack_s:' .. route['team'], now - tonumber(ARGV[6]))
  local histogram = prefix .. 'metrics:first_response_open:' .. route['team']
  redis.call('HINCRBY', histogram, ARGV[8], 1)
  redis.call('HINCRBY', histogram, 'count', 1)
  redis.call('HINCRBYFLOAT', histogram, 'sum', ARGV[7])
end
redis.call('ZREM', KEYS[2], id .. ' ticket.sla_warning', id .. ' ticket.sla_breached')
if ARGV[3] == 'resolve' then
  redis.call('ZREM', KEYS[2], id .. ' ticket.sla_warning:resolution', id .. ' ticket.sla_breached:resolution')
end
if ARGV[3] == 'resolve' and (route['resolved_at'] == cjson.null or route['resolved_at'] == nil) then
  route['resolved_at'] = now
  redis.call('ZREM', prefix .. 'team:' .. route['team'] .. ':waiting', id)
  redis.call('ZREM', prefix .. 'team:' .. route['team'] .. ':since', id)
  if route['assignee'] ~= cjson.null and route['assignee'] ~= nil then
    redis.call('ZREM', prefix .. 'agent:' .. route['assignee'] .. ':open', id)
  end
end
raw = cjson.encode(route)
redis.call('HSET', KEYS[1], 'route', raw)
return raw
"""

#: KEYS: team waiting, team since, agent open, agent all; ARGV: capacity (0: none), now, ticket prefix.
#: Returns the ticket id taken, "" when none waits, or "full" when the agent is at capacity.
_NEXT = """
local capacity = tonumber(ARGV[1])
if capacity > 0 and redis.call('ZCARD', KEYS[3]) >= capacity then return 'full' end
local top = redis.call('ZREVRANGE', KEYS[1], 0, 0)
if #top == 0 then return '' end
local id = top[1]
redis.call('ZREM', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
local hash = ARGV[3] .. id
local raw = redis.call('HGET', hash, 'route')
if not raw then return '' end
local route = cjson.decode(raw)
route['assignee'] = ARGV[4]
route['assigned_at'] = tonumber(ARGV[2])
redis.call('HSET', hash, 'route', cjson.encode(route))
redis.call('ZADD', KEYS[3], ARGV[2], id)
redis.call('ZADD', KEYS[4], ARGV[2], id)
return id
"""


class Routes(Part):
    def stage(self, tx: Transaction, ticket_id: str, plan: RoutePlan) -> None:
        """Within ``tx``: keep a new route, queue the ticket for its team, start its SLA clock."""
        record, team = plan.record, plan.record["team"]
        tx.pipe.hset(keys.ticket(ticket_id), "route", json.dumps(record))
        tx.pipe.zadd(team_key(team, "all"), {ticket_id: plan.created_at})
        if record.get("assignee") is None and record.get("resolved_at") is None:
            tx.pipe.zadd(team_key(team, "waiting"), {ticket_id: plan.score})
            tx.pipe.zadd(team_key(team, "since"), {ticket_id: plan.created_at})
        pending = pending_sla(record)
        if pending:
            tx.pipe.zadd(SLA_DUE, {f"{ticket_id} {event}": at for event, at in pending.items()})

    def unroute(self, tx: Transaction, ticket_id: str, raw_route: str | None) -> None:
        """Within ``tx``: the ticket out of every queue, agent list and SLA clock (deletion)."""
        tx.pipe.zrem(SLA_DUE, *(f"{ticket_id} {e}" for e in SLA_EVENTS))
        if not raw_route:
            return
        route = json.loads(raw_route)
        for part in ("waiting", "since", "all"):
            tx.pipe.zrem(team_key(route["team"], part), ticket_id)
        if route.get("assignee"):
            for part in ("open", "all"):
                tx.pipe.zrem(agent_key(route["assignee"], part), ticket_id)

    @guarded
    def routed(self, ticket_ids: list[str]) -> set[str]:
        """Those of the tickets that have a route already (notify ran for them before)."""
        if not ticket_ids:
            return set()
        pipe = self.r.pipeline(transaction=False)
        for tid in ticket_ids:
            pipe.hexists(keys.ticket(tid), "route")
        return {tid for tid, has in zip(ticket_ids, pipe.execute()) if has}

    @guarded
    def route_of(self, ticket_id: str) -> dict[str, Any] | None:
        raw = self.r.hget(keys.ticket(ticket_id), "route")
        return None if raw is None else json.loads(raw)

    @guarded
    def reroute(self, ticket_id: str, record: dict[str, Any], *, score: float, created_at: float) -> None:
        """Replace a ticket's route (after a correction): out of the old team's queue and SLA clock,
        into the new one's."""
        old = self.route_of(ticket_id)
        with Transaction(self.r) as tx:
            if old:
                for part in ("waiting", "since", "all"):
                    tx.pipe.zrem(team_key(old["team"], part), ticket_id)
                if old.get("assignee") and record.get("assignee") != old["assignee"]:
                    tx.pipe.zrem(agent_key(old["assignee"], "open"), ticket_id)
                tx.pipe.zrem(SLA_DUE, *(f"{ticket_id} {e}" for e in SLA_EVENTS))
            self.stage(tx, ticket_id, RoutePlan(record, score, created_at))

    @guarded
    def close_route(self, ticket_id: str, what: str, *, agent: str = "", now: float | None = None,
                    calendars: Mapping[str, "Calendar"] | None = None) -> dict:
        """Acknowledge (``ack``: the SLA clock stops) or resolve (``resolve``: also out of every queue);
        doing it again changes nothing. The first acknowledgement counts its team's time to first
        response in open time: of the route's SLA calendar among ``calendars`` (the routing's), on
        the wall clock for a route without one. Raises TicketNotFound for a ticket with no route."""
        now = time.time() if now is None else now
        raw, raw_route = self.r.hmget(keys.ticket(ticket_id), "ticket", "route")
        if raw is None or raw_route is None:
            raise TicketNotFound(ticket_id)
        created_at = json.loads(raw)["created_at"]
        open_s = _open_seconds(json.loads(raw_route), calendars or {}, created_at, now)
        result = self.r.eval(_CLOSE, 2, keys.ticket(ticket_id), SLA_DUE, ticket_id, repr(now), what, agent,
                             keys.PREFIX, repr(created_at), repr(open_s), bucket_of(open_s, FIRST_RESPONSE_BUCKETS_S))
        if not result:
            raise TicketNotFound(ticket_id)
        return json.loads(result)

    @guarded
    def take_next(self, team: str, agent: str, *, capacity: int | None, now: float | None = None) -> str | None:
        """Atomically hand ``agent`` the most urgent waiting ticket of ``team``: its id, None when none
        waits; raises AgentAtCapacity when the agent holds ``capacity`` open tickets already."""
        now = time.time() if now is None else now
        taken = self.r.eval(_NEXT, 4, team_key(team, "waiting"), team_key(team, "since"), agent_key(agent, "open"),
                            agent_key(agent, "all"), capacity or 0, repr(now), keys.PREFIX + "ticket:", agent)
        if taken == "full":
            raise AgentAtCapacity(f"{agent} already holds {capacity} open tickets")
        return taken or None

    @guarded
    def wait(self, ticket_id: str, *, now: float | None = None) -> dict[str, Any] | None:
        """Waiting on the customer: the route's ``waiting_since`` set and its SLA clock stopped (its
        events off the due set until ``resume``); doing it again, or on a resolved ticket, changes
        nothing. The route; None for a ticket without one."""
        now = time.time() if now is None else now

        def waiting(route: dict) -> dict | None:
            if route.get("waiting_since") is not None or route.get("resolved_at") is not None:
                return None
            sla = route.get("sla") and {**route["sla"], "paused_at": now}
            return {**route, "waiting_since": now, "sla": sla}
        return self._rewrite(ticket_id, waiting)

    @guarded
    def resume(self, ticket_id: str, move: Callable[[dict], dict], *, now: float | None = None) -> dict | None:
        """The customer answered: ``waiting_since`` cleared and the SLA clock running again with its
        times ``move``-d (smartsupport.routing.Routing.sla_resumed: the open time used before the pause
        is kept); a ticket not waiting is left as it is. The route; None for a ticket without one."""
        def resumed(route: dict) -> dict | None:
            if route.get("waiting_since") is None:
                return None
            sla = route.get("sla")
            return {**route, "waiting_since": None,
                    "sla": move(sla) if sla and sla.get("paused_at") is not None else sla}
        return self._rewrite(ticket_id, resumed)

    def _rewrite(self, ticket_id: str, change: Callable[[dict], dict | None]) -> dict[str, Any] | None:
        """Replace a route with ``change(route)`` (None: leave it) under WATCH, its SLA events on the
        due set following it; again from the start should another client change the ticket meanwhile."""
        while True:
            with Transaction(self.r) as tx:
                tx.watch(keys.ticket(ticket_id))
                raw = tx.pipe.hget(keys.ticket(ticket_id), "route")
                route = None if raw is None else json.loads(raw)
                changed = None if route is None else change(route)
                if changed is None:
                    return route
                tx.begin()
                tx.pipe.hset(keys.ticket(ticket_id), "route", json.dumps(changed))
                tx.pipe.zrem(SLA_DUE, *(f"{ticket_id} {e}" for e in SLA_EVENTS))
                pending = pending_sla(changed)
                if pending:
                    tx.pipe.zadd(SLA_DUE, {f"{ticket_id} {event}": at for event, at in pending.items()})
            if tx.committed:
                return changed

    @guarded
    def due_sla_events(self, *, now: float | None = None, limit: int = 200) -> list[tuple[str, str]]:
        """``(ticket id, event)`` SLA events whose time has come."""
        now = time.time() if now is None else now
        members = self.r.zrangebyscore(SLA_DUE, 0, now, start=0, num=limit)
        return [tuple(m.split(" ", 1)) for m in members]  # type: ignore[misc]

    @guarded
    def take_sla_event(self, tx: Transaction, ticket_id: str, event: str) -> bool:
        """Within ``tx``, first in it: take one due SLA event off the clock (a breach marks the route
        breached and counts against its team); False when it is not due any more (fired, or the
        ticket acknowledged). Under WATCH: should either change before ``tx`` runs, it writes nothing."""
        member = f"{ticket_id} {event}"
        tx.watch(SLA_DUE, keys.ticket(ticket_id))
        if tx.pipe.zscore(SLA_DUE, member) is None:
            return False
        raw = tx.pipe.hget(keys.ticket(ticket_id), "route")
        tx.begin()
        tx.pipe.zrem(SLA_DUE, member)
        if raw:
            route = json.loads(raw)
            route["sla"][next(fired for name, _, fired, _ in SLA_CLOCK if name == event)] = True
            tx.pipe.hset(keys.ticket(ticket_id), "route", json.dumps(route))
            if event == "ticket.sla_breached":
                tx.pipe.hincrby(TEAM_STATS, f"breaches:{route['team']}", 1)
            elif event == "ticket.sla_breached:resolution":
                tx.pipe.hincrby(TEAM_STATS, f"resolution_breaches:{route['team']}", 1)
        return True

    @guarded
    def teams_summary(self, teams: list[str], *, now: float | None = None) -> list[dict[str, Any]]:
        """Per team: tickets waiting, the oldest waiting one's age, SLA breaches, mean time to acknowledge."""
        now = time.time() if now is None else now
        pipe = self.r.pipeline(transaction=False)
        for team in teams:
            pipe.zcard(team_key(team, "waiting"))
            pipe.zrange(team_key(team, "since"), 0, 0, withscores=True)
            pipe.zcard(team_key(team, "all"))
        pipe.hgetall(TEAM_STATS)
        replies = pipe.execute()
        stats = replies[-1]
        out = []
        for i, team in enumerate(teams):
            waiting, oldest, total = replies[3 * i: 3 * i + 3]
            acks = int(stats.get(f"acks:{team}", 0))
            out.append({"team": team, "waiting": waiting, "tickets": total,
                        "oldest_waiting_s": round(now - oldest[0][1], 1) if oldest else None,
                        "sla_breaches": int(stats.get(f"breaches:{team}", 0)), "acknowledged": acks,
                        "mean_time_to_ack_s": round(float(stats.get(f"ack_s:{team}", 0)) / acks, 1) if acks else None})
        return out

    @guarded
    def sla_metrics(self, teams: list[str]) -> dict[str, dict[str, Any]]:
        """Per team, what /metrics reports of its SLA: ``breaches`` by target (``first_response``,
        ``resolution``) and ``first_response_open``, the histogram's hash (bucket -> count, sum, count)."""
        pipe = self.r.pipeline(transaction=False)
        for team in teams:
            pipe.hgetall(keys.FIRST_RESPONSE_METRICS + team)
        pipe.hgetall(TEAM_STATS)
        *histograms, stats = pipe.execute()
        return {team: {"breaches": {"first_response": int(stats.get(f"breaches:{team}", 0)),
                                    "resolution": int(stats.get(f"resolution_breaches:{team}", 0))},
                       "first_response_open": histogram}
                for team, histogram in zip(teams, histograms)}

    @guarded
    def route_index(self, *, team: str | None, assignee: str | None, limit: int) -> list[str]:
        """Newest first, the tickets of a team and/or an assignee."""
        if team and assignee:
            found = self.r.zrevrange(agent_key(assignee, "all"), 0, -1)
            pipe = self.r.pipeline(transaction=False)
            for tid in found:
                pipe.zscore(team_key(team, "all"), tid)
            return [t for t, s in zip(found, pipe.execute()) if s is not None][:limit]
        index = team_key(team, "all") if team else agent_key(assignee or "", "all")
        return self.r.zrevrange(index, 0, limit - 1)


def _open_seconds(route: dict[str, Any], calendars: Mapping[str, "Calendar"], start: float, end: float) -> float:
    """Open time from ``start`` to ``end`` in the route's SLA calendar (the wall clock without one,
    or when the routing no longer has it); none before an acknowledgement that already happened."""
    if route.get("acknowledged_at") is not None:
        return 0.0  # not counted again: spare the calendar maths
    calendar = calendars.get((route.get("sla") or {}).get("calendar") or "")
    return max(0.0, calendar.open_seconds_between(start, end) if calendar is not None else end - start)
