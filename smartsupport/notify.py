"""Webhook events: building the payload (pure) and posting it, signed per Standard Webhooks."""

from __future__ import annotations

import json
import random
import re
import time
from datetime import datetime, timezone
from typing import Any, Sequence

import pycurl
from standardwebhooks.webhooks import Webhook

from .errors import WebhookFailed, WebhookRejected
from .redact import DEFAULT_REGION, redact_value

EVENT_TYPE = "ticket.urgent"
#: The most of a receiver's answer that is read; the rest is not waited for.
RESPONSE_CAP = 64 * 1024
CONNECT_TIMEOUT_S = 5.0
#: The most of a ticket's subject (or body) that a Slack message quotes, in characters.
SLACK_TITLE_CHARS = 150
#: Slack's three control characters as the entities it documents, and mrkdwn's markup characters
#: as look-alikes (Slack has no escape for them; jsx-slack makes the same replacements).
_SLACK_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "*": "\u2217", "_": "\u02cd",
                                "~": "\u223c", "`": "\u02cb", "\uff0a": "\ufe61", "\uff3f": "\u2e0f",
                                "\uff40": "\u02cb", "\uff5e": "\u223c"})
#: Control characters (C0 but whitespace, DEL, C1) and the bidirectional embeddings, overrides and
#: isolates that reorder what a reader sees.
_INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def event_id_for(subject: str) -> str:
    """The event id of a ticket's urgent event (``evt_<ticket id>``) or of an incident event
    (``evt_incident_<id>_<name>``): the same for every retry and redelivery."""
    return "evt_" + subject.replace(":event:", "_").replace(":", "_")


def compute_backoff(attempt: int, *, base_s: float, factor: float, max_s: float, jitter: float = 0.2,
                    rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): ``base * factor**(attempt-1)``,
    capped at ``max_s``, then spread by +/- ``jitter`` so that many failing events do not retry in step.

    With the defaults (30 s, x3.5, 8 attempts) the retries span about 21 hours.
    """
    delay = min(base_s * factor ** max(attempt - 1, 0), max_s)
    spread = (rng or random).uniform(-jitter, jitter)
    return max(0.0, delay * (1.0 + spread))


def should_notify(urgency_score: float, *, threshold: float) -> bool:
    return urgency_score >= threshold


def build_payload(ticket: dict[str, Any], *, event_id: str) -> dict[str, Any]:
    """The event body: ``{"type", "id", "data": <ticket as in GET>}``."""
    return {"type": EVENT_TYPE, "id": event_id, "data": ticket}


def payload_for(store, subject: str, *, event_id: str, destination=None, threshold: float = 1.0,
                redact: bool = False, phone_region: str = DEFAULT_REGION) -> dict[str, Any]:
    """What to POST for a subject: the ticket as it is now, or the incident or SLA event's snapshot.
    A ticket's own event is ``ticket.urgent`` for an urgent one sent to a destination that asked for
    urgent tickets (every one, without a routing file), else ``ticket.routed``. With ``redact``,
    personal data in its strings is masked (``redact.redact_value``): it leaves for other systems,
    while the stored ticket keeps the original."""
    if subject.startswith(("incident:", "sla:")):
        payload = store.deliveries.event_payload(subject)
    else:
        view = store.views.get(subject)
        payload = build_payload({k: v for k, v in view.items() if k != "webhook"}, event_id=event_id)
        if destination is not None and not ("ticket.urgent" in destination.events and view["urgency"]
                                            and view["urgency"]["score"] >= threshold):
            payload["type"] = "ticket.routed"
    return redact_value(payload, region=phone_region) if redact else payload


def slack_message(payload: dict[str, Any]) -> dict[str, Any]:
    """A Slack-compatible incoming-webhook message for an event (``{"text", "blocks"}``).

    Every value put in it is escaped for Slack (``slack_text``): a customer's subject or body reads
    as plain text, never as a mention, a link or markup. The block is ``verbatim``, so Slack does
    not turn bare URLs and channel names into links, and the message asks for no link previews."""
    data = payload.get("data") or {}
    item = data.get("ticket", data) if isinstance(data, dict) else {}
    title = slack_text(item.get("subject") or item.get("title") or item.get("body") or "", limit=SLACK_TITLE_CHARS)
    category = item.get("category") or {}
    if payload["type"].startswith("incident."):  # a snapshot of the incident: its category is a label
        head = slack_text(category if isinstance(category, str) else category.get("label", "?"))
        about = f"incident {slack_text(item.get('id', '?'))}, {slack_text(item.get('size', '?'))} tickets"
    else:
        route = item.get("route") or {}
        head = f"{slack_text(category.get('label', '?'))}, {slack_text((item.get('urgency') or {}).get('level', '?'))}"
        about = (f"ticket {slack_text(item.get('id', '?'))}, team {slack_text(route.get('team', '?'))}, "
                 f"priority {slack_text(route.get('priority', '?'))}")
    text = f"[{slack_text(payload['type'])}] {head}: {title} ({about})"
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}],
            "unfurl_links": False, "unfurl_media": False, "id": payload["id"], "type": payload["type"]}


def slack_text(value: Any, *, limit: int | None = None) -> str:
    """``value`` as plain text inside Slack mrkdwn: control and bidirectional characters dropped,
    whitespace (line breaks too) made single spaces, cut to ``limit`` characters (with an ellipsis)
    before escaping, so that a cut never splits an entity; then ``&``, ``<`` and ``>`` escaped as
    Slack asks (no ``<!channel>``, ``<@U123>`` or ``<url|label>`` survives), and ``*``, ``_``, ``~``
    and a backtick, which Slack cannot escape, replaced by look-alikes that carry no markup."""
    text = " ".join(_INVISIBLE.sub("", str(value)).split())
    if limit is not None and len(text) > limit:
        text = text[:limit - 1].rstrip() + "\u2026"
    return text.translate(_SLACK_ESCAPES)


def sign_headers(payload: str, *, event_id: str, secret: str | Sequence[str],
                 now: datetime | None = None) -> dict[str, str]:
    """Standard Webhooks headers for ``payload``, with one signature per secret (the current one
    first, space-separated as the standard allows): while a secret is rotated, a receiver that
    holds either the old or the new one verifies every event. Empty secrets (no previous one) are
    skipped."""
    when = now or datetime.now(tz=timezone.utc)
    keys = list(dict.fromkeys(s for s in ([secret] if isinstance(secret, str) else secret) if s))
    if not keys:
        raise ValueError("no webhook secret to sign with")
    signature = " ".join(Webhook(key).sign(event_id, when, payload) for key in keys)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": "SmartSupport-Webhooks/1",
    }


def post_webhook(url: str, payload: dict[str, Any], *, secret: str | Sequence[str], timeout_s: float,
                 slack: bool = False) -> dict[str, Any]:
    """POST one signed event (as a Slack message when ``slack``); return the attempt record, or raise.
    ``secret`` is one secret or several (current first, then the previous one during a rotation):
    each signs the event (``sign_headers``).

    The whole attempt (connecting, sending, the answer's headers and body) ends by ``timeout_s``,
    however slowly the receiver drips its answer, and no more than RESPONSE_CAP bytes of the
    answer are read: one slow or chatty receiver cannot hold a delivery thread for longer.
    Raises ``WebhookFailed`` for what a retry may fix (5xx, 429, timeouts, connection errors) and
    ``WebhookRejected`` for other non-2xx answers; both carry the attempt record in ``.attempt``.
    """
    body = json.dumps(slack_message(payload) if slack else payload, separators=(",", ":"), sort_keys=True,
                      allow_nan=False)  # strict JSON only
    headers = sign_headers(body, event_id=payload["id"], secret=secret)
    started = time.time()
    attempt: dict[str, Any] = {"at": started, "status_code": None, "error": None}
    status, retry_after, error = _post(url, body.encode(), headers, timeout_s=timeout_s)
    attempt.update(latency_ms=_ms(started), status_code=status)
    if status is None:
        attempt["error"] = error
        raise _with(WebhookFailed(error), attempt)
    if 200 <= status < 300:
        return attempt
    attempt["error"] = f"HTTP {status}"
    if status >= 500 or status == 429:
        raise _with(WebhookFailed(attempt["error"], retry_after_s=retry_after), attempt)
    raise _with(WebhookRejected(attempt["error"]), attempt)


def _post(url: str, body: bytes, headers: dict[str, str], *,
          timeout_s: float) -> tuple[int | None, float | None, str | None]:
    """(status, Retry-After seconds, error) of one POST through libcurl, whose timeout bounds the
    whole transfer (requests' applies to each read: a receiver sending a byte a second never ends)."""
    received = bytearray()
    answer: dict[str, str] = {}

    def keep(chunk: bytes):
        if len(received) + len(chunk) > RESPONSE_CAP:
            return 0  # libcurl stops the transfer: the answer's status is all we need
        received.extend(chunk)
        return None

    def header(line: bytes) -> None:
        name, sep, value = line.decode("latin-1").partition(":")
        if sep:
            answer[name.strip().lower()] = value.strip()

    curl = pycurl.Curl()
    try:
        curl.setopt(pycurl.URL, url)
        curl.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        curl.setopt(pycurl.POST, 1)
        curl.setopt(pycurl.POSTFIELDS, body)
        curl.setopt(pycurl.HTTPHEADER, [f"{k}: {v}" for k, v in headers.items()] + ["Expect:"])
        curl.setopt(pycurl.TIMEOUT_MS, int(timeout_s * 1000))
        curl.setopt(pycurl.CONNECTTIMEOUT_MS, int(min(timeout_s, CONNECT_TIMEOUT_S) * 1000))
        curl.setopt(pycurl.NOSIGNAL, 1)  # timeouts without SIGALRM: safe in threads
        curl.setopt(pycurl.FOLLOWLOCATION, 0)
        curl.setopt(pycurl.WRITEFUNCTION, keep)
        curl.setopt(pycurl.HEADERFUNCTION, header)
        try:
            curl.perform()
        except pycurl.error as exc:
            code, message = exc.args
            status = curl.getinfo(pycurl.RESPONSE_CODE) or None
            if code == pycurl.E_WRITE_ERROR and status:  # the answer was too long: its status stands
                return status, _seconds(answer.get("retry-after", "")), None
            if code == pycurl.E_OPERATION_TIMEDOUT:
                return None, None, f"timeout after {timeout_s}s"
            return None, None, f"{message} (curl error {code})"[:300]
        return curl.getinfo(pycurl.RESPONSE_CODE), _seconds(answer.get("retry-after", "")), None
    finally:
        curl.close()


def _with(exc: Exception, attempt: dict[str, Any]) -> Exception:
    exc.attempt = attempt  # type: ignore[attr-defined]
    return exc


def _ms(started: float) -> float:
    return round((time.time() - started) * 1000.0, 2)


def _seconds(value: str) -> float | None:
    """A Retry-After in seconds (the HTTP-date form is not used by the receivers we know of)."""
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
