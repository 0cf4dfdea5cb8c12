"""Celery settings, lower-case, every value taken from SmartSupport's Settings (read, never written)."""

from typing import Any

from kombu import Exchange, Queue

from smartsupport.config import Settings
from smartsupport.store.connect import celery_broker

_settings = Settings.from_env()

_QUEUES = ("model", "tickets", "webhooks")
#: The highest message priority of RabbitMQ's classic priority queues (workers.pipeline.AMQP_PRIORITY).
_AMQP_MAX_PRIORITY = 9


def broker_settings(settings: Settings) -> dict[str, Any]:
    """The Celery settings that depend on the broker: the store's Redis (by default), another Redis,
    or RabbitMQ (``SMARTSUPPORT_BROKER_URL``); each kind sets the same keys. This module applies them
    to every process started from the environment, ``workers.celery.use_broker`` to an API built
    with explicit Settings."""
    # A Sentinel group (REDIS_URL=sentinel://...) in Celery's spelling, with the options naming its master.
    broker, sentinel = celery_broker(settings.celery_broker_url)
    backend, backend_sentinel = celery_broker(settings.broker_url)
    common = {"broker_url": broker, "result_backend": backend, "result_backend_transport_options": {
        "visibility_timeout": settings.visibility_timeout_s, **backend_sentinel}}
    if not settings.rabbitmq:
        return {**common, "task_queues": [Queue(name) for name in _QUEUES], "broker_connection_timeout": 4.0,
                "broker_native_delayed_delivery_queue_type": "quorum", "broker_transport_options": {
                    # Redis redelivers a message not acked within the visibility timeout: it must exceed
                    # the longest task and the longest retry countdown (celery #3270, #4400), see
                    # Settings.validate().
                    "visibility_timeout": settings.visibility_timeout_s,
                    # Give a dead worker's messages to the others soon after the visibility timeout:
                    # kombu's defaults sweep only every ~100 s and restore 10 messages per sweep.
                    "unacked_restore_interval": max(1, min(10, settings.visibility_timeout_s // 4)),
                    "unacked_restore_throttle": 1,
                    "unacked_restore_limit": 1000,
                    "unacked_mutex_expire": 60,
                    # Priorities: 0 is served first; each step is its own Redis list ("model", "model:3", ...).
                    "priority_steps": [0, 3, 6, 9],
                    "sep": ":",
                    "queue_order_strategy": "priority",
                    **sentinel,
                }}
    # RabbitMQ: durable queues of the chosen kind. A publish waits for the broker's confirm (the
    # message stored; on a quorum queue, on a majority of its nodes), at most broker_timeout_s. A
    # worker's unacknowledged messages go back to the queue when its connection drops: there is no
    # visibility timeout to wait for.
    quorum = settings.broker_queues == "quorum"
    arguments = {"x-queue-type": "quorum"} if quorum else {"x-max-priority": _AMQP_MAX_PRIORITY}
    return {**common,
            # Topic exchanges: Celery's native delayed delivery (countdowns, retries) needs them with
            # quorum queues, which hold no per-message delay; the workers declare its celery_delayed_*.
            "task_queues": [Queue(name, Exchange(name, type="topic"), routing_key=name, queue_arguments=arguments)
                            for name in _QUEUES],
            "broker_connection_timeout": settings.broker_timeout_s,
            "broker_native_delayed_delivery_queue_type": "quorum" if quorum else "classic",
            "broker_transport_options": {"confirm_publish": True}}


globals().update(broker_settings(_settings))  # broker_url, result_backend, task_queues, broker_transport_options...
broker_connection_retry_on_startup = True
# Quorum queues refuse a global prefetch limit: on them each consumer gets its own (Celery >= 5.5).
worker_detect_quorum_queues = True
result_expires = _settings.result_expires_s
# Ticket state lives in SmartSupport's own Redis records, never in task results: storing them (and
# subscribing to them on every publish) would cost a round trip per task for nothing.
task_ignore_result = True

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
timezone = "UTC"

# A queue that must not lose work: ack after the task ran, requeue if the worker process dies,
# and take one message at a time. The model worker is started with --prefetch-multiplier of twice
# its batch size (see deploy/cli.py): it holds the running batch and the next one, each
# message still acked only after its batch ran.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
task_soft_time_limit = 120
task_time_limit = 180

# Queues by kind of work (_QUEUES, declared above): the model stage (CPU, batched), the cheap
# stages, webhooks (I/O).
task_default_queue = "tickets"
task_routes = {
    "workers.tasks.classify_ticket": {"queue": "model"},
    "workers.tasks.deliver_webhook": {"queue": "webhooks"},
    "workers.tasks.write_back_ticket": {"queue": "webhooks"},
}
worker_concurrency = _settings.worker_concurrency

# What each worker imports besides the tasks: the `readiness` command that /api/health broadcasts.
imports = ("workers.readiness",)
# A prefork pool process says it is up once its worker_process_init ran: the model's load, precision
# probe and warm-up pass (workers.tasks), seconds on a slow host. Celery's 4 s would kill it first.
worker_proc_alive_timeout = 120.0

# Flower needs task events: the workers send them. "task-sent" events would cost every publisher
# (the API included) one more Redis publish per task, for a "sent" state Flower can do without.
worker_send_task_events = True
task_send_sent_event = False

# The sweeper re-queues tickets whose message was lost (see workers.tasks.sweep_stuck_tickets);
# beat runs as a process of its own in `make run`, and a Redis lock keeps one sweep at a time.
# Its scheduler notes each tick in Redis, so /api/health can tell that it runs.
beat_scheduler = "workers.scheduler:HeartbeatScheduler"
beat_schedule = {
    "sweep-stuck-tickets": {
        "task": "workers.tasks.sweep_stuck_tickets",
        "schedule": min(60.0, _settings.stuck_after_s / 4),
    },
    # Tickets stored while the broker was away (the outbox; only with a broker other than the
    # store's Redis, or before a process first connected): queued within seconds of its return.
    "drain-outbox": {
        "task": "workers.tasks.drain_outbox",
        "schedule": 5.0,
    },
    # SLA warnings and breaches (SMARTSUPPORT_ROUTING_FILE): fired within a few seconds of their time.
    "fire-sla-events": {
        "task": "workers.tasks.fire_sla_events",
        "schedule": _settings.sla_check_s,
    },
    # Work pushed to agents (routing file, assignment: round_robin | least_loaded): what no hand-out
    # on routing, resolving or an agent's return took, e.g. when a calendar opens.
    "push-waiting-work": {
        "task": "workers.tasks.push_waiting_work",
        "schedule": 5.0,
    },
    # Retention (SMARTSUPPORT_RETENTION_DAYS): a few hundred deletions per round trip, every 10 minutes.
    "expire-tickets": {
        "task": "workers.tasks.expire_tickets",
        "schedule": 600.0,
    },
}
