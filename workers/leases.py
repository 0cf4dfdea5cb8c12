"""A dead worker's messages go back on their queues within seconds, not after the visibility timeout.

On Redis, kombu keeps every message a worker has taken but not acknowledged in an ``unacked`` hash
and gives it back to its queue only once it is older than the visibility timeout (300 s: it must
exceed the longest task and countdown). A worker process killed by SIGKILL or the OOM killer
never says which messages it held, so they waited those five minutes.

So each worker process holds a *lease*: every REFRESH_S it writes the delivery tags of the messages
it holds (taken, not yet acknowledged) to a set of its own, and the lease's expiry, LEASE_S ahead,
to ``ss:leases``. Every worker, at each refresh, gives back to its queue each message of the
``unacked`` hash that is older than GRACE_S and held under no live lease: within about LEASE_S of a
process's death, whether or not it is restarted. A message is never given back while its holder
lives (every stage is safe to run twice all the same), and kombu's restore is one transaction per
message, so two workers restoring at once give each back once.

One message a dead process may have held is in no hash: Redis hands a message over as BRPOP
returns, and the worker notes it as unacknowledged only once it has read the answer. So the worker
that finds a death also sends ``sweep_after_death`` (workers.tasks), which re-queues every
unfinished ticket that no message carries any more.

RabbitMQ needs none of it: a dead consumer's connection drops and its messages go back at once.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import uuid
from typing import Any

from celery import bootsteps
from celery.signals import task_received

log = logging.getLogger(__name__)

#: How long a lease lives without being refreshed: a process silent this long is taken for dead.
LEASE_S = 15.0
#: Seconds between a process's refreshes of its lease (and its looks for messages held by none).
REFRESH_S = 2.0
#: A message younger than this may not be in its holder's lease yet: it is never given back.
GRACE_S = 10.0
#: The live leases, each with its expiry (Redis server time).
LEASES_KEY = "ss:leases"


def lease_key(lease_id: str) -> str:
    """The set of delivery tags the lease ``lease_id`` holds."""
    return f"ss:lease:{lease_id}"


class Held:
    """The messages this process has taken and not yet acknowledged (``task_received``), by tag."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: dict[str, Any] = {}

    def add(self, message: Any) -> None:
        tag = getattr(message, "delivery_tag", None)
        if tag is not None:
            with self._lock:
                self._messages[str(tag)] = message

    def tags(self) -> list[str]:
        """The tags still held, forgetting the messages acknowledged, rejected or requeued since."""
        with self._lock:
            self._messages = {tag: m for tag, m in self._messages.items() if not m.acknowledged}
            return list(self._messages)


def refresh(client, lease_id: str, tags: list[str]) -> float:
    """Write the lease ``lease_id`` holding ``tags``; the Redis server's time now."""
    seconds, micros = client.time()
    now = seconds + micros / 1e6
    key = lease_key(lease_id)
    with client.pipeline(transaction=True) as pipe:
        pipe.delete(key)
        if tags:
            pipe.sadd(key, *tags)
            pipe.expire(key, int(LEASE_S) + 1)
        pipe.zadd(LEASES_KEY, {lease_id: now + LEASE_S})
        pipe.execute()
    return now


def bury_dead(client, now: float) -> int:
    """Forget the leases that expired by ``now``; how many this call forgot (two workers may look
    at once: one of them counts each)."""
    dead = client.zrangebyscore(LEASES_KEY, "-inf", now)
    if not dead:
        return 0
    with client.pipeline(transaction=False) as pipe:
        pipe.zrem(LEASES_KEY, *dead)
        pipe.delete(*[lease_key(_text(d)) for d in dead])
        return int(pipe.execute()[0])


def orphans(client, now: float, *, unacked_index_key: str) -> list[str]:
    """The tags of messages taken over GRACE_S ago that no live lease holds."""
    old = client.zrangebyscore(unacked_index_key, "-inf", now - GRACE_S)
    if not old:
        return []
    live = [lease_key(_text(i)) for i in client.zrangebyscore(LEASES_KEY, now, "+inf")]
    held = {_text(t) for t in client.sunion(live)} if live else set()
    return [tag for tag in map(_text, old) if tag not in held]


def first_arguments(channel, queues: list[str]) -> set[str]:
    """The first argument (a ticket's id, for the stages) of every message waiting on ``queues``
    (each of its priority lists) or taken and not acknowledged: what some worker will still run."""
    client = channel.client
    with client.pipeline(transaction=False) as pipe:
        for queue in queues:
            for priority in channel.priority_steps:
                pipe.lrange(channel._q_for_pri(queue, priority), 0, -1)
        pipe.hvals(channel.unacked_key)
        *lists, unacked = pipe.execute()
    raws = [json.loads(raw) for raws in lists for raw in raws] + [json.loads(raw)[0] for raw in unacked]
    found = set()
    for raw in raws:
        try:
            body = raw["body"]
            if raw.get("properties", {}).get("body_encoding") == "base64":
                body = base64.b64decode(body)
            args = json.loads(body)[0]
        except (KeyError, IndexError, TypeError, ValueError):
            continue  # not a Celery task message
        if args and isinstance(args[0], str):
            found.add(args[0])
    return found


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Lease(bootsteps.StartStopStep):
    """The consumer's lease (see the module's docstring), refreshed on the consumer's timer."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent, **kwargs) -> None:
        super().__init__(parent, **kwargs)
        self.id = f"{parent.hostname}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held = Held()
        self._timer = None

    def start(self, parent) -> None:
        if not parent.app.conf.broker_url.startswith(("redis", "sentinel", "rediss")):
            return  # RabbitMQ gives a dead consumer's messages back by itself
        task_received.connect(self._received, weak=False)
        self._timer = parent.timer.call_repeatedly(REFRESH_S, self._tick, (parent,), priority=10)
        self._tick(parent)

    def stop(self, parent) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        task_received.disconnect(self._received)

    def _received(self, sender=None, request=None, **_: Any) -> None:
        self.held.add(getattr(request, "message", None))

    def _tick(self, parent) -> None:
        try:
            with parent.app.pool.acquire(block=True) as connection:
                channel = connection.default_channel
                now = refresh(channel.client, self.id, self.held.tags())
                dead = bury_dead(channel.client, now)
                for tag in orphans(channel.client, now, unacked_index_key=channel.unacked_index_key):
                    log.warning("giving back message %s: the worker that took it is gone", tag)
                    channel.qos.restore_by_tag(tag)  # at the head of its queue, as kombu's own restore does
                if dead:  # and the one message it may have taken without noting it (workers.tasks)
                    log.warning("%d worker process(es) gone: looking for tickets no message carries", dead)
                    parent.app.send_task("workers.tasks.sweep_after_death")
        except Exception as exc:  # the broker is away: the next tick tries again
            log.info("lease not refreshed (%s: %s)", type(exc).__name__, exc)
