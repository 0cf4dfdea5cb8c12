"""The sorted sets that serve GET /api/tickets, whatever its filter, in O(log n + limit).

Every ticket is in ``created`` and ``urgency`` (all tickets), in the pair of its status
(``status:<s>`` by creation time, ``status:<s>:urgency`` by urgency) and in the pair of its
submitter's key. A status move and a new urgency score update them in Redis itself (Lua), in the
caller's MULTI, so a list never has to scan every ticket to filter. ``finished`` holds the done and
failed tickets by when they ended, for retention. ``migrate`` rebuilds them for a store written by
an older layout.
"""

from __future__ import annotations

import json

import redis

from ..ticket import STATUSES, Ticket
from . import keys

LAYOUT = "2"

#: Move a ticket to status ARGV[2]: its hash, and its place in every status pair (scores from the
#: ``created`` and ``urgency`` sets). ARGV: id, status, key prefix, every status.
_MOVE = """
local id, new, p = ARGV[1], ARGV[2], ARGV[3]
local created = redis.call('ZSCORE', p .. 'tickets:created', id)
if not created then return 0 end
local urgency = redis.call('ZSCORE', p .. 'tickets:urgency', id) or '-1'
for i = 4, #ARGV do
  if ARGV[i] ~= new then
    redis.call('ZREM', p .. 'tickets:status:' .. ARGV[i], id)
    redis.call('ZREM', p .. 'tickets:status:' .. ARGV[i] .. ':urgency', id)
  end
end
redis.call('ZADD', p .. 'tickets:status:' .. new, created, id)
redis.call('ZADD', p .. 'tickets:status:' .. new .. ':urgency', urgency, id)
redis.call('HSET', p .. 'ticket:' .. id, 'status', new)
return 1
"""
#: A ticket's new urgency score, in every urgency set it is in. ARGV: id, score, key prefix, every status.
_RESCORE = """
local id, score, p = ARGV[1], ARGV[2], ARGV[3]
redis.call('ZADD', p .. 'tickets:urgency', 'XX', score, id)
for i = 4, #ARGV do
  redis.call('ZADD', p .. 'tickets:status:' .. ARGV[i] .. ':urgency', 'XX', score, id)
end
local submitter = redis.call('HGET', p .. 'ticket:' .. id, 'submitter')
if submitter then redis.call('ZADD', p .. 'tickets:submitter:' .. submitter .. ':urgency', 'XX', score, id) end
return 1
"""


def add(pipe, ticket: Ticket) -> None:
    """Within a caller's MULTI: a new ticket, queued, in every index."""
    pipe.zadd(keys.CREATED, {ticket.id: ticket.created_at})
    pipe.zadd(keys.BY_URGENCY, {ticket.id: -1})
    pipe.zadd(keys.status("queued"), {ticket.id: ticket.created_at})
    pipe.zadd(keys.status("queued") + ":urgency", {ticket.id: -1})
    if ticket.submitter:
        pipe.zadd(keys.submitter(ticket.submitter), {ticket.id: ticket.created_at})
        pipe.zadd(keys.submitter(ticket.submitter) + ":urgency", {ticket.id: -1})


def move(pipe, ticket_id: str, status: str) -> None:
    """Within a caller's MULTI: the ticket now has ``status``."""
    assert status in STATUSES, status
    pipe.eval(_MOVE, 0, ticket_id, status, keys.PREFIX, *STATUSES)


def rescore(pipe, ticket_id: str, score: float) -> None:
    """Within a caller's MULTI: the ticket's urgency score is now ``score``."""
    pipe.eval(_RESCORE, 0, ticket_id, repr(float(score)), keys.PREFIX, *STATUSES)


def remove(pipe, ticket_id: str, submitter: str) -> None:
    """Within a caller's MULTI: the ticket leaves every index."""
    for key in (keys.CREATED, keys.BY_URGENCY, keys.FINISHED):
        pipe.zrem(key, ticket_id)
    for status in STATUSES:
        pipe.zrem(keys.status(status), ticket_id)
        pipe.zrem(keys.status(status) + ":urgency", ticket_id)
    if submitter:
        pipe.zrem(keys.submitter(submitter), ticket_id)
        pipe.zrem(keys.submitter(submitter) + ":urgency", ticket_id)


def listing(*, sort: str, status: str | None, submitter: str | None) -> str:
    """The index that lists tickets with this filter in this order (with both filters: the
    submitter's, whose rows the caller filters by status)."""
    base = keys.submitter(submitter) if submitter else keys.status(status) if status else None
    if base is None:
        return keys.BY_URGENCY if sort == "urgency" else keys.CREATED
    return base + ":urgency" if sort == "urgency" else base


def migrate(client: redis.Redis) -> int:
    """Rebuild the indexes when the store was written by an older layout (status sets instead of
    sorted sets, no submitter or finished index); returns the tickets indexed (0: nothing to do)."""
    if client.get(keys.INDEX_VERSION) == LAYOUT:
        return 0
    for status in STATUSES:
        if client.type(keys.status(status)) == "set":
            client.delete(keys.status(status))
    count = 0
    for tid in client.zrange(keys.CREATED, 0, -1):
        raw = client.hgetall(keys.ticket(tid))
        if raw.get("ticket"):
            _reindex(client, tid, raw)
            count += 1
    client.set(keys.INDEX_VERSION, LAYOUT)
    return count


def _reindex(client: redis.Redis, ticket_id: str, raw: dict[str, str]) -> None:
    ticket = json.loads(raw["ticket"])
    pipe = client.pipeline(transaction=True)
    if ticket.get("submitter"):
        pipe.hset(keys.ticket(ticket_id), "submitter", ticket["submitter"])
        pipe.zadd(keys.submitter(ticket["submitter"]), {ticket_id: ticket["created_at"]})
    move(pipe, ticket_id, raw.get("status", "queued"))
    score = json.loads(raw["urgency"])["score"] if raw.get("urgency") else -1
    rescore(pipe, ticket_id, score)
    if ticket.get("submitter"):
        pipe.zadd(keys.submitter(ticket["submitter"]) + ":urgency", {ticket_id: score})
    ended = raw.get("t:done") or raw.get("t:failed")
    if ended:
        pipe.zadd(keys.FINISHED, {ticket_id: float(ended)})
    pipe.execute()
