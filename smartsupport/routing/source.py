"""The routing in force: the installation's routing file as the API host published it in Redis
(see smartsupport.published), else this host's own, re-read when it changes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

from ..published import Published
from . import file
from .rules import Routing, default_routing

URLS = "SMARTSUPPORT_WEBHOOK_URLS"


class RoutingSource:
    """The routing now in force, no restart needed when the file changes. One that no longer loads
    keeps the rules in force and says why (``error``, logged once per change). Without the store's shared part the
    host's own file alone counts (tests, tools)."""

    def __init__(self, path: Path | None, *, labels: Callable[[], Iterable[str]], webhook_urls: Iterable[str],
                 secret: str, shared=None, publish: bool = False) -> None:
        self.path, self._labels = path, labels
        self._names: tuple[str, ...] | None = None
        urls = tuple(webhook_urls)

        def parse(text: str, source: str, env) -> Routing:
            if not text:  # no routing file: urgent tickets to the publishing host's SMARTSUPPORT_WEBHOOK_URLS
                published = env.get(URLS)
                return default_routing(self._names or (), published.split() if published is not None else urls,
                                       secret)
            return file.parse_text(text, labels=self._names or (), source=source, env=env)

        def environment(text: str) -> dict[str, str]:
            if not text:
                return {URLS: " ".join(urls)}
            return {name: os.environ[name] for name in file.variables(text) if name in os.environ}
        self._published = Published("routing", path, shared=shared or _NoStore(), parse=parse, publish=publish,
                                    default=lambda: ("", "default routing"), environment=environment)

    @property
    def error(self) -> str | None:
        return self._published.error

    @property
    def version(self) -> int:
        """The published version in force (0: this host's own file)."""
        return self._published.version

    def current(self) -> Routing:
        """The routing; raises ConfigError only when none ever loaded (at start)."""
        self._follow_labels()
        return self._published.current()

    def publish_if_changed(self) -> None:
        """On the host that publishes: publish the file if it changed (a stat when it did not)."""
        if self._names is None:
            self._follow_labels()
        self._published.publish_if_changed()

    def _follow_labels(self) -> None:
        names = tuple(self._labels())
        if names != self._names:  # categories a rule names are checked against the labels in force
            self._names = names
            self._published.forget()


class _NoStore:
    """Nothing published, nothing to publish to."""

    def config_sha(self, name: str) -> None:
        return None

    def published_config(self, name: str):
        return None

    def publish_config(self, name: str, text: str) -> int:
        return 0
