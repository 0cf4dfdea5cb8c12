"""Prometheus metrics at /metrics.

Request latency is measured in each API process (prometheus_client's multiprocess mode when
PROMETHEUS_MULTIPROC_DIR is set, as `make run` does for gunicorn). Pipeline metrics come from Redis,
where every worker process adds to them: tickets by status, stage-latency histograms, webhook
attempts by outcome, queue depth (on RabbitMQ, asked of the broker) and, per team of the routing in
force, its queue, SLA breaches by target, time to first response in open time and agents there, so
one scrape sees the whole system.
"""

from __future__ import annotations

import os
import time
from typing import Callable

import celeryconfig
from celery import Celery
from flask import Flask, Response, g, request
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from smartsupport import assignment
from smartsupport.parsing import is_amqp
from smartsupport.routing import Routing
from smartsupport.store import FIRST_RESPONSE_BUCKETS_S, LATENCY_BUCKETS_MS, TicketStore

#: Redis lists behind each Celery queue, one per priority step after the first (kombu's layout, with
#: the priority_steps of celeryconfig.broker_settings).
QUEUES = {q.name: [q.name] + [f"{q.name}:{step}" for step in (3, 6, 9)] for q in celeryconfig.task_queues}
REQUEST_LATENCY = Histogram("smartsupport_http_request_duration_seconds", "API request latency",
                            ["method", "endpoint", "status"],
                            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
#: The methods that keep their own ``method`` label; any other (a client may send any token of up to
#: 20 letters) counts as "other", so that no client can add series at will.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class PipelineCollector:
    """Reads the pipeline's shared metrics from Redis at scrape time."""

    def __init__(self, store: TicketStore, routing: Callable[[], Routing] | None = None,
                 celery: Celery | None = None) -> None:
        self.store, self.routing, self.celery = store, routing, celery

    def collect(self):
        rabbitmq = self.celery is not None and is_amqp(self.celery.conf.broker_url)
        snap = self.store.metrics.snapshot([] if rabbitmq else [key for keys in QUEUES.values() for key in keys])
        tickets = GaugeMetricFamily("smartsupport_tickets", "Tickets by status", labels=["status"])
        for status, count in snap["statuses"].items():
            tickets.add_metric([status], count)
        yield tickets
        stages = HistogramMetricFamily("smartsupport_stage_duration_milliseconds",
                                       "Per-ticket stage latency", labels=["stage"])
        for stage, raw in snap["stages"].items():
            _add_histogram(stages, [stage], raw, LATENCY_BUCKETS_MS)
        yield stages
        attempts = CounterMetricFamily("smartsupport_webhook_attempts", "Webhook attempts by outcome",
                                       labels=["outcome"])
        for outcome, count in snap["webhooks"].items():
            attempts.add_metric([outcome], count)
        yield attempts
        depth = GaugeMetricFamily("smartsupport_queue_depth", "Messages waiting per Celery queue", labels=["queue"])
        depths = _rabbitmq_depths(self.celery) if rabbitmq else {
            queue: sum(snap["queues"][key] for key in keys) for queue, keys in QUEUES.items()}
        for queue, count in depths.items():
            depth.add_metric([queue], count)
        yield depth
        if self.routing is not None:
            rules = self.routing()
            names = rules.team_names()
            yield from self._teams(self.store.routes.teams_summary(names))
            yield from self._sla(self.store.routes.sla_metrics(names))
            yield self._available(rules, names)

    @staticmethod
    def _teams(summaries: list[dict]):
        waiting = GaugeMetricFamily("smartsupport_team_waiting", "Unassigned, unresolved tickets per team",
                                    labels=["team"])
        oldest = GaugeMetricFamily("smartsupport_team_oldest_waiting_seconds", "Age of the oldest waiting ticket",
                                   labels=["team"])
        breaches = CounterMetricFamily("smartsupport_team_sla_breaches", "SLA breaches per team", labels=["team"])
        acks = CounterMetricFamily("smartsupport_team_acknowledged", "Tickets acknowledged per team",
                                   labels=["team"])
        for t in summaries:
            waiting.add_metric([t["team"]], t["waiting"])
            oldest.add_metric([t["team"]], t["oldest_waiting_s"] or 0.0)
            breaches.add_metric([t["team"]], t["sla_breaches"])
            acks.add_metric([t["team"]], t["acknowledged"])
        yield from (waiting, oldest, breaches, acks)

    @staticmethod
    def _sla(per_team: dict[str, dict]):
        breaches = CounterMetricFamily("smartsupport_sla_breaches", "SLA breaches per team and target",
                                       labels=["team", "target"])
        first_response = HistogramMetricFamily("smartsupport_first_response_open_seconds",
                                               "Time from creation to acknowledgement, in the open time of "
                                               "the ticket's SLA calendar", labels=["team"])
        for team, sla in per_team.items():
            for target, count in sla["breaches"].items():
                breaches.add_metric([team, target], count)
            _add_histogram(first_response, [team], sla["first_response_open"], FIRST_RESPONSE_BUCKETS_S)
        yield from (breaches, first_response)

    def _available(self, rules: Routing, names: list[str]) -> GaugeMetricFamily:
        """Members there now (said available, or their calendar is open), per team."""
        members = {name: [m.name for m in rules.teams[name].members] for name in names}
        there = assignment.there(rules, self.store.assignment.presence({a for ms in members.values() for a in ms}))
        available = GaugeMetricFamily("smartsupport_agents_available",
                                      "Members work may be pushed to now, per team", labels=["team"])
        for name, agents in members.items():
            available.add_metric([name], sum(there[a] for a in agents))
        return available


def _add_histogram(family: HistogramMetricFamily, labels: list[str], raw: dict[str, str],
                   bounds: tuple[int, ...]) -> None:
    """One series of ``family`` from a histogram hash kept in Redis (bucket -> count, and sum)."""
    running, buckets = 0, []
    for bound in [*map(str, bounds), "+Inf"]:
        running += int(raw.get(bound, 0))
        buckets.append((bound, running))
    family.add_metric(labels, buckets, sum_value=float(raw.get("sum", 0)))


def _rabbitmq_depths(celery: Celery) -> dict[str, int]:
    """Messages ready on each queue, asked of RabbitMQ (a passive declare each); none while it is away."""
    try:
        with celery.connection_or_acquire() as connection, connection.channel() as channel:  # a pooled connection
            return {q.name: channel.queue_declare(q.name, passive=True).message_count for q in celeryconfig.task_queues}
    except Exception:  # the broker is away, or a queue not declared yet: /api/health says which
        return {}


def init_metrics(app: Flask, store: TicketStore, routing: Callable[[], Routing] | None = None) -> None:
    pipeline = CollectorRegistry(auto_describe=False)
    services = app.extensions.get("smartsupport")
    pipeline.register(PipelineCollector(store, routing, celery=services.celery if services else None))

    @app.before_request
    def _start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        if "started" in g and request.endpoint != "metrics":
            # The endpoint is a route's name, or "unknown" (no route matched): both bounded, as is the method.
            method = request.method if request.method in KNOWN_METHODS else "other"
            REQUEST_LATENCY.labels(method, request.endpoint or "unknown",
                                   str(response.status_code)).observe(time.perf_counter() - g.started)
        return response

    @app.get("/metrics")
    def metrics():
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            own = CollectorRegistry()
            MultiProcessCollector(own)
        else:
            own = REGISTRY
        body = generate_latest(own) + generate_latest(pipeline)
        return Response(body, content_type="text/plain; version=0.0.4; charset=utf-8")
