"""Where the store keeps things in Redis: every key SmartSupport writes starts with ``ss:``.

  ss:ticket:<id>             hash: ticket JSON, status, error, category, urgency, t:<event> timestamps
  ss:ticket:<id>:deliveries  hash: endpoint URL -> delivery state JSON
  ss:ticket:<id>:attempts    list: one JSON entry per webhook attempt (the delivery log)
  ss:tickets:created         zset: id -> created_at
  ss:tickets:urgency         zset: id -> urgency score (-1 until scored)
  ss:tickets:status:<s>      zset: the tickets in status s -> created_at (and :urgency -> urgency score)
  ss:tickets:submitter:<fp>  zset: one submit key's tickets -> created_at (and :urgency -> urgency score)
  ss:tickets:finished        zset: done and failed tickets -> when they ended (retention)
  ss:metrics:stage:<stage>   hash: histogram bucket -> count, plus sum and count (all processes)
  ss:metrics:webhooks        hash: attempt outcome -> count
  ss:endpoint:<sha>:log      list: the newest ENDPOINT_LOG_SIZE attempts to one endpoint
  ss:webhooks:disabled       hash: endpoint URL -> why (it answered 410 Gone)
  ss:webhooks:dead           hash: "<subject> <url>" -> event whose attempts ran out
  ss:webhooks:pending        zset: "<subject> <url>" -> when the pending delivery should next show progress
  ss:sweeper:lock            string: held by the one sweeper running now
  ss:outbox                  zset: ticket id -> when stored, for tickets whose first message is not
                             known to be queued yet (a broker other than the store's Redis; store/outbox.py)
  ss:scheduler:tick          string: when the scheduler (Celery beat) last woke up
  ss:idem:<scope>:<sha>      string: {"ticket_id", "body", "at"} for an Idempotency-Key, 24 h
  ss:corrections             hash: ticket id -> {"label", "text", "at"} confirmed by an operator
  ss:corrections:version     counter, bumped on every correction (workers refresh their examples)
  ss:corrections:urgency     hash: ticket id -> {"label" (the level), "text", "at"}, and its :version
  ss:classifier:centre       string: the traffic centre every model process scores around (centring.py)
  ss:sla:<id>:event:<name>   hash: an SLA event's payload; its :deliveries and :attempts as a ticket's
  ss:team..., ss:agent...,   routes, team queues and the SLA clock: see store/routes.py
  ss:sla:due
  ss:config:webhook_secrets  the installation's webhook secrets, for hosts without them (store/shared.py)
  ss:mail:...                the mailbox's Message-IDs and state: see store/mail.py
  ss:incident...             incidents: see smartsupport/incidents/
"""

from __future__ import annotations

import hashlib

PREFIX = "ss:"
CREATED = PREFIX + "tickets:created"
BY_URGENCY = PREFIX + "tickets:urgency"
FINISHED = PREFIX + "tickets:finished"
#: The layout of the indexes; an older store is migrated when the API starts (web.create_app).
INDEX_VERSION = PREFIX + "indexes:version"
CORRECTIONS = PREFIX + "corrections"
CORRECTIONS_VERSION = PREFIX + "corrections:version"
URGENCY_CORRECTIONS = PREFIX + "corrections:urgency"
URGENCY_CORRECTIONS_VERSION = PREFIX + "corrections:urgency:version"
TRAFFIC_CENTRE = PREFIX + "classifier:centre"
STAGE_METRICS = PREFIX + "metrics:stage:"
WEBHOOK_METRICS = PREFIX + "metrics:webhooks"
DISABLED_ENDPOINTS = PREFIX + "webhooks:disabled"
DEAD_LETTER = PREFIX + "webhooks:dead"
PENDING_DELIVERIES = PREFIX + "webhooks:pending"
SWEEP_LOCK = PREFIX + "sweeper:lock"
OUTBOX = PREFIX + "outbox"
SCHEDULER_TICK = PREFIX + "scheduler:tick"


def ticket(ticket_id: str) -> str:
    """The hash of one ticket."""
    return f"{PREFIX}ticket:{ticket_id}"


def subject(name: str) -> str:
    """Where a webhook subject's deliveries live: under its ticket, or under its incident event."""
    return PREFIX + name if name.startswith(("incident:", "sla:")) else ticket(name)


def status(name: str) -> str:
    """The set of the tickets in one status."""
    return f"{PREFIX}tickets:status:{name}"


def submitter(fingerprint: str) -> str:
    """The tickets of one submit key."""
    return f"{PREFIX}tickets:submitter:{fingerprint}"


def endpoint_log(url: str) -> str:
    """The newest attempts to one endpoint (keyed by a digest: URLs can be long and secret)."""
    return f"{PREFIX}endpoint:{hashlib.sha256(url.encode()).hexdigest()[:16]}:log"


def idempotency(scope: str, key: str) -> str:
    """One Idempotency-Key of one key holder."""
    return f"{PREFIX}idem:{scope}:{hashlib.sha256(key.encode()).hexdigest()}"


def pending(name: str, url: str) -> str:
    """A delivery's member in PENDING_DELIVERIES and DEAD_LETTER."""
    return f"{name} {url}"
