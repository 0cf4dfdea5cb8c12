"""Parsers of setting values: each takes the variable's text and returns the value, or raises
ValueError with what is wrong (config.Settings.from_env adds the variable's name)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable


def text(raw: str) -> str:
    return raw


def integer(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"must be an integer, got {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}, got {value}")
        return value
    parse.bounds = (low, high)  # type: ignore[attr-defined]
    return parse


def number(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"must be a number, got {raw!r}") from None
        if not low <= value <= high:  # NaN fails this too
            raise ValueError(f"must be between {low} and {high}, got {value}")
        return value
    parse.bounds = (low, high)  # type: ignore[attr-defined]
    return parse


def choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {value!r}")
        return value
    parse.choices = choices  # type: ignore[attr-defined]
    return parse


def on_off(raw: str) -> bool:
    return choice("on", "off")(raw) == "on"


def items(raw: str) -> tuple[str, ...]:
    """A comma-separated list; blanks around and between items are dropped."""
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def imap_url(raw: str) -> str:
    """``imap://user@host[:port][/folder]`` or ``imaps://…``; the password is a setting of its own."""
    return _service_url(raw, ("imap", "imaps"), "must be imap://user@host[:port] or imaps://user@host[:port]",
                        "set SMARTSUPPORT_IMAP_PASSWORD")


def helpdesk_url(raw: str) -> str:
    """``rt://user@host[:port][/path]`` (``rt+https://`` for TLS); the password is in the data dir."""
    return _service_url(raw, ("rt", "rt+https"),
                        "must be rt://user@host[:port][/path] or rt+https://user@host[:port][/path]",
                        "write it to the data dir's helpdesk_password file")


def _service_url(raw: str, schemes: tuple[str, ...], shape: str, password_goes: str) -> str:
    """A URL naming a user at a host in one of ``schemes``, with no password in it."""
    from urllib.parse import urlsplit
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not parts.hostname or not parts.username:
        raise ValueError(shape)
    if parts.password:
        raise ValueError(f"keep the password out of the URL: {password_goes}")
    return raw


#: URL schemes of Celery brokers SmartSupport runs on: RabbitMQ (kombu's py-amqp transport) and Redis.
AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")
BROKER_SCHEMES = (*AMQP_SCHEMES, "redis", "rediss")


def broker_url(raw: str) -> str:
    """``amqp[s]://user:password@host[:port][/vhost]`` (RabbitMQ) or ``redis[s]://…`` (another Redis)."""
    from urllib.parse import urlsplit
    parts = urlsplit(raw)
    if parts.scheme not in BROKER_SCHEMES or not parts.hostname:
        raise ValueError("must be amqp://user:password@host[:port][/vhost] (RabbitMQ), amqps://…, or redis://…")
    return raw


def is_amqp(url: str) -> bool:
    return url.split("://", 1)[0].lower() in AMQP_SCHEMES


def phone_region(raw: str) -> str:
    """A region code phonenumbers knows (``US``, ``GB``, ``DE``…), for numbers written without +country."""
    import phonenumbers
    if raw.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{raw!r} is not a region code phonenumbers knows (e.g. US, GB, DE, FR)")
    return raw.upper()


def languages(raw: str) -> tuple[str, ...]:
    """Comma-separated ISO 639-1 codes of languages lingua detects (``en,de,fr``), each once."""
    from .language import known_codes
    return known_codes(items(raw))


def urls(raw: str) -> tuple[str, ...]:
    found = items(raw)
    for url in found:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r} is not an http(s) URL")
    return found


def webhook_secret(raw: str) -> str:
    if not raw.startswith("whsec_"):
        raise ValueError("must be a Standard Webhooks secret starting with whsec_")
    return raw


def directory(raw: str) -> Path:
    return Path(raw).resolve()


def existing_file(raw: str) -> Path:
    path = Path(raw)
    if not path.is_file():
        raise ValueError(f"no such file {raw!r}")
    return path.resolve()
