"""Work pushed to agents: who is there, and handing a waiting ticket to one of them.

  ss:presence                 hash: agent -> available | away | calendar (follows their calendar)
  ss:presence:since           hash: agent -> when they last said so
  ss:team:<team>:last         the member a ticket was last handed to (round robin goes on after them)

A ticket is handed out by one Lua script that checks, at that instant, that it still waits and that
the agent is there and within capacity: two schedulers, or a scheduler and an agent going away,
can run at once and a ticket is still given once, to someone who can take it. The team queues and
agents' lists are those of routes.py.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Iterable

from . import keys
from .audit import AUDIT_CAP
from .base import Part, guarded
from .routes import agent_key, team_key

PRESENCE = keys.PREFIX + "presence"
PRESENCE_SINCE = keys.PREFIX + "presence:since"
STATUSES = ("available", "away", "calendar")
#: What ``assign`` answers for a ticket that no longer waits (handed out meanwhile, resolved, deleted).
GONE = ""


@dataclass(frozen=True)
class Candidate:
    """A member who may be given a ticket, as the script checks them: capacity 0 is none, and
    ``calendar_open`` says whether their calendar is open now (for those who follow it)."""

    agent: str
    capacity: int = 0
    calendar_open: bool = False


@dataclass(frozen=True)
class Waiting:
    """A ticket waiting in a team's queue, with what members' skills are matched against."""

    ticket_id: str
    category: str
    language: str | None


#: KEYS: team waiting, team since, presence, team last; ARGV: ticket id, now, key prefix, policy, then
#: (agent, capacity, calendar open) per candidate in the team's order. Returns the agent, "" when none
#: of them can take it, false when the ticket no longer waits.
_ASSIGN = """
local id = ARGV[1]
if not redis.call('ZSCORE', KEYS[1], id) then return false end
local prefix, policy = ARGV[3], ARGV[4]
local last = redis.call('GET', KEYS[4])
local n = (#ARGV - 4) / 3
local start = 0
for i = 0, n - 1 do if ARGV[5 + 3 * i] == last then start = i + 1 end end
local chosen, chosen_load = nil, nil
for k = 0, n - 1 do
  local i = (start + k) % n
  local name, cap, open = ARGV[5 + 3 * i], tonumber(ARGV[6 + 3 * i]), ARGV[7 + 3 * i]
  local status = redis.call('HGET', KEYS[3], name)
  if status == 'available' or ((not status or status == 'calendar') and open == '1') then
    local load = redis.call('ZCARD', prefix .. 'agent:' .. name .. ':open')
    if (cap == 0 or load < cap) and (chosen == nil or load < chosen_load) then
      chosen, chosen_load = name, load
      if policy == 'round_robin' then break end
    end
  end
end
if chosen == nil then return '' end
local hash = prefix .. 'ticket:' .. id
local raw = redis.call('HGET', hash, 'route')
if not raw then return false end
local route = cjson.decode(raw)
route['assignee'] = chosen
route['assigned_at'] = tonumber(ARGV[2])
redis.call('HSET', hash, 'route', cjson.encode(route))
redis.call('ZREM', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
redis.call('ZADD', prefix .. 'agent:' .. chosen .. ':open', ARGV[2], id)
redis.call('ZADD', prefix .. 'agent:' .. chosen .. ':all', ARGV[2], id)
redis.call('SET', KEYS[4], chosen)
redis.call('RPUSH', hash .. ':audit', cjson.encode({at = tonumber(ARGV[2]), actor = 'assignment', role = 'system',
  action = 'assigned', detail = {agent = chosen, assignment = policy}}))
redis.call('LTRIM', hash .. ':audit', -AUDIT_CAP, -1)
return chosen
""".replace("AUDIT_CAP", str(AUDIT_CAP))

#: KEYS: the agent's open tickets; ARGV: key prefix, agent, now. Their unacknowledged tickets go back to
#: their teams' queues (by urgency, as routed). Returns the teams they went back to.
_RELEASE = """
local prefix, agent = ARGV[1], ARGV[2]
local teams = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local hash = prefix .. 'ticket:' .. id
  local raw = redis.call('HGET', hash, 'route')
  local route = raw and cjson.decode(raw)
  local function unset(v) return v == nil or v == cjson.null end
  if route and route['assignee'] == agent and unset(route['resolved_at']) and unset(route['acknowledged_at']) then
    route['assignee'] = cjson.null
    route['assigned_at'] = cjson.null
    redis.call('HSET', hash, 'route', cjson.encode(route))
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', prefix .. 'agent:' .. agent .. ':all', id)
    local urgency = redis.call('HGET', hash, 'urgency')
    local score = urgency and cjson.decode(urgency)['score'] or 0
    local created = cjson.decode(redis.call('HGET', hash, 'ticket'))['created_at']
    redis.call('ZADD', prefix .. 'team:' .. route['team'] .. ':waiting', score, id)
    redis.call('ZADD', prefix .. 'team:' .. route['team'] .. ':since', created, id)
    redis.call('RPUSH', hash .. ':audit', cjson.encode({at = tonumber(ARGV[3]), actor = 'assignment',
      role = 'system', action = 'released', detail = {agent = agent, why = 'went away before acknowledging it'}}))
    redis.call('LTRIM', hash .. ':audit', -AUDIT_CAP, -1)
    teams[route['team']] = true
  end
end
local out = {}
for team, _ in pairs(teams) do table.insert(out, team) end
return out
""".replace("AUDIT_CAP", str(AUDIT_CAP))


class Assignment(Part):
    @guarded
    def set_presence(self, agent: str, status: str, *, now: float | None = None) -> None:
        """``available``, ``away`` or ``calendar`` (back to following their calendar)."""
        if status not in STATUSES:
            raise ValueError(f"presence must be one of {STATUSES}, not {status!r}")
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(PRESENCE, agent, status)
        pipe.hset(PRESENCE_SINCE, agent, repr(time.time() if now is None else now))
        pipe.execute()

    @guarded
    def presence(self, agents: Iterable[str]) -> dict[str, dict]:
        """Each agent's ``status`` (``calendar`` when they never said) and ``since`` (None: never),
        and ``open``: how many assigned tickets they hold unresolved."""
        agents = list(agents)
        pipe = self.r.pipeline(transaction=False)
        for agent in agents:
            pipe.hget(PRESENCE, agent)
            pipe.hget(PRESENCE_SINCE, agent)
            pipe.zcard(agent_key(agent, "open"))
        replies = pipe.execute()
        return {agent: {"status": replies[3 * i] or "calendar",
                        "since": float(replies[3 * i + 1]) if replies[3 * i + 1] else None,
                        "open": int(replies[3 * i + 2])}
                for i, agent in enumerate(agents)}

    @guarded
    def waiting(self, team: str, *, limit: int = 500) -> list[Waiting]:
        """The team's waiting tickets, most urgent first, with their category and language."""
        ids = self.r.zrevrange(team_key(team, "waiting"), 0, limit - 1)
        pipe = self.r.pipeline(transaction=False)
        for tid in ids:
            pipe.hmget(keys.ticket(tid), "category", "language")
        out = []
        for tid, (category, language) in zip(ids, pipe.execute()):
            out.append(Waiting(tid, json.loads(category)["label"] if category else "",
                               json.loads(language).get("code") if language else None))
        return out

    @guarded
    def assign(self, team: str, ticket_id: str, candidates: list[Candidate], policy: str, *,
               now: float | None = None) -> str | None:
        """Hand the waiting ticket to one of the candidates who is there and within capacity: the next
        in turn after the last one given work (``round_robin``) or the one holding fewest open
        tickets (``least_loaded``, ties in turn). None: none of them can; GONE: it no longer waits."""
        if not candidates:
            return None
        args: list = [ticket_id, repr(time.time() if now is None else now), keys.PREFIX, policy]
        for c in candidates:
            args += [c.agent, c.capacity, "1" if c.calendar_open else "0"]
        chosen = self.r.eval(_ASSIGN, 4, team_key(team, "waiting"), team_key(team, "since"), PRESENCE,
                             team_key(team, "last"), *args)
        return GONE if chosen is None else (chosen or None)

    @guarded
    def release(self, agent: str, *, now: float | None = None) -> list[str]:
        """The agent's assigned, unacknowledged tickets back to their teams' queues (they went away);
        the teams they went back to."""
        return self.r.eval(_RELEASE, 1, agent_key(agent, "open"), keys.PREFIX, agent,
                           repr(time.time() if now is None else now))
