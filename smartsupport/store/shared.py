"""Settings every host must agree on, kept in Redis by the API for the hosts that lack them.

  ss:config:webhook_secrets  string: JSON [current, previous] webhook secrets of the installation
  ss:config:<name>           hash {version, sha, text, at}: a configuration file as the API host
                             publishes it ("labels", "routing"); version goes up by one whenever
                             the text changes; readers poll the sha (a deleted and re-published
                             hash starts again at version 1) and re-parse only when it moved

A worker on another host without SMARTSUPPORT_WEBHOOK_SECRET signs with these (workers.runtime),
never with a secret of its own that receivers would reject; every model process classifies with the
published labels and routes with the published routing (smartsupport.published).
"""

from __future__ import annotations

import hashlib
import json
import time

from . import keys
from .base import Part, guarded

WEBHOOK_SECRETS = keys.PREFIX + "config:webhook_secrets"

# Publish a text under a new version, unless it is the text already published (same sha).
_PUBLISH = """
if redis.call('HGET', KEYS[1], 'sha') == ARGV[1] then
  return tonumber(redis.call('HGET', KEYS[1], 'version'))
end
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'sha', ARGV[1], 'text', ARGV[2], 'at', ARGV[3])
return version
"""


def config_key(name: str) -> str:
    return keys.PREFIX + "config:" + name


class Shared(Part):
    @guarded
    def publish_webhook_secrets(self, current: str, previous: str = "") -> None:
        self.r.set(WEBHOOK_SECRETS, json.dumps([current, previous]))

    @guarded
    def webhook_secrets(self) -> tuple[str, str] | None:
        raw = self.r.get(WEBHOOK_SECRETS)
        return None if raw is None else tuple(json.loads(raw))  # type: ignore[return-value]

    @guarded
    def publish_config(self, name: str, text: str, *, now: float | None = None) -> int:
        """Publish configuration ``name``; returns its version (unchanged when the text is the same)."""
        sha = hashlib.sha256(text.encode()).hexdigest()
        return int(self.r.eval(_PUBLISH, 1, config_key(name), sha, text, now or time.time()))

    @guarded
    def config_sha(self, name: str) -> str | None:
        """The sha of the published text of ``name``, None when nothing is published (one small read)."""
        return self.r.hget(config_key(name), "sha")

    @guarded
    def published_config(self, name: str) -> tuple[str, int, str] | None:
        """(sha, version, text) of the published ``name``, or None."""
        sha, version, text = self.r.hmget(config_key(name), ["sha", "version", "text"])
        return None if sha is None or text is None else (sha, int(version), text)
