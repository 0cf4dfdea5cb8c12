"""What every part of the store shares: the Redis client, and the guard that maps its errors."""

from __future__ import annotations

import functools
from typing import Callable, TypeVar

import redis

from ..errors import StoreFull, StoreUnavailable
from . import keys

F = TypeVar("F", bound=Callable)


def guarded(method: F) -> F:
    """Redis being away (refused, timed out, still loading its data) becomes StoreUnavailable, and
    Redis refusing writes past its maxmemory StoreFull."""
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
            raise StoreUnavailable(f"Redis is unavailable: {exc}") from exc
        except redis.exceptions.OutOfMemoryError as exc:  # past maxmemory, with noeviction
            raise StoreFull(f"Redis refuses writes: {exc}") from exc
    return wrapper  # type: ignore[return-value]


class Part:
    """One part of the store: a small class over the Redis client every part shares, owning its keys."""

    def __init__(self, client: redis.Redis) -> None:
        self.r = client


def claim(client: redis.Redis, key: str, ticket_id: str) -> str:
    """Bind ``key`` (something outside that becomes a ticket) to ``ticket_id`` unless it is bound
    already; returns the ticket it is bound to. A binding whose ticket was never written (a crash in
    between) is taken over."""
    if client.set(key, ticket_id, nx=True):
        return ticket_id
    bound = client.get(key)
    if bound and not client.exists(keys.ticket(bound)):
        client.set(key, ticket_id)
        return ticket_id
    return bound or ticket_id


def release(client: redis.Redis, key: str, ticket_id: str) -> None:
    """Forget a binding whose ticket could not be written (only if it is still ours)."""
    if client.get(key) == ticket_id:
        client.delete(key)
