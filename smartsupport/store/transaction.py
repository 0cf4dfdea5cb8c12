"""Writes of several parts that must land together: one MULTI/EXEC that the caller opens and each
part queues its commands on, the way rq's parts take a ``pipeline=`` (``Job.save``,
``Queue.enqueue_job``, ``registry.add``)::

    with store.transaction() as tx:
        store.routes.stage(tx, ticket_id, plan)
        fresh = store.deliveries.open(tx, ticket_id, url, event_id, now)
    fresh.value  # the reply, once the transaction ran

The transaction runs when the block ends, and is dropped when the block raises. A part that must
read before it writes (a check under WATCH) calls ``watch`` and ``begin``, before any part queues.
"""

from __future__ import annotations

from typing import Any, Callable, Generic, Iterable, TypeVar

import redis

from .base import guarded

T = TypeVar("T")


class Reply(Generic[T]):
    """The reply to commands queued in a transaction, readable once it ran."""

    def __init__(self, tx: "Transaction", index: int, count: int, convert: Callable[..., T]) -> None:
        self._tx, self._index, self._count, self._convert = tx, index, count, convert

    @property
    def value(self) -> T:
        if self._tx.replies is None:
            raise RuntimeError("the transaction has not run")
        return self._convert(*self._tx.replies[self._index:self._index + self._count])


class Transaction:
    """One MULTI/EXEC over the store's client, for the writes of several parts."""

    def __init__(self, client: redis.Redis) -> None:
        self.pipe = client.pipeline(transaction=True)
        #: The replies, in the order the commands were queued (None until the transaction ran).
        self.replies: list[Any] | None = None
        #: False when a watched key changed meanwhile and nothing was written.
        self.committed = False

    def __enter__(self) -> "Transaction":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._execute()
        finally:
            self.pipe.reset()

    @guarded
    def watch(self, *names: str) -> None:
        """Watch ``names``: until ``begin``, commands on ``pipe`` run at once (the reads the writes
        depend on), and the transaction writes nothing if another client changes them meanwhile."""
        self.pipe.watch(*names)

    def begin(self) -> None:
        """After the reads under ``watch``: the commands from here on are queued."""
        self.pipe.multi()

    def next_reply(self, convert: Callable[..., T] = lambda raw: raw, *, count: int = 1) -> Reply[T]:
        """The reply to the next ``count`` commands queued, ``convert``-ed, once the transaction ran."""
        return Reply(self, len(self.pipe), count, convert)

    def queue_commands(self, commands: Iterable[tuple[str, tuple]]) -> None:
        """Queue raw ``(command, args)`` pairs, as a publish captured for this transaction."""
        for command, args in commands:
            getattr(self.pipe, command)(*args)

    @guarded
    def _execute(self) -> None:
        if not len(self.pipe):  # nothing queued (or a check under watch found nothing to do)
            self.replies, self.committed = [], True
            return
        try:
            self.replies, self.committed = self.pipe.execute(), True
        except redis.WatchError:  # a watched key changed meanwhile: nothing was written
            self.replies = []
