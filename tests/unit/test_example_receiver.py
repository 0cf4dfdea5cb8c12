import json

from examples.receiver import create_app
from smartsupport.notify import build_payload, sign_headers

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def signed(event: dict, secret: str = SECRET):
    body = json.dumps(event)
    return {"data": body, "headers": sign_headers(body, event_id=event["id"], secret=secret)}


def test_the_example_receiver_accepts_a_signed_event_once():
    app = create_app(SECRET)
    client = app.test_client()
    ticket = {"id": "t1", "urgency": {"score": 0.9}, "category": {"label": "Technical"}}
    event = build_payload(ticket, event_id="evt_t1")

    first = client.post("/hooks/smartsupport", **signed(event))
    again = client.post("/hooks/smartsupport", **signed(event))

    assert first.get_json() == {"status": "accepted"} and again.get_json() == {"status": "duplicate"}
    assert [e["id"] for e in app.config["EVENTS"]] == ["evt_t1"]


def test_the_example_receiver_rejects_a_wrong_signature_with_a_4xx():
    client = create_app(SECRET).test_client()
    event = build_payload({"id": "t2"}, event_id="evt_t2")

    response = client.post("/hooks/smartsupport", **signed(event, "whsec_" + "A" * 32))

    assert response.status_code == 400
