"""What a Redis URL names when it names a Sentinel group (``sentinel://``); parsing only, no
connection (smartsupport/store/connect.py connects)::

    sentinel://[:password@]host:port[,host:port...]/<service>[/<db>]
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from .errors import ConfigError


@dataclass(frozen=True)
class SentinelGroup:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    password: str = ""
    username: str = ""

    def auth(self) -> str:
        """``user:password@`` for a URL ("" without a password)."""
        if not self.password:
            return ""
        return f"{quote(self.username, safe='')}:{quote(self.password, safe='')}@"

    def credentials(self) -> dict[str, str]:
        found = {"password": self.password} if self.password else {}
        return {**found, "username": self.username} if self.username else found


def sentinel_group(url: str) -> SentinelGroup | None:
    """The group a ``sentinel://`` URL names, None for any other URL; ConfigError when malformed."""
    if not url.startswith("sentinel://"):
        return None
    rest = url[len("sentinel://"):]
    auth, _, rest = rest.rpartition("@")
    hosts, _, path = rest.partition("/")
    username, _, password = auth.partition(":")
    sentinels = []
    for item in filter(None, hosts.split(",")):
        parts = urlsplit("//" + item)
        try:
            port = parts.port or 26379
        except ValueError:
            port = None
        if not parts.hostname or port is None:
            raise ConfigError(f"REDIS_URL: {item!r} is not a sentinel's host:port")
        sentinels.append((parts.hostname, port))
    service, _, db = path.partition("/")
    if not sentinels or not service or (db and not db.isdigit()):
        raise ConfigError("REDIS_URL: a Sentinel URL is "
                          "sentinel://[:password@]host:port[,host:port...]/<service>[/<db>]")
    return SentinelGroup(tuple(sentinels), unquote(service), int(db or 0), unquote(password), unquote(username))
