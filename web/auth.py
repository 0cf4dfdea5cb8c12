"""API keys: ``Authorization: Bearer <key>``; operator keys do everything, submit keys only submit
and read their own tickets. Keys are kept as SHA-256 digests and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Iterable

OPERATOR = "operator"
SUBMITTER = "submitter"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    role: str
    fingerprint: str

    @property
    def is_operator(self) -> bool:
        return self.role == OPERATOR


class KeyRing:
    def __init__(self, *, operator_keys: Iterable[str], submit_keys: Iterable[str]) -> None:
        self._keys = [(digest(k), OPERATOR) for k in operator_keys] + [(digest(k), SUBMITTER) for k in submit_keys]

    def identify(self, authorization: str | None) -> Principal | None:
        """The principal for an ``Authorization`` header value, or None."""
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return None
        presented = digest(key.strip())
        found = None
        for stored, role in self._keys:  # no early exit: the time taken does not depend on the match
            if hmac.compare_digest(stored, presented) and found is None:
                found = Principal(role=role, fingerprint=presented[:16])
        return found
