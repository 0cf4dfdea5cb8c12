"""What every part of the store shares: the Redis client, and the guard that maps its errors."""

from __future__ import annotations

import functools
from typing import Callable, TypeVar

import redis

from ..errors import StoreFull, StoreUnavailable

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
