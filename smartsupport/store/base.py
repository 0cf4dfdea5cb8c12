"""What every part of the store shares: the Redis client, the error guard, status moves, batch reads."""

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


class StoreBase:
    """The Redis client the parts of TicketStore share."""

    def __init__(self, client: redis.Redis) -> None:
        self.r = client

    @guarded
    def ping(self) -> bool:
        return bool(self.r.ping())

    def _existing(self, ticket_ids: list[str], *fields: str) -> list[tuple[str, list[str | None]]]:
        """``(id, [ticket JSON, *fields])`` of each ticket that still exists, in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        for tid in ticket_ids:
            pipe.hmget(keys.ticket(tid), ["ticket", *fields])
        return [(tid, row) for tid, row in zip(ticket_ids, pipe.execute()) if row[0] is not None]
