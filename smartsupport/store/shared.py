"""Settings every host must agree on, kept in Redis by the API for the hosts that lack them.

  ss:config:webhook_secrets  string: JSON [current, previous] webhook secrets of the installation

A worker on another host without SMARTSUPPORT_WEBHOOK_SECRET signs with these (workers.runtime),
never with a secret of its own that receivers would reject.
"""

from __future__ import annotations

import json

from . import keys
from .base import StoreBase, guarded

WEBHOOK_SECRETS = keys.PREFIX + "config:webhook_secrets"


class Shared(StoreBase):
    @guarded
    def publish_webhook_secrets(self, current: str, previous: str = "") -> None:
        self.r.set(WEBHOOK_SECRETS, json.dumps([current, previous]))

    @guarded
    def webhook_secrets(self) -> tuple[str, str] | None:
        raw = self.r.get(WEBHOOK_SECRETS)
        return None if raw is None else tuple(json.loads(raw))  # type: ignore[return-value]
