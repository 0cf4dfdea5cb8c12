"""An example webhook receiver for SmartSupport's events.

It verifies the Standard Webhooks signature (and the timestamp, against replays), then handles each
event id once: SmartSupport retries until it gets a 2xx, so the same event can arrive more than once.

    pip install flask standardwebhooks
    SMARTSUPPORT_WEBHOOK_SECRET=whsec_... flask --app examples.receiver run --port 9000
    # and start SmartSupport with SMARTSUPPORT_WEBHOOK_URLS=http://127.0.0.1:9000/hooks/smartsupport

A real receiver keeps the seen ids in its database (a unique key on the event id) instead of memory.
"""

from __future__ import annotations

import os
import threading

from flask import Flask, request
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def create_app(secret: str | None = None) -> Flask:
    app = Flask(__name__)
    verifier = Webhook(secret or os.environ["SMARTSUPPORT_WEBHOOK_SECRET"])
    seen: set[str] = set()
    lock = threading.Lock()
    app.config["EVENTS"] = events = []

    @app.post("/hooks/smartsupport")
    def receive():
        try:
            event = verifier.verify(request.get_data(as_text=True), dict(request.headers))
        except WebhookVerificationError:
            return {"error": "bad signature"}, 400  # a 4xx: SmartSupport does not retry it
        with lock:
            if event["id"] in seen:
                return {"status": "duplicate"}, 200  # already handled: acknowledge, do nothing
            seen.add(event["id"])
        ticket = event["data"]
        events.append(event)
        app.logger.warning("urgent ticket %s (%s, urgency %.2f)", ticket["id"],
                           (ticket.get("category") or {}).get("label"), (ticket.get("urgency") or {}).get("score", 0))
        return {"status": "accepted"}, 200

    return app
