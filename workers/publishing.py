"""Publishing through kombu: many messages in one Redis round trip, and a publish captured for a MULTI.

Celery and kombu always build the messages. ``captured_commands`` lets kombu's Redis transport hand
the commands that would deliver a message (an LPUSH to the queue's priority list) to a publish
batch's ``add`` that only collects them, so the API can run them in the store's own transaction.
"""

from __future__ import annotations

import math
from typing import Iterable

from celery import Signature, Task
from kombu import Producer

from smartsupport.parsing import is_amqp
from smartsupport.store import TicketStore, connect

from .celery import app


def send_on(task: Task, arguments: Iterable[tuple]) -> None:
    """One message to ``task`` per tuple of arguments, all published in one Redis round trip."""
    arguments = list(arguments)
    if not arguments:
        return
    with app.producer_or_acquire() as producer, producer.batch():
        for args in arguments:
            task.apply_async(args, producer=producer)


def countdown_s(seconds: float) -> float:
    """A task's countdown as the broker can hold it. On RabbitMQ, Celery's native delayed delivery
    (which quorum queues need) counts whole seconds and fails on a countdown under one (celery 5.6
    routes ``int(countdown)``, which must be positive): there it is rounded up."""
    if seconds > 0 and is_amqp(app.conf.broker_url):
        return float(math.ceil(seconds))
    return seconds


def captured_commands(signature: Signature, ticket_store: TicketStore) -> list[tuple[str, tuple]] | None:
    """The Redis commands that would publish ``signature``, built by Celery and kombu but not run,
    for the caller to run in one MULTI on ``ticket_store``.

    None where the broker cannot join that transaction: a transport other than Redis, another Redis
    than the store's, a kombu key prefix; and while this process has not connected to the broker
    yet (connecting retries for seconds while Redis is away; the store fails at once)."""
    with app.producer_or_acquire() as producer:
        if not producer.connection.connected:
            return None
        channel = producer.channel
        if (not hasattr(channel, "create_publish_batch") or getattr(channel, "global_keyprefix", "")
                or not connect.same_server(channel.pool, ticket_store.r.connection_pool)):
            return None
        captured = _CapturedPublish(channel)
        # No retry: kombu's retry would publish through the real channel, outside the transaction.
        signature.apply_async(retry=False, producer=Producer(captured, auto_declare=False))
    if not captured.commands:
        raise RuntimeError("kombu published the message instead of handing over its commands")
    return captured.commands


class _CapturedPublish:
    """A kombu Redis channel that keeps the commands of a publish instead of running them: kombu's
    Redis transport hands a message's final commands (LPUSH to the queue's priority list) to a
    publish batch's ``add``, which here only collects them. Everything else is the real channel."""

    def __init__(self, channel) -> None:
        self._channel = channel
        self.commands: list[tuple[str, tuple]] = []

    def __getattr__(self, name: str):
        return getattr(self._channel, name)

    def basic_publish(self, message, **kwargs):
        return self._channel.basic_publish(message, _publish_batch=self, **kwargs)

    def add(self, name: str, *args) -> None:
        self.commands.append((name, args))
