"""API keys: ``Authorization: Bearer <key>``; operator keys do everything, submit keys only submit
and read their own tickets, and an agent's key acts as that agent on the tickets of their teams.
Keys are kept as SHA-256 digests; operator and submit keys (from the settings) are compared in
constant time, agents' keys (issued through the API) looked up by digest in the store."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Callable, Iterable

OPERATOR = "operator"
SUBMITTER = "submitter"
AGENT = "agent"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh key, in the form the generated operator key has (``ssk_…``: log redaction knows it)."""
    return "ssk_" + secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Principal:
    role: str
    fingerprint: str
    #: The agent an agent's key stands for (None for the other roles).
    agent: str | None = None

    @property
    def is_operator(self) -> bool:
        return self.role == OPERATOR

    @property
    def is_agent(self) -> bool:
        return self.role == AGENT

    @property
    def actor(self) -> str:
        """Who this is in an audit trail: the agent's name, or the role and the key's fingerprint."""
        return self.agent if self.agent else f"{self.role}:{self.fingerprint[:8]}"


class KeyRing:
    def __init__(self, *, operator_keys: Iterable[str], submit_keys: Iterable[str],
                 agent_of: Callable[[str], str | None] | None = None) -> None:
        """``agent_of``: the agent whose key has a digest, or None (the store's ``agents.agent_of``)."""
        self._keys = [(digest(k), OPERATOR) for k in operator_keys] + [(digest(k), SUBMITTER) for k in submit_keys]
        self._agent_of = agent_of

    def identify(self, authorization: str | None) -> Principal | None:
        """The principal for an ``Authorization`` header value, or None. An agent's key is looked up
        in the store: StoreUnavailable when it is away."""
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return None
        presented = digest(key.strip())
        found = None
        for stored, role in self._keys:  # no early exit: the time taken does not depend on the match
            if hmac.compare_digest(stored, presented) and found is None:
                found = Principal(role=role, fingerprint=presented[:16])
        if found is None and self._agent_of is not None and (agent := self._agent_of(presented)):
            found = Principal(role=AGENT, fingerprint=presented[:16], agent=agent)
        return found
