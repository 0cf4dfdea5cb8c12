"""The routing in force, re-read when its file changes."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable, Iterable

from ..errors import ConfigError
from . import Routing, default_routing, file

log = logging.getLogger(__name__)


class RoutingSource:
    """The routing now in force: the file re-read when it changes, no restart needed. A file that no
    longer loads keeps the rules in force and says why (``error``, logged once per change)."""

    def __init__(self, path: Path | None, *, labels: Callable[[], Iterable[str]], webhook_urls: Iterable[str],
                 secret: str) -> None:
        self.path, self._labels = path, labels
        self._default = (tuple(webhook_urls), secret)
        self._mtime: float | None = None
        self._routing: Routing | None = None
        self.error: str | None = None

    def current(self) -> Routing:
        """The routing; raises ConfigError only when the file never loaded (at start)."""
        if self.path is None:
            if self._routing is None:
                self._routing = default_routing(self._labels(), *self._default)
            return self._routing
        try:
            mtime = os.stat(self.path).st_mtime
        except OSError as exc:
            mtime, problem = None, ConfigError(f"routing file {self.path}: {exc}")
        else:
            problem = None
        if self._routing is not None and mtime == self._mtime:
            return self._routing
        try:
            if problem:
                raise problem
            routing = file.load(self.path, labels=self._labels())
        except ConfigError as exc:
            if self._routing is None:
                raise
            if self.error != str(exc):
                log.error("routing file not reloaded, the rules in force stay: %s", exc)
            self.error, self._mtime = str(exc), mtime
            return self._routing
        if self._routing is not None:
            log.info("routing file %s reloaded: %d rules", self.path, len(routing.rules))
        self._routing, self._mtime, self.error = routing, mtime, None
        return routing
