"""The installation's labels and routing, one version for every host: the API host publishes its
files in Redis, and every process classifies and routes with the published version.

A process that publishes (the API) reads its own file at start and whenever the file changes, checks
it, and publishes it (``ss:config:<name>``, see store/shared.py) with the values of the environment
variables it names (the webhook URLs, for the default routing), so that hosts without them route
the same way. Every process, the API included,
then follows the published version: one GET per use, a parse only when the version moved. Until
anything is published (or while Redis is away at start) a process uses its own file, or the
built-in default. A published text that does not load on this host keeps the version in force and
says why (``error``), as a bad reload of a local file does.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Callable, Generic, Mapping, TypeVar

from .errors import ConfigError, StoreUnavailable
from .labels import DEFAULT_LABELS_FILE, LabelSet, parse_label_set

log = logging.getLogger(__name__)
T = TypeVar("T")
#: parse(text, source, env) -> the configuration; raises ConfigError.
Parser = Callable[[str, str, Mapping[str, str]], T]


class Published(Generic[T]):
    """Configuration file ``name`` as the installation has it (see the module's docstring)."""

    def __init__(self, name: str, path: Path | None, *, shared, parse: Parser, default: Callable[[], tuple[str, str]],
                 publish: bool, environment: Callable[[str], dict[str, str]] = lambda text: {}) -> None:
        self.name, self.path, self.shared, self._parse, self._default = name, path, shared, parse, default
        self.publisher, self._environment = publish, environment
        self.version = 0  # the published version in force; 0: this host's own file
        self._sha: str | None = None  # the published text's sha in force (or last found unusable)
        self._load_error: str | None = None  # why the published version is not the one in force
        self._own_error: str | None = None  # why this host's own file in force is an older one
        self._publish_error: str | None = None  # why this host's file is not published
        self._value: T | None = None
        self._own: tuple[object, T] | None = None  # (the file's mtime, its configuration)
        self._published_mtime: object = ()  # () never published

    @property
    def error(self) -> str | None:
        """Why the configuration in force is not the file's latest, or None."""
        return self._publish_error or self._load_error or self._own_error

    def current(self) -> T:
        """The configuration in force; raises ConfigError only when none ever loaded (at start)."""
        if self.publisher:
            self.publish_if_changed()
        try:
            sha = self.shared.config_sha(self.name)
            record = self.shared.published_config(self.name) if sha and sha != self._sha else None
        except StoreUnavailable:  # Redis away: what is in force stays
            return self._value if self._value is not None else self._own_file()
        if not sha:  # nothing published (or it was deleted): a published version in force stays
            return self._value if self._value is not None else self._own_file()
        if record is not None:
            self._load(*record)
        return self._value if self._value is not None else self._own_file()

    # -- following the published version -------------------------------------------------

    def _load(self, sha: str, version: int, raw: str) -> None:
        try:
            record = json.loads(raw)
            value = self._parse(record["text"], record["source"], record.get("env") or {})
        except (ValueError, KeyError, TypeError, ConfigError) as exc:
            problem = f"published {self.name} version {version} not used, the one in force stays: {exc}"
            if problem != self._load_error:
                log.error("%s", problem)
            self._load_error, self._sha = problem, sha  # not parsed again until the next version
            return
        if self._sha:
            log.info("%s: now version %d (%s)", self.name, version, record["source"])
        self._value, self._sha, self.version, self._load_error = value, sha, version, None

    # -- this host's own file --------------------------------------------------------------

    def _text(self) -> tuple[object, str, str]:
        """(mtime, text, source) of this host's file, or of the built-in default (mtime None)."""
        if self.path is None:
            return (None, *self._default())
        try:
            return os.stat(self.path).st_mtime, Path(self.path).read_text(encoding="utf-8"), str(self.path)
        except OSError as exc:
            raise ConfigError(f"{self.name} file {self.path}: cannot be read: {exc}") from exc

    def _own_file(self) -> T:
        """This host's own configuration, re-read when its file changes; a file that no longer loads
        keeps the one in force and says why."""
        mtime = self._mtime()
        if self._own is not None and self._own[0] == mtime:
            return self._own[1]
        try:
            _, text, source = self._text()
            value = self._parse(text, source, {**os.environ, **self._environment(text)})
        except ConfigError as exc:
            if self._own is None:
                raise
            if self._own_error != str(exc):
                log.error("%s file not reloaded, the one in force stays: %s", self.name, exc)
            self._own_error, self._own = str(exc), (mtime, self._own[1])
            return self._own[1]
        if self._own is not None:
            log.info("%s file %s reloaded", self.name, self.path)
        self._own, self._own_error = (mtime, value), None
        return value

    def _mtime(self) -> object:
        try:
            return None if self.path is None else os.stat(self.path).st_mtime
        except OSError:
            return "missing"

    def publish_if_changed(self) -> None:
        """Publish this host's file when it changed since this process last did (and at start): a
        stat, and Redis only when the file changed."""
        mtime = self._mtime()
        if mtime == self._published_mtime:
            return
        try:
            mtime, text, source = self._text()
            env = self._environment(text)
            self._parse(text, source, env)  # never publish what does not load
        except ConfigError as exc:
            if self._publish_error != str(exc):
                log.error("%s file not published, the version in force stays: %s", self.name, exc)
            self._publish_error, self._published_mtime = str(exc), mtime
            return
        try:
            version = self.shared.publish_config(self.name, json.dumps({"text": text, "source": source, "env": env}))
        except StoreUnavailable:
            return  # tried again on the next use
        if version != self.version:
            log.info("%s: published %s as version %d", self.name, source, version)
        self._published_mtime, self._publish_error = mtime, None

    def forget(self) -> None:
        """Check again on the next use (what the configuration is checked against has changed): the
        published text, this host's file, and (publishing) whether to publish it; what is in force
        stays until something checked loads."""
        self._sha, self._published_mtime = None, ()
        if self._own is not None:
            self._own = (object(), self._own[1])


def labels(shared, path: Path | None, *, publish: bool) -> Published[LabelSet]:
    """The installation's label set (SMARTSUPPORT_LABELS_FILE, else the built-in one), published
    through ``shared`` (the store's shared part)."""
    return Published("labels", path, shared=shared, publish=publish,
                     parse=lambda text, source, env: parse_label_set(text, source=source),
                     default=lambda: (DEFAULT_LABELS_FILE.read_text(), "built-in labels"))
