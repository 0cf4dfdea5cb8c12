import json
import random
import time

from datetime import datetime, timezone

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from werkzeug import Response

from smartsupport.config import Settings
from smartsupport.errors import WebhookFailed, WebhookRejected
from smartsupport.notify import (RESPONSE_CAP, build_payload, compute_backoff, event_id_for, post_webhook,
                                 should_notify, sign_headers, slack_message, slack_text)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD_SECRET = "whsec_5/xxVpitSTs0vLYKnxmKu36yg5wqqH6V"
OTHER_SECRET = "whsec_ZSOcOCmsoLv0RIahLwh9Qu2Du7Vz2rri"


def test_event_id_is_stable_for_a_ticket():
    assert event_id_for("abc") == event_id_for("abc") != event_id_for("abd")


def test_threshold_is_inclusive():
    assert should_notify(0.6, threshold=0.6) and not should_notify(0.59, threshold=0.6)


def test_delivered_payload_carries_a_signature_the_library_verifies(httpserver):
    received_at = []

    def answer(request):
        received_at.append(time.time())
        return Response("ok")
    httpserver.expect_request("/hook", method="POST").respond_with_handler(answer)
    payload = build_payload({"id": "t1", "body": "down"}, event_id="evt_t1")

    before = time.time()
    attempt = post_webhook(httpserver.url_for("/hook"), payload, secret=SECRET, timeout_s=5)
    after = time.time()

    request, _ = httpserver.log[0]
    verified = Webhook(SECRET).verify(request.get_data(as_text=True), dict(request.headers))
    assert verified == payload and request.headers["webhook-id"] == "evt_t1"
    # the attempt's start and latency, in milliseconds: from before the request arrived to the answer
    assert attempt["status_code"] == 200 and before <= attempt["at"] <= received_at[0]
    at_least_ms, at_most_ms = (received_at[0] - attempt["at"]) * 1000, (after - attempt["at"]) * 1000
    assert at_least_ms - 0.01 <= attempt["latency_ms"] <= at_most_ms + 0.01  # rounded to 0.01 ms


def test_while_rotating_either_secret_alone_verifies_the_event():
    # Given an event signed with the new secret and the old one
    body = json.dumps(build_payload({"id": "t1"}, event_id="evt_t1"))
    headers = sign_headers(body, event_id="evt_t1", secret=[SECRET, OLD_SECRET])

    # Then the header holds two signatures, the current secret's first
    new, old = headers["webhook-signature"].split(" ")
    when = datetime.fromtimestamp(int(headers["webhook-timestamp"]), tz=timezone.utc)
    assert (new, old) == (Webhook(SECRET).sign("evt_t1", when, body), Webhook(OLD_SECRET).sign("evt_t1", when, body))

    # And a receiver holding either one verifies it, one holding neither does not
    assert Webhook(SECRET).verify(body, headers) == Webhook(OLD_SECRET).verify(body, headers) == json.loads(body)
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER_SECRET).verify(body, headers)


def test_an_unset_previous_secret_adds_no_signature():
    when = datetime(2026, 1, 2, tzinfo=timezone.utc)

    alone = sign_headers("{}", event_id="e", secret=SECRET, now=when)

    assert sign_headers("{}", event_id="e", secret=(SECRET, ""), now=when) == alone
    assert " " not in alone["webhook-signature"]
    with pytest.raises(ValueError):
        sign_headers("{}", event_id="e", secret=("", ""))


def test_a_delivery_during_a_rotation_verifies_with_the_old_and_the_new_secret(httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    payload = build_payload({"id": "t1", "body": "down"}, event_id="evt_t1")

    post_webhook(httpserver.url_for("/hook"), payload, secret=(SECRET, OLD_SECRET), timeout_s=5)

    request, _ = httpserver.log[0]
    for secret in (SECRET, OLD_SECRET):
        assert Webhook(secret).verify(request.get_data(as_text=True), dict(request.headers)) == payload


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_errors_and_rate_limits_are_retryable(httpserver, status):
    answer = Response("no", status=status, headers={"Retry-After": "7"})
    httpserver.expect_request("/hook").respond_with_response(answer)

    with pytest.raises(WebhookFailed) as info:
        post_webhook(httpserver.url_for("/hook"), build_payload({}, event_id="e"), secret=SECRET, timeout_s=5)

    assert info.value.attempt["status_code"] == status
    assert info.value.retry_after_s == 7.0


@pytest.mark.parametrize("status", [400, 401, 404, 410])
def test_other_client_errors_are_rejected_without_retry(httpserver, status):
    httpserver.expect_request("/hook").respond_with_data("no", status=status)

    with pytest.raises(WebhookRejected):
        post_webhook(httpserver.url_for("/hook"), build_payload({}, event_id="e"), secret=SECRET, timeout_s=5)


def test_unreachable_endpoint_is_retryable():
    with pytest.raises(WebhookFailed) as info:
        post_webhook("http://127.0.0.1:9/hook", build_payload({}, event_id="e"), secret=SECRET, timeout_s=2)
    assert info.value.attempt["error"]


def test_payload_is_the_documented_envelope():
    payload = build_payload({"id": "t"}, event_id="evt_t")
    assert json.loads(json.dumps(payload)) == {"type": "ticket.urgent", "id": "evt_t", "data": {"id": "t"}}


def test_default_schedule_makes_eight_attempts_over_about_a_day():
    s = Settings()
    waits = [compute_backoff(n, base_s=s.webhook_backoff_base_s, factor=s.webhook_backoff_factor,
                             max_s=s.webhook_backoff_max_s, jitter=0) for n in range(1, s.webhook_max_attempts)]

    assert len(waits) + 1 == 8 and waits == sorted(waits)
    assert 18 * 3600 < sum(waits) < 26 * 3600


def test_backoff_is_capped_and_jittered_within_bounds():
    rng = random.Random(1)
    waits = {compute_backoff(10, base_s=1, factor=2, max_s=60, jitter=0.2, rng=rng) for _ in range(50)}

    assert all(48 <= w <= 72 for w in waits) and len(waits) > 1


def _dripping_receiver(reply: bytes, *, every_s: float):
    """A receiver on loopback that reads the request, then sends ``reply`` one byte every ``every_s``."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            for byte in reply:
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return  # the sender gave up: as it should
                time.sleep(every_s)
    threading.Thread(target=serve, daemon=True).start()
    return server, f"http://127.0.0.1:{server.getsockname()[1]}/hook"


@pytest.mark.parametrize("reply", [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                                   b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n" + b"x" * 50])
def test_a_receiver_dripping_its_answer_ends_the_attempt_at_the_deadline(reply):
    # Given a receiver that answers one byte every 0.3 s (its headers, or its body)
    server, url = _dripping_receiver(reply, every_s=0.3)
    started = time.monotonic()

    # When an event is posted to it with a 1 s deadline, then the attempt fails as a timeout, at 1 s
    with pytest.raises(WebhookFailed) as info:
        post_webhook(url, build_payload({}, event_id="e"), secret=SECRET, timeout_s=1)
    server.close()
    assert "timeout" in info.value.attempt["error"] and time.monotonic() - started < 1.5


def test_a_long_answer_is_not_read_past_the_cap(httpserver):
    httpserver.expect_request("/hook").respond_with_data("x" * (RESPONSE_CAP * 4), status=200)

    attempt = post_webhook(httpserver.url_for("/hook"), build_payload({}, event_id="e"), secret=SECRET, timeout_s=5)

    assert attempt["status_code"] == 200


def _ticket_event(**ticket):
    view = {"id": "t1", "category": {"label": "billing"}, "urgency": {"level": "high"},
            "route": {"team": "billing", "priority": 2}, **ticket}
    return build_payload(view, event_id="evt_t1")


@pytest.mark.parametrize("subject, shown", [
    ("<!channel> refund now", "&lt;!channel&gt; refund now"),
    ("<!here|here> and <@U123> and <#C42>", "&lt;!here|here&gt; and &lt;@U123&gt; and &lt;#C42&gt;"),
    ("<https://evil.example/login|Click to verify your account>",
     "&lt;https://evil.example/login|Click to verify your account&gt;"),
    ("Fish & Chips <3", "Fish &amp; Chips &lt;3"),
    ("*bold* _italic_ ~strike~ `code`", "\u2217bold\u2217 \u02cditalic\u02cd \u223cstrike\u223c \u02cbcode\u02cb"),
    ("line one\n> quoted\r\n```block```", "line one &gt; quoted \u02cb\u02cb\u02cbblock\u02cb\u02cb\u02cb"),
    ("evil\u202etxt.exe \x1b[31mred", "eviltxt.exe [31mred"),
])
def test_a_slack_message_shows_customer_text_as_plain_text(subject, shown):
    message = slack_message(_ticket_event(subject=subject))

    expected = f"[ticket.urgent] billing, high: {shown} (ticket t1, team billing, priority 2)"
    assert message["text"] == message["blocks"][0]["text"]["text"] == expected


def test_a_slack_block_is_verbatim_and_asks_for_no_previews():
    message = slack_message(_ticket_event(subject="see https://evil.example/login and #general"))

    assert message["blocks"][0]["text"] == {"type": "mrkdwn", "verbatim": True,
                                            "text": message["text"]}
    assert message["unfurl_links"] is False and message["unfurl_media"] is False
    assert (message["id"], message["type"]) == ("evt_t1", "ticket.urgent")


def test_a_long_title_is_cut_before_escaping_so_no_entity_or_link_is_split():
    # Given a subject whose 150th character falls inside "&" and inside a link's "<https://...|"
    subject = "a" * 148 + "&&&& <https://evil.example/login|Click here>"

    title = slack_message(_ticket_event(subject=subject))["text"].split(": ", 1)[1].rsplit(" (ticket", 1)[0]

    # Then the cut is at 150 characters of the text as typed, with an ellipsis, and escaped after
    assert title == "a" * 148 + "&amp;\u2026"
    assert slack_text(subject, limit=150).count("&") == title.count("&amp;") == 1
    assert "<" not in slack_message(_ticket_event(subject="x" * 140 + " <https://evil.example|go>"))["text"]


def test_every_value_in_a_slack_message_is_escaped_not_only_the_subject():
    event = _ticket_event(body="<!channel>", category={"label": "a<b"}, route={"team": "*ops*", "priority": 1})

    text = slack_message(event)["text"]

    assert text == "[ticket.urgent] a&lt;b, high: &lt;!channel&gt; (ticket t1, team \u2217ops\u2217, priority 1)"


def test_an_incident_event_makes_a_slack_message_with_its_title():
    payload = {"type": "incident.opened", "id": "evt_incident_i1_opened",
               "data": {"id": "i1", "title": "<!channel> login down", "category": "outage", "size": 12}}

    message = slack_message(payload)

    assert message["text"] == "[incident.opened] outage: &lt;!channel&gt; login down (incident i1, 12 tickets)"


def test_a_slack_destination_receives_the_escaped_message_signed(httpserver):
    httpserver.expect_request("/slack", method="POST").respond_with_data("ok")

    post_webhook(httpserver.url_for("/slack"), _ticket_event(subject="<!channel> *urgent*"), secret=SECRET,
                 timeout_s=5, slack=True)

    request, _ = httpserver.log[0]
    body = Webhook(SECRET).verify(request.get_data(as_text=True), dict(request.headers))
    assert "<!channel>" not in json.dumps(body) and "*urgent*" not in json.dumps(body)
    assert body["blocks"][0]["text"]["text"].startswith("[ticket.urgent] billing, high: &lt;!channel&gt; \u2217urgent")
