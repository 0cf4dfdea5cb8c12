"""Where the store keeps things in Redis: every key SmartSupport writes starts with ``ss:``. Each key
belongs to one part of the store (the module named last), which alone writes it.

  ss:ticket:<id>             hash: ticket JSON, status, error, category, urgency, t:<event>
                             timestamps (tickets; its route, mail_ids and incident fields: routes,
                             mail, incidents)
  ss:ticket:<id>:deliveries  hash: endpoint URL -> delivery state JSON (deliveries)
  ss:ticket:<id>:attempts    list: one JSON entry per webhook attempt, the delivery log (deliveries)
  ss:ticket:<id>:replies     list: the replies that joined the ticket (mail)
  ss:ticket:<id>:audit       list: who did what to the ticket, when, the newest 200 (audit)
  ss:tickets:created         zset: id -> created_at (tickets, through indexes.py)
  ss:tickets:urgency         zset: id -> urgency score, -1 until scored (tickets, through indexes.py)
  ss:tickets:status:<s>      zset: the tickets in status s -> created_at (and :urgency -> urgency score)
  ss:tickets:submitter:<fp>  zset: one submit key's tickets -> created_at (and :urgency -> urgency score)
  ss:tickets:finished        zset: done and failed tickets -> when they ended, for retention (tickets)
  ss:indexes:version         the layout of the indexes (ops, through indexes.py)
  ss:metrics:stage:<stage>   hash: histogram bucket -> count, plus sum and count, all processes (metrics)
  ss:metrics:webhooks        hash: attempt outcome -> count (deliveries)
  ss:metrics:first_response_open:<team>  hash: histogram bucket (open seconds from creation to
                             acknowledgement) -> count, plus sum and count (routes)
  ss:endpoint:<sha>:log      list: the newest ENDPOINT_LOG_SIZE attempts to one endpoint (deliveries)
  ss:webhooks:disabled       hash: endpoint URL -> why, it answered 410 Gone (deliveries)
  ss:webhooks:dead           hash: "<subject> <url>" -> event whose attempts ran out (deliveries)
  ss:webhooks:pending        zset: "<subject> <url>" -> when the pending delivery should next show
                             progress (deliveries)
  ss:sweeper:lock            string: held by the one sweeper running now (sweeper)
  ss:outbox                  zset: ticket id -> when stored, for tickets whose first message is not
                             known to be queued yet: a broker other than the store's Redis (outbox)
  ss:scheduler:tick          string: when the scheduler (Celery beat) last woke up (ops)
  ss:replication:probe       counter: written before a WAIT (ops)
  ss:idem:<scope>:<sha>      string: {"ticket_id", "body", "at"} for an Idempotency-Key, 24 h (idempotency)
  ss:corrections             hash: ticket id -> {"label", "text", "at"} confirmed by an operator (corrections)
  ss:corrections:version     counter, bumped on every correction: workers refresh their examples (corrections)
  ss:corrections:urgency     hash: ticket id -> {"label" (the level), "text", "at"}, and its :version (corrections)
  ss:classifier:centre       string: the traffic centre every model process scores around (model_state)
  ss:sla:<id>:event:<name>   hash: an SLA event's payload; its :deliveries and :attempts as a ticket's
                             (deliveries)
  ss:team..., ss:agent...,   routes, team queues and the SLA clock (routes)
  ss:sla:due
  ss:config:...              the configuration and webhook secrets the API publishes (shared)
  ss:mail:...                the mailbox's Message-IDs and state (mail)
  ss:helpdesk:...            the helpdesk's tickets, cursors, write-backs and state (helpdesk)
  ss:incident...             incidents: their log, lock, records, members and events (incidents)
  ss:agents:keys             hash: SHA-256 digest of an agent's key -> {"agent", "created_at"} (agents)
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
FIRST_RESPONSE_METRICS = PREFIX + "metrics:first_response_open:"
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
