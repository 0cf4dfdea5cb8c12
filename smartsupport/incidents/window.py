"""The recent tickets a worker process compares new ones with, in memory (replayed from Redis's log)."""

from __future__ import annotations

import numpy as np


class RecentWindow:
    """The recent tickets in memory: ids, times, unit vectors, categories and incident (or None)."""

    def __init__(self, dim: int | None = None, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self.ids: list[str] = []
        self.times: list[float] = []
        self.categories: list[str] = []
        self.incident: list[str | None] = []
        self.index: dict[str, int] = {}
        self._vectors = np.zeros((0, dim or 0), dtype=np.float32)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def __contains__(self, ticket_id: str) -> bool:
        return ticket_id in self.index

    @property
    def vectors(self) -> np.ndarray:
        return self._vectors[:self._n]

    def add(self, ticket_id: str, at: float, vector: np.ndarray, category: str, incident: str | None = None) -> None:
        if ticket_id in self.index:
            return
        if self._vectors.shape[1] != vector.shape[0]:
            self._vectors = np.zeros((max(64, self._n), vector.shape[0]), dtype=np.float32)
        if self._n == len(self._vectors):
            grown = np.zeros((min(max(64, 2 * self._n), self.capacity + 64), vector.shape[0]), dtype=np.float32)
            grown[:self._n] = self._vectors[:self._n]
            self._vectors = grown
        self._vectors[self._n] = vector
        self.index[ticket_id] = self._n
        self.ids.append(ticket_id)
        self.times.append(at)
        self.categories.append(category)
        self.incident.append(incident)
        self._n += 1
        if self._n > self.capacity + 63:  # drop the oldest in one go, not one by one
            self._keep_from(self._n - self.capacity)

    def assign(self, ticket_id: str, incident_id: str) -> None:
        i = self.index.get(ticket_id)
        if i is not None:
            self.incident[i] = incident_id

    def prune(self, now: float, window_s: float) -> None:
        """Forget tickets older than the window (times are nearly sorted: arrival order)."""
        cutoff = now - window_s
        first = next((i for i, t in enumerate(self.times) if t >= cutoff), self._n)
        if first:
            self._keep_from(first)

    def _keep_from(self, first: int) -> None:
        self._vectors[:self._n - first] = self._vectors[first:self._n].copy()
        for name in ("ids", "times", "categories", "incident"):
            setattr(self, name, getattr(self, name)[first:])
        self._n -= first
        self.index = {tid: i for i, tid in enumerate(self.ids)}

    def unassigned_close_to(self, vector: np.ndarray, threshold: float) -> list[int]:
        """Positions of the tickets in no incident whose cosine similarity to ``vector`` >= threshold."""
        if not self._n:
            return []
        sims = self.vectors @ vector
        return [int(i) for i in np.flatnonzero(sims >= threshold) if self.incident[i] is None]
