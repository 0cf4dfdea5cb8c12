"""Celery settings, lower-case, every value taken from SmartSupport's Settings (read, never written)."""

from kombu import Queue

from smartsupport.config import Settings
from smartsupport.store.connect import celery_broker

_settings = Settings.from_env()

# A Sentinel group (REDIS_URL=sentinel://...) in Celery's spelling, with the options that name its master.
broker_url, _sentinel = celery_broker(_settings.broker_url)
result_backend = broker_url
broker_connection_retry_on_startup = True
# Redis redelivers a message not acked within the visibility timeout: it must exceed the longest
# task and the longest retry countdown (celery #3270, #4400), see Settings.validate().
# Priorities: 0 is served first; each step is its own Redis list ("model", "model:3", ...).
broker_transport_options = {
    "visibility_timeout": _settings.visibility_timeout_s,
    # Give a dead worker's messages to the others soon after the visibility timeout: kombu's
    # defaults sweep only every ~100 s and restore 10 messages per sweep.
    "unacked_restore_interval": max(1, min(10, _settings.visibility_timeout_s // 4)),
    "unacked_restore_throttle": 1,
    "unacked_restore_limit": 1000,
    "unacked_mutex_expire": 60,
    "priority_steps": [0, 3, 6, 9],
    "sep": ":",
    "queue_order_strategy": "priority",
    **_sentinel,
}
result_backend_transport_options = {"visibility_timeout": _settings.visibility_timeout_s, **_sentinel}
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

# Queues by kind of work: the model stage (CPU, batched), the cheap stages, webhooks (I/O).
task_queues = [Queue("model"), Queue("tickets"), Queue("webhooks")]
task_default_queue = "tickets"
task_routes = {
    "workers.tasks.classify_ticket": {"queue": "model"},
    "workers.tasks.deliver_webhook": {"queue": "webhooks"},
}
worker_concurrency = _settings.worker_concurrency

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
    # SLA warnings and breaches (SMARTSUPPORT_ROUTING_FILE): fired within a few seconds of their time.
    "fire-sla-events": {
        "task": "workers.tasks.fire_sla_events",
        "schedule": _settings.sla_check_s,
    },
    # Retention (SMARTSUPPORT_RETENTION_DAYS): a few hundred deletions per round trip, every 10 minutes.
    "expire-tickets": {
        "task": "workers.tasks.expire_tickets",
        "schedule": 600.0,
    },
}
