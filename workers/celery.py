"""The Celery application: ``celery -A workers worker`` finds ``app`` here."""

import threading

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger

app = Celery("smartsupport")
app.config_from_object("celeryconfig")
app.autodiscover_tasks(["workers"], related_name="tasks", force=True)


@after_setup_logger.connect
@after_setup_task_logger.connect
def _redact_logs(logger, **_) -> None:
    """Personal data out of the workers' log lines (SMARTSUPPORT_REDACT): the filter goes on the
    handlers Celery has just set up."""
    from smartsupport import redact
    from smartsupport.config import Settings

    settings = Settings.from_env()
    if settings.redact:
        redact.install(region=settings.phone_region, loggers=[logger])


def use_broker(url: str, result_backend: str | None = None) -> None:
    """Point this process's app at broker ``url`` and ``result_backend`` (by default the same URL):
    an API built with explicit Settings, as tests do.

    Celery reads the broker from the environment at import; a changed URL must also drop the
    connection and producer pools that were already opened against the old one.
    """
    from smartsupport.store.connect import celery_broker

    url, sentinel = celery_broker(url)  # a Sentinel group: in Celery's spelling, with its master's name
    result_backend = celery_broker(result_backend)[0] if result_backend else url
    if app.conf.broker_url == url and app.conf.result_backend == result_backend:
        return
    app.conf.update(broker_url=url, result_backend=result_backend,
                    broker_transport_options={**app.conf.broker_transport_options, **sentinel},
                    result_backend_transport_options={**app.conf.result_backend_transport_options, **sentinel})
    app._pool = None
    if "amqp" in app.__dict__:
        app.amqp._producer_pool = None
    app._local = threading.local()  # the cached result backend
