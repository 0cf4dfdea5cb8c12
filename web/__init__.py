"""The Flask app: the JSON API under /api, the OpenAPI spec, and the dashboard (built SPA)."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from celery import Celery
from flask import Flask, Response, abort, request, send_from_directory
from flask_cors import CORS
from flask_limiter import Limiter
from werkzeug.security import safe_join

from smartsupport import published, redact
from smartsupport.config import Settings
from smartsupport.errors import ConfigError, StoreUnavailable
from smartsupport.labels import LabelSet, load_label_set
from smartsupport.routing import RoutingSource, file as routing_file
from smartsupport.store import TicketStore, connect

from .auth import KeyRing
from .health import HealthCache

STATIC_DIR = Path(__file__).with_name("static")
MAX_REQUEST_BYTES = 256 * 1024
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


@dataclass
class Services:
    settings: Settings
    store: TicketStore
    keys: KeyRing
    celery: Celery
    routing: RoutingSource
    #: The installation's labels: this host's file, published for every host (smartsupport.published).
    labels: published.Published[LabelSet]
    #: /api/health's last reports (web/health.py).
    health: HealthCache = field(default_factory=HealthCache)

    def label_names(self) -> list[str]:
        """The label names in force; an edited labels file counts at once, no restart needed."""
        return [label.name for label in self.labels.current().labels]

    def publish_changed_files(self) -> None:
        """Publish the labels and routing files if they changed (two stats when they did not)."""
        self.labels.publish_if_changed()
        self.routing.publish_if_changed()


def create_app(settings: Settings | None = None) -> Flask:
    """The API and the dashboard for ``settings`` (by default the environment's): the services,
    rate limits and large-body admission, metrics, the OpenAPI document, the dashboard's files, one
    error handler, and log redaction."""
    from workers.celery import use_broker

    from .errors import handle_error
    from .metrics import init_metrics

    settings = settings or Settings.from_env()
    if not settings.api_keys:
        raise ConfigError("no API key: set SMARTSUPPORT_API_KEYS, or start SmartSupport once with `make run`, "
                          f"which generates one in {settings.data_dir}")
    use_broker(settings)
    app = Flask(__name__, static_folder=None)
    app.config.update(MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES)
    app.json.sort_keys = False
    app.extensions["smartsupport"] = services = _services(settings)
    if settings.cors_origins:
        CORS(app, resources={r"/api/*": {"origins": list(settings.cors_origins)}},
             allow_headers=["Authorization", "Content-Type", "Idempotency-Key"])
    _register_api(app, settings)
    init_metrics(app, services.store, routing=services.routing.current)
    _migrate(services.store)
    if settings.webhook_secret:  # for worker hosts without it: they sign with this one, never their own
        with contextlib.suppress(StoreUnavailable):  # Redis away: the scheduler keeps it there too
            services.store.shared.publish_webhook_secrets(settings.webhook_secret, settings.webhook_previous_secret)
    app.after_request(_secure_headers)
    _register_pages(app)
    app.register_error_handler(Exception, handle_error)
    logging.getLogger("smartsupport").setLevel(logging.INFO)
    if settings.redact:  # personal data out of the API's log lines (werkzeug adds its handler lazily)
        redact.install(region=settings.phone_region)
        logging.getLogger("werkzeug").addFilter(redact.RedactingFilter(region=settings.phone_region))
    return app


def _services(settings: Settings) -> Services:
    """What the views use. A bad labels or routing file stops the start, naming the place (and is
    never published)."""
    from workers.celery import app as celery_app

    label_names = [label.name for label in load_label_set(settings.labels_file).labels]
    if settings.routing_file:
        routing_file.load(settings.routing_file, labels=label_names)
    store = TicketStore.from_url(settings.broker_url)
    services = Services(
        settings=settings,
        store=store,
        keys=KeyRing(operator_keys=settings.api_keys, submit_keys=settings.submit_keys,
                     agent_of=store.agents.agent_of),
        celery=celery_app,
        routing=RoutingSource(settings.routing_file, labels=lambda: services.label_names(),
                              webhook_urls=settings.webhook_urls, secret=settings.webhook_secret, shared=store.shared,
                              publish=True),
        labels=published.labels(store.shared, settings.labels_file, publish=True),
    )
    return services


def _register_api(app: Flask, settings: Settings) -> None:
    """The API's blueprint, behind its rate limit (per principal, shared by every API process through
    Redis) and the large-body admission (web/admission.py)."""
    from . import admission, agents, teams  # noqa: F401 (agents' and teams' views join the blueprint)
    from .api import api

    # No X-RateLimit-* headers on every answer: they cost two more Redis round trips per request.
    # A 429 still says when to come back (Retry-After, see errors.handle_error).
    storage_uri, storage_options = connect.limiter_storage(settings.broker_url)
    limiter = Limiter(key_func=_rate_limit_key, app=app, storage_uri=storage_uri, headers_enabled=False,
                      storage_options={"socket_connect_timeout": 2, **storage_options}, swallow_errors=True)
    app.extensions["smartsupport_limiter"] = limiter
    limiter.limit(settings.rate_limit, cost=admission.request_cost,
                  exempt_when=lambda: request.endpoint == "api.health")(api)
    admission.install(app)
    app.register_blueprint(api)


def _register_pages(app: Flask) -> None:
    """The OpenAPI document, and the dashboard: its files, and its index for every other path."""
    from .openapi import build_spec

    @app.get("/openapi.json")
    def openapi():
        return build_spec(app, tuple(app.extensions["smartsupport"].label_names()))

    @app.get("/", defaults={"path": ""})
    @app.get("/<path:path>")
    def dashboard(path: str):
        if path.startswith("api/"):
            abort(404)
        # A path that leaves STATIC_DIR (`..%2f`) is a missing file: the SPA, never a probe outside it.
        asset = safe_join(str(STATIC_DIR), path) if path else None
        if asset is not None and Path(asset).is_file():
            return send_from_directory(STATIC_DIR, path)
        if not (STATIC_DIR / "index.html").is_file():
            return ("The dashboard is not built: run `make build` (the API under /api works without it).\n",
                    200, {"Content-Type": "text/plain"})
        return send_from_directory(STATIC_DIR, "index.html")


def _rate_limit_key() -> str:
    """Limits apply per authenticated principal, however its header is spelled ("bearer KEY",
    "Bearer  KEY" are one key), or per address for requests without a valid key (or while an
    agent's key cannot be looked up: the request then gets its 503 from the API)."""
    from .blueprint import request_principal

    principal = None
    with contextlib.suppress(StoreUnavailable):
        principal = request_principal()
    return principal.fingerprint if principal else "addr:" + (request.remote_addr or "unknown")


def _migrate(store: TicketStore) -> None:
    """Bring a store written by an older version up to the current indexes (once; Redis may be away)."""
    try:
        if count := store.ops.migrate_indexes():
            logging.getLogger(__name__).warning("indexed %d tickets written by an older version", count)
    except StoreUnavailable:
        pass  # the next start does it


def _secure_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Content-Security-Policy", CSP)
    return response
