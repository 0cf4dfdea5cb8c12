"""Settings: one frozen dataclass built from the environment, passed explicitly everywhere.

Each setting is declared once, as a field below: its type, default, environment variable, parser
(with its bounds) and one line of doc. ``Settings.from_env`` reads them all, and
``settings_table`` writes the table in docs/configuration.md (``make docs``; a test checks that
the two agree).
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

from . import parsing as p
from .errors import ConfigError
from .language import DEFAULT_LANGUAGES, DEFAULT_MODEL_LANGUAGES
from .sentinel import sentinel_group

#: Files in the data dir holding what is generated once per installation when not set.
SECRET_FILES = {"api_keys": "api_key", "webhook_secret": "webhook_secret", "redis_password": "redis_password"}


def setting(env: str, default: Any, parse: Callable[[str], Any], doc: str, *, shown: str | None = None,
            factory: Callable[[], Any] | None = None):
    """A field of Settings read from ``env`` by ``parse``; ``shown`` is how the docs show a default
    that is computed (``factory``) or generated."""
    meta = {"env": env, "parse": parse, "doc": doc, "shown": shown}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def _cores() -> int:
    return min(2, os.cpu_count() or 1)


@dataclass(frozen=True)
class Settings:
    host: str = setting("SMARTSUPPORT_HOST", "127.0.0.1", p.text, "address the API and dashboard listen on")
    port: int = setting("SMARTSUPPORT_PORT", 8000, p.integer(1, 65535), "port of the API and dashboard")
    flower_port: int = setting("FLOWER_PORT", 5555, p.integer(1, 65535),
                               "Flower (basic auth: `operator` / the first API key)")
    redis_url: str | None = setting("REDIS_URL", None, p.text, "ticket store, result backend and (unless "
                                    "`SMARTSUPPORT_BROKER_URL` names another) broker, or a Sentinel group: "
                                    "`sentinel://:password@host:26379,host:26379/service/0`; unset: the embedded "
                                    "Redis on `SMARTSUPPORT_REDIS_PORT`", shown="embedded")
    broker: str | None = setting("SMARTSUPPORT_BROKER_URL", None, p.broker_url,
                                 "Celery's broker when it is not the Redis: `amqp://user:password@host:5672/vhost` "
                                 "for RabbitMQ; the store stays on Redis (`docs/scaling.md#another-broker`)",
                                 shown="the Redis")
    broker_queues: str = setting("SMARTSUPPORT_BROKER_QUEUES", "quorum", p.choice("quorum", "priority"),
                                 "RabbitMQ queues: `quorum` (replicated; no message priorities before RabbitMQ 4.0) "
                                 "or `priority` (classic queues with `x-max-priority`: urgent-looking tickets first)")
    broker_timeout_s: float = setting("SMARTSUPPORT_BROKER_TIMEOUT_S", 1.0, p.number(0.05, 60),
                                      "RabbitMQ: longest wait for a connection or a publisher confirm; past it the "
                                      "API leaves a new ticket in the outbox")
    replica_acks_wanted: int | None = setting(
        "SMARTSUPPORT_REPLICA_ACKS", None, p.integer(0, 16), "replicas that must hold a new ticket before the API "
        "answers 202 (Redis `WAIT`; short of it: 503)", shown="1 with a `sentinel://` `REDIS_URL`, else 0")
    replica_wait_ms: int = setting("SMARTSUPPORT_REPLICA_WAIT_MS", 1000, p.integer(1, 60000),
                                   "longest wait for those replicas")
    redis_port: int = setting("SMARTSUPPORT_REDIS_PORT", 6390, p.integer(1, 65535),
                              "port of the embedded Redis (loopback only)")
    redis_password: str = setting("SMARTSUPPORT_REDIS_PASSWORD", "", p.text,
                                  "password of the embedded Redis (`requirepass`)",
                                  shown="generated once, in the data dir")
    redis_maxmemory_mb: int = setting("SMARTSUPPORT_REDIS_MAXMEMORY_MB", 2048, p.integer(16, 1048576),
                                      "embedded Redis memory limit; past it writes are refused (503), never evicted")
    redis_appendfsync: str = setting("SMARTSUPPORT_REDIS_APPENDFSYNC", "always", p.choice("always", "everysec"),
                                     "embedded Redis fsync policy: `always` (nothing acknowledged is lost) or "
                                     "`everysec` (faster; a Redis killed or a machine crashed while the disk is "
                                     "slow may lose up to 2 s of acknowledged writes)")
    data_dir: Path = setting("SMARTSUPPORT_DATA_DIR", Path(".smartsupport"), p.directory,
                             "embedded Redis files, generated keys, logs (mode 0700)")
    retention_days: float = setting("SMARTSUPPORT_RETENTION_DAYS", 30.0, p.number(0.001, 3650),
                                    "done and failed tickets, with their logs, are deleted this long after they ended")
    export_dir: Path | None = setting("SMARTSUPPORT_EXPORT_DIR", None, p.directory,
                                      "if set, each expired ticket is appended to a JSONL file here before deletion")
    api_keys: tuple[str, ...] = setting("SMARTSUPPORT_API_KEYS", (), p.items, "comma-separated operator keys "
                                        "(`Authorization: Bearer <key>`)", shown="generated once, in the data dir")
    submit_keys: tuple[str, ...] = setting("SMARTSUPPORT_SUBMIT_KEYS", (), p.items,
                                           "keys that may only submit tickets and read their own")
    cors_origins: tuple[str, ...] = setting("SMARTSUPPORT_CORS_ORIGINS", (), p.items,
                                            "browser origins allowed to call the API")
    labels_file: Path | None = setting("SMARTSUPPORT_LABELS_FILE", None, p.existing_file,
                                       "JSON label set (`docs/classification.md`)", shown="built-in")
    routing_file: Path | None = setting("SMARTSUPPORT_ROUTING_FILE", None, p.existing_file,
                                        "YAML or JSON routing rules, teams, SLAs (`docs/routing.md`)",
                                        shown="a team per category")
    sla_check_s: float = setting("SMARTSUPPORT_SLA_CHECK_S", 5.0, p.number(0.5, 300),
                                 "how often the scheduler fires the SLA warnings and breaches that fell due")
    imap_url: str | None = setting("SMARTSUPPORT_IMAP_URL", None, p.imap_url,
                                   "a support mailbox to turn into tickets, `imap[s]://user@host[:port]` "
                                   "(`docs/mailbox.md`)", shown="none: no mailbox process")
    imap_password: str = setting("SMARTSUPPORT_IMAP_PASSWORD", "", p.text, "the mailbox user's password",
                                 shown="(empty)")
    imap_folder: str = setting("SMARTSUPPORT_IMAP_FOLDER", "INBOX", p.text, "the folder new mail arrives in")
    imap_error_folder: str = setting("SMARTSUPPORT_IMAP_ERROR_FOLDER", "SmartSupport-Errors", p.text,
                                     "where mail that cannot become a ticket is moved, with the reason")
    imap_poll_s: float = setting("SMARTSUPPORT_IMAP_POLL_S", 30.0, p.number(1, 3600),
                                 "seconds between two looks at the mailbox")
    helpdesk_url: str | None = setting("SMARTSUPPORT_HELPDESK_URL", None, p.helpdesk_url,
                                       "a helpdesk to triage tickets in, `rt://user@host[:port][/path]` (Request "
                                       "Tracker 5; its password in the data dir's `helpdesk_password`, "
                                       "`docs/helpdesk.md`)", shown="none: no helpdesk process")
    helpdesk_poll_s: float = setting("SMARTSUPPORT_HELPDESK_POLL_S", 5.0, p.number(0.1, 3600),
                                     "seconds between two looks at the helpdesk")
    helpdesk_backoff_max_s: float = setting("SMARTSUPPORT_HELPDESK_BACKOFF_MAX_S", 60.0, p.number(0.1, 3600),
                                            "longest wait between two tries while the helpdesk is away "
                                            "(1, 2, 4, 8, 15, 30, 60 s up to it)")
    helpdesk_max_attempts: int = setting("SMARTSUPPORT_HELPDESK_MAX_ATTEMPTS", 8, p.integer(1, 100),
                                         "attempts of a write-back before it is dead-lettered")
    classifier: str = setting("SMARTSUPPORT_CLASSIFIER", "embedding", p.choice("embedding", "nli"),
                              "`embedding` (packaged model, offline) or `nli` (transformers zero-shot pipeline)")
    model: str | None = setting("SMARTSUPPORT_MODEL", None, p.text, "a model folder or hub id",
                                shown="the backend's")
    model_precision: str = setting("SMARTSUPPORT_MODEL_PRECISION", "auto", p.choice("auto", "fp32", "int8"),
                                   "`auto` (each model process keeps the faster on its CPU, see "
                                   "`docs/configuration.md`), `int8` (per-token int8 on CPU: about three times as "
                                   "fast with VNNI, 5-13 times slower without) or `fp32`")
    languages: tuple[str, ...] = setting("SMARTSUPPORT_LANGUAGES", DEFAULT_LANGUAGES, p.languages,
                                         "the languages tickets are told apart in, for rules and skills "
                                         "(`docs/routing.md#language`)")
    model_languages: tuple[str, ...] = setting("SMARTSUPPORT_MODEL_LANGUAGES", DEFAULT_MODEL_LANGUAGES,
                                               p.languages, "languages the model reads (the default model: "
                                               "English); a ticket detected in another is `needs_review`")
    review_threshold: float = setting("SMARTSUPPORT_REVIEW_THRESHOLD", 0.5, p.number(0, 1),
                                      "`needs_review` when the top probability is below this")
    review_margin: float = setting("SMARTSUPPORT_REVIEW_MARGIN", 0.1, p.number(0, 1),
                                   "... or when the top two are closer than this")
    urgency_threshold: float = setting("SMARTSUPPORT_URGENCY_THRESHOLD", 0.5, p.number(0, 1),
                                       "urgency at or above which the webhook fires")
    redact: bool = setting("SMARTSUPPORT_REDACT", True, p.on_off, "mask e-mail addresses, phone numbers, cards, "
                           "IBANs and secrets in webhook payloads and logs (`docs/webhooks.md#personal-data`)")
    phone_region: str = setting("SMARTSUPPORT_PHONE_REGION", "US", p.phone_region,
                                "country (ISO 3166, e.g. `GB`) of phone numbers written without `+`")
    webhook_urls: tuple[str, ...] = setting("SMARTSUPPORT_WEBHOOK_URLS", (), p.urls, "comma-separated endpoints")
    webhook_secret: str = setting("SMARTSUPPORT_WEBHOOK_SECRET", "", p.webhook_secret,
                                  "Standard Webhooks secret (`whsec_…`)", shown="generated once, in the data dir")
    webhook_previous_secret: str = setting("SMARTSUPPORT_WEBHOOK_PREVIOUS_SECRET", "", p.webhook_secret,
                                           "while rotating the secret: the old one, which signs every event "
                                           "too (`docs/webhooks.md`)", shown="none")
    webhook_timeout_s: float = setting("SMARTSUPPORT_WEBHOOK_TIMEOUT_S", 10.0, p.number(0.1, 300),
                                       "per attempt")
    webhook_max_attempts: int = setting("SMARTSUPPORT_WEBHOOK_MAX_ATTEMPTS", 8, p.integer(1, 100),
                                        "attempts per event and endpoint before the dead-letter list")
    webhook_backoff_base_s: float = setting("SMARTSUPPORT_WEBHOOK_BACKOFF_BASE_S", 30.0, p.number(0.01, 86400),
                                            "wait after the first failed attempt")
    webhook_backoff_factor: float = setting("SMARTSUPPORT_WEBHOOK_BACKOFF_FACTOR", 3.5, p.number(1, 100),
                                            "each wait is this many times the last (±20 % jitter)")
    webhook_backoff_max_s: float = setting("SMARTSUPPORT_WEBHOOK_BACKOFF_MAX_S", 43200.0, p.number(0.01, 604800),
                                           "longest wait, also for a `Retry-After`")
    visibility_timeout_s: int = setting("SMARTSUPPORT_VISIBILITY_TIMEOUT_S", 300, p.integer(5, 604800),
                                        "Redis hands a message not acknowledged in this time to another worker")
    result_expires_s: int = setting("SMARTSUPPORT_RESULT_EXPIRES_S", 86400, p.integer(60, 2592000),
                                    "Celery's result expiry")
    stuck_after_s: int = setting("SMARTSUPPORT_STUCK_AFTER_S", 600, p.integer(5, 604800),
                                 "the sweeper re-queues a ticket unfinished this long (3 times, then fails it)")
    rate_limit: str = setting("SMARTSUPPORT_RATE_LIMIT", "100/second", p.text,
                              "requests per API key (flask-limiter syntax, e.g. `50/second;2000/minute`)")
    worker_concurrency: int = setting("SMARTSUPPORT_WORKER_CONCURRENCY", None, p.integer(1, 64),
                                      "model-worker processes (one model copy each, ≈ 600 MB)",
                                      shown="one per core, at most 2", factory=_cores)
    torch_threads: int = setting("SMARTSUPPORT_TORCH_THREADS", 1, p.integer(1, 64),
                                 "torch threads per model process (more spin against the other processes)")
    io_concurrency: int = setting("SMARTSUPPORT_IO_CONCURRENCY", 16, p.integer(1, 512),
                                  "threads of each I/O worker: score and notify, and webhook deliveries")
    incidents: bool = setting("SMARTSUPPORT_INCIDENTS", True, p.on_off, "incident detection")
    incident_similarity: float = setting("SMARTSUPPORT_INCIDENT_SIMILARITY", 0.6, p.number(0, 1),
                                         "cosine similarity that counts as \"about the same thing\"")
    incident_min_tickets: int = setting("SMARTSUPPORT_INCIDENT_MIN_TICKETS", 5, p.integer(2, 10000),
                                        "tickets that close to each other, within the window, that open one")
    incident_window_s: int = setting("SMARTSUPPORT_INCIDENT_WINDOW_S", 3600, p.integer(10, 2592000),
                                     "how far back recent tickets are compared")
    incident_recent_max: int = setting("SMARTSUPPORT_INCIDENT_RECENT_MAX", 10000, p.integer(10, 1000000),
                                       "most recent tickets kept for comparison")
    incident_covers_webhooks: bool = setting("SMARTSUPPORT_INCIDENT_COVERS_WEBHOOKS", True, p.on_off,
                                             "members of an incident fire no `ticket.urgent` of their own")

    @property
    def broker_url(self) -> str:
        """The Redis: the ticket store, the result backend, the rate limits, and Celery's broker unless
        ``SMARTSUPPORT_BROKER_URL`` names another (``celery_broker_url``)."""
        auth = f":{self.redis_password}@" if self.redis_password else ""
        return self.redis_url or f"redis://{auth}127.0.0.1:{self.redis_port}/0"

    @property
    def celery_broker_url(self) -> str:
        """Where Celery's messages go: ``SMARTSUPPORT_BROKER_URL``, else the Redis."""
        return self.broker or self.broker_url

    @property
    def rabbitmq(self) -> bool:
        """Whether Celery's broker is RabbitMQ (an AMQP URL)."""
        return p.is_amqp(self.celery_broker_url)

    @property
    def replica_acks(self) -> int:
        if self.replica_acks_wanted is not None:
            return self.replica_acks_wanted
        return 1 if (self.redis_url or "").startswith("sentinel://") else 0

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    @property
    def retry_hop_s(self) -> float:
        """The longest countdown a message may carry: well inside the visibility timeout, so Redis
        never redelivers a waiting retry (celery #3270, #4400); longer waits take several hops."""
        return self.visibility_timeout_s / 3

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, create_secrets: bool = False) -> "Settings":
        """Settings from ``environ`` (default: the process environment).

        API keys and the webhook secret that are not set are read from the data dir, where
        ``create_secrets`` (what ``make run`` does) generates them the first time (mode 0600), so
        every process of one installation agrees on them. Nothing else writes files.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f.metadata["env"], "").strip()
            if raw:
                try:
                    values[f.name] = f.metadata["parse"](raw)
                except ValueError as exc:
                    raise ConfigError(f"{f.metadata['env']}: {exc}") from None
        data_dir = values.setdefault("data_dir", p.directory(".smartsupport"))
        for name, filename in SECRET_FILES.items():
            if name not in values and (name != "redis_password" or "redis_url" not in values):
                value = (load_or_create_secret(data_dir, filename, _GENERATORS[name]) if create_secrets
                         else read_secret(data_dir, filename))
                if value:
                    values[name] = _FROM_FILE.get(name, str)(value)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Check relations between settings that no single variable can."""
        if self.redis_url:
            sentinel_group(self.redis_url)  # a malformed sentinel:// URL stops the start, saying why
        if self.stuck_after_s <= self.visibility_timeout_s:
            raise ConfigError("SMARTSUPPORT_STUCK_AFTER_S must exceed SMARTSUPPORT_VISIBILITY_TIMEOUT_S: before that, "
                              "Redis itself redelivers the work of a worker that died")
        if self.webhook_timeout_s * 2 >= self.retry_hop_s:
            raise ConfigError("SMARTSUPPORT_WEBHOOK_TIMEOUT_S must be far below SMARTSUPPORT_VISIBILITY_TIMEOUT_S")


_GENERATORS: dict[str, Callable[[], str]] = {
    "api_keys": lambda: "ssk_" + secrets.token_urlsafe(24),
    "webhook_secret": lambda: "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
    "redis_password": lambda: secrets.token_hex(24),
}


#: How a secret read from its file becomes the setting's value.
_FROM_FILE: dict[str, Callable[[str], Any]] = {"api_keys": lambda v: (v,), "webhook_secret": p.webhook_secret}


def read_secret(data_dir: Path, name: str) -> str:
    """``data_dir/name`` stripped, or "" when it does not exist."""
    try:
        return (Path(data_dir) / name).read_text().strip()
    except FileNotFoundError:
        return ""


def load_or_create_secret(data_dir: Path, name: str, factory: Callable[[], str]) -> str:
    """Read ``data_dir/name``; create it (mode 0600) with ``factory()`` the first time."""
    path = Path(data_dir) / name
    if value := read_secret(data_dir, name):
        return value
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its value
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(factory() + "\n")
    return path.read_text().strip()


def settings_table() -> str:
    """The Markdown table of every setting, as docs/configuration.md shows it."""
    rows = ["| variable | default | values | meaning |", "|---|---|---|---|"]
    for f in fields(Settings):
        default = f.metadata["shown"] or _shown(f.default)
        rows.append(f"| `{f.metadata['env']}` | {default} | {_values(f.metadata['parse'])} | {f.metadata['doc']} |")
    return "\n".join(rows) + "\n"


def _shown(value: Any) -> str:
    if value is MISSING or value is None or value == ():
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return f"`{','.join(value)}`"
    return f"`{value}`"


def _values(parse: Callable) -> str:
    if hasattr(parse, "bounds"):
        return "{} to {}".format(*parse.bounds)
    if hasattr(parse, "choices"):
        return ", ".join(f"`{c}`" for c in parse.choices)
    return {p.on_off: "`on`, `off`", p.urls: "http(s) URLs", p.items: "comma-separated", p.existing_file: "a file",
            p.webhook_secret: "`whsec_…`", p.helpdesk_url: "`rt://…`, `rt+https://…`",
            p.broker_url: "`amqp[s]://…`, `redis[s]://…`",
            p.languages: "ISO 639-1 codes"}.get(parse, "")
