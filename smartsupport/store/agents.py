"""Agents' API keys: each agent (a member of a team in the routing) signs in with keys of their own.

  ss:agents:keys   hash: SHA-256 digest of a key -> {"agent", "created_at"} JSON

Only digests are kept: the key itself is shown once, when it is issued. A key is named by its
fingerprint, the first FINGERPRINT_CHARS of its digest (as the API names every key).
"""

from __future__ import annotations

import json
import time
from typing import Any

from . import keys
from .base import Part, guarded

AGENT_KEYS = keys.PREFIX + "agents:keys"
FINGERPRINT_CHARS = 16


class Agents(Part):
    @guarded
    def add_key(self, agent: str, digest: str, *, now: float | None = None) -> dict[str, Any]:
        """Keep a new key (its digest) for ``agent``; returns how the key is listed."""
        entry = {"agent": agent, "created_at": time.time() if now is None else now}
        self.r.hset(AGENT_KEYS, digest, json.dumps(entry))
        return {"fingerprint": digest[:FINGERPRINT_CHARS], "created_at": entry["created_at"]}

    @guarded
    def agent_of(self, digest: str) -> str | None:
        """The agent whose key has this digest, or None."""
        raw = self.r.hget(AGENT_KEYS, digest)
        return None if raw is None else json.loads(raw)["agent"]

    @guarded
    def keys_of(self, agent: str) -> list[dict[str, Any]]:
        """``agent``'s keys, oldest first, each as ``{"fingerprint", "created_at"}`` (never the digest)."""
        return sorted(({"fingerprint": digest[:FINGERPRINT_CHARS], "created_at": entry["created_at"]}
                       for digest, entry in self._entries(agent)), key=lambda k: k["created_at"])

    @guarded
    def revoke(self, agent: str, fingerprint: str) -> bool:
        """Forget ``agent``'s key with this fingerprint; False when they have none such."""
        found = [digest for digest, _ in self._entries(agent) if digest[:FINGERPRINT_CHARS] == fingerprint]
        return bool(found) and bool(self.r.hdel(AGENT_KEYS, *found))

    def _entries(self, agent: str) -> list[tuple[str, dict[str, Any]]]:
        """(digest, entry) of each of ``agent``'s keys: one read of the (small) hash of every agent key."""
        entries = ((digest, json.loads(raw)) for digest, raw in self.r.hgetall(AGENT_KEYS).items())
        return [(digest, entry) for digest, entry in entries if entry["agent"] == agent]
