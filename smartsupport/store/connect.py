"""Redis URLs: one server (``redis://``, ``rediss://``, ``unix://``) or a Sentinel-watched group.

A Sentinel URL names the sentinels, the group's service name and the database, with the password
of the Redis servers, which the sentinels share (they answer only with it too; smartsupport/sentinel.py
parses it)::

    sentinel://[:password@]host:port[,host:port...]/<service>[/<db>]

The store, the broker, the result backend and the rate limiter each take the same group in their
library's own spelling (``client``, ``celery_broker``, ``limiter_storage``), and each follows a
failover by asking the sentinels where the primary now is.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import redis
import redis.sentinel

from ..sentinel import SentinelGroup, sentinel_group

__all__ = ["SentinelGroup", "celery_broker", "client", "limiter_storage", "redacted", "same_server",
           "sentinel_group"]


def client(url: str, **options: Any) -> redis.Redis:
    """A redis-py client for ``url``: for a Sentinel group, one that follows its primary."""
    group = sentinel_group(url)
    if group is None:
        return redis.Redis.from_url(url, **options)
    timeouts = {k: options[k] for k in ("socket_timeout", "socket_connect_timeout") if k in options}
    sentinel = redis.sentinel.Sentinel(list(group.sentinels), sentinel_kwargs={**group.credentials(), **timeouts},
                                       **group.credentials(), **options)
    return sentinel.master_for(group.service, db=group.db)


def celery_broker(url: str) -> tuple[str, dict[str, Any]]:
    """Celery's broker (and result backend) URL for ``url``, with the transport options it needs."""
    group = sentinel_group(url)
    if group is None:
        return url, {}
    spelled = ";".join(f"sentinel://{group.auth()}{host}:{port}/{group.db}" for host, port in group.sentinels)
    return spelled, {"master_name": group.service, "sentinel_kwargs": group.credentials()}


def limiter_storage(url: str) -> tuple[str, dict[str, Any]]:
    """The rate limiter's (limits') storage URI for ``url``, and its options. limits reads a
    password from the URI without unquoting it: the credentials and the service go as options."""
    group = sentinel_group(url)
    if group is None:
        return url, {}
    hosts = ",".join(f"{host}:{port}" for host, port in group.sentinels)
    # Counters read from a replica would lag: every read goes to the primary.
    return f"redis+sentinel://{hosts}", {"service_name": group.service, "db": group.db, "use_replicas": False,
                                         "sentinel_kwargs": group.credentials(), **group.credentials()}


def redacted(url: str) -> str:
    """``url`` with its password replaced by ``***``, for banners and logs."""
    group = sentinel_group(url) if url.startswith("sentinel://") else None
    if group is not None:
        hosts = ",".join(f"{host}:{port}" for host, port in group.sentinels)
        return f"sentinel://{':***@' if group.password else ''}{hosts}/{group.service}/{group.db}"
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")).geturl()


def same_server(pool_a, pool_b) -> bool:
    """Whether two redis-py connection pools reach the same server and database."""
    return _where(pool_a) == _where(pool_b)


def _where(pool) -> tuple:
    kwargs = pool.connection_kwargs
    service = getattr(pool, "service_name", None)  # a Sentinel-managed pool: wherever the group's primary is
    if service:
        return "sentinel", service, int(kwargs.get("db") or 0)
    return kwargs.get("path") or (kwargs.get("host"), int(kwargs.get("port", 6379))), int(kwargs.get("db") or 0)
