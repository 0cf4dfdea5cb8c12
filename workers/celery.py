"""The Celery application: ``celery -A workers worker`` finds ``app`` here."""

import threading

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger

from smartsupport.config import Settings

from .leases import Lease

app = Celery("smartsupport")
app.config_from_object("celeryconfig")
app.autodiscover_tasks(["workers"], related_name="tasks", force=True)
app.steps["consumer"].add(Lease)  # a dead worker's messages back within seconds (workers/leases.py)


@after_setup_logger.connect
@after_setup_task_logger.connect
def _redact_logs(logger, **_) -> None:
    """Personal data out of the workers' log lines (SMARTSUPPORT_REDACT): the filter goes on the
    handlers Celery has just set up."""
    from smartsupport import redact

    settings = Settings.from_env()
    if settings.redact:
        redact.install(region=settings.phone_region, loggers=[logger])


def use_broker(settings: Settings) -> None:
    """Point this process's app at the broker of ``settings`` (``celeryconfig.broker_settings``: its
    URL, queues and transport options; the result backend on the Redis): an API built with explicit
    Settings, as tests do.

    Celery reads the broker from the environment at import; a changed broker must also drop the
    connection and producer pools, the queues and the routes that were built for the old one.
    """
    import celeryconfig

    conf = celeryconfig.broker_settings(settings)
    if all(app.conf.get(key) == value for key, value in conf.items()):
        return
    app.conf.update(conf)
    app._pool = None
    app.__dict__.pop("amqp", None)  # its queues, router and producer pool
    app._local = threading.local()  # the cached result backend
