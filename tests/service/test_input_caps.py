"""Caps on every free-text field of a ticket, not only its body: a clear 422, never a 500, and nothing stored."""

import json
import logging

import pytest

from web.schemas import (MAX_JSON_DEPTH, MAX_KEY_CHARS, MAX_OBJECT_BYTES, MAX_OBJECT_KEYS, MAX_REQUEST_DEPTH,
                         MAX_STRING_CHARS)


def post_raw(client, headers, text, path="/api/tickets"):
    return client.post(path, headers=headers, data=text, content_type="application/json")


def assert_refused(response, store, *, field=None):
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    if field:
        assert error["details"][0]["field"] == field
    assert store.r.zcard("ss:tickets:created") == 0
    return error["message"]


@pytest.mark.parametrize("levels", [6, 33, 300, 400, 600, 900, 990, 5_000, 60_000])
def test_metadata_nested_at_any_depth_gets_a_422_and_no_traceback(client, operator, store, caplog, levels):
    # Given metadata nesting arrays `levels` deep (400 to 900 used to raise RecursionError: a 500)
    text = '{"body": "x", "metadata": {"a": ' + "[" * (levels - 1) + "]" * (levels - 1) + "}}"

    with caplog.at_level(logging.INFO):
        response = post_raw(client, operator, text)

    message = assert_refused(response, store)
    assert "deeper than" in message
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_a_body_nested_too_deep_is_refused_before_it_is_parsed_on_every_json_endpoint(client, operator, store):
    deep = '{"label": ' + "[" * 3_000 + "]" * 3_000 + "}"

    response = post_raw(client, operator, deep, path="/api/tickets/any-id/category")

    assert_refused(response, store, field="(body)")
    assert str(MAX_REQUEST_DEPTH) in response.get_json()["error"]["message"]


def test_brackets_inside_strings_do_not_count_as_nesting(client, operator):
    text = json.dumps({"body": "[" * 5_000 + " unbalanced {{{", "metadata": {"note": "]]]}}}"}})

    assert post_raw(client, operator, text).status_code == 202


@pytest.mark.parametrize("subject", ["Refund \x1b[31mnow", "Refund\r\nBcc: x", "Refund\tnow", "invoice \u202egpj.exe",
                                     "Refund \u2066now\u2069", "Refund \x85now"])
def test_a_subject_with_control_or_bidi_override_characters_is_refused(client, operator, store, subject):
    response = client.post("/api/tickets", headers=operator, json={"body": "Please help", "subject": subject})

    assert_refused(response, store, field="subject")


@pytest.mark.parametrize("sent, kept", [
    ({"plan": "gold\x1b[2J"}, {"plan": "gold[2J"}),
    ({"address": "1 Main St\r\nSpringfield"}, {"address": "1 Main St  Springfield"}),
    ({"file": "invoice\u202egpj.exe"}, {"file": "invoicegpj.exe"}),
    ({"nested": {"list": ["ok", "tab\there", "bell\x07\x9b"]}}, {"nested": {"list": ["ok", "tab here", "bell"]}}),
    ({"evil\u202ekey": 1, "na\rme": "Ann\u2066Bob\u2069"}, {"evilkey": 1, "na me": "AnnBob"}),
])
def test_customer_and_metadata_keep_no_control_or_bidi_override_characters(client, operator, sent, kept):
    # Given an integration forwarding fields with line breaks, terminal escapes and a U+202E
    response = client.post("/api/tickets", headers=operator, json={"body": "Please help", "metadata": sent,
                                                                   "customer": sent})

    # Then the ticket is taken, its keys and strings on one line and without them
    assert response.status_code == 202
    view = client.get(response.get_json()["status_url"], headers=operator).get_json()
    assert view["metadata"] == view["customer"] == kept


def test_keys_that_collide_once_cleaned_are_refused(client, operator, store):
    response = client.post("/api/tickets", headers=operator, json={"body": "x", "metadata": {"a\x1b": 1, "a": 2}})

    assert "twice" in assert_refused(response, store, field="metadata")


def test_the_body_keeps_tabs_and_line_breaks(client, operator):
    body = "Hello,\r\n\tthe export fails:\n\n  step 1\n"

    response = client.post("/api/tickets", headers=operator, json={"body": body})

    assert response.status_code == 202
    view = client.get(response.get_json()["status_url"], headers=operator).get_json()
    assert view["body"] == body.strip()


@pytest.mark.parametrize("metadata, says", [
    ({"ref": "12 34 " * 20_000}, f"at most {MAX_STRING_CHARS} characters"),  # 120 KB: one webhook took 11 s
    ({f"k{i}": "x" * 1_900 for i in range(9)}, f"at most {MAX_OBJECT_BYTES // 1024} KiB"),
    ({f"group{i}": {f"key{j}": j for j in range(10)} for i in range(5)}, f"more than {MAX_OBJECT_KEYS} keys"),
    ({f"k{i}": i for i in range(MAX_OBJECT_KEYS + 1)}, f"at most {MAX_OBJECT_KEYS} items"),
    ({"k" * (MAX_KEY_CHARS + 1): 1}, f"at most {MAX_KEY_CHARS} characters"),
    ({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}, f"deeper than {MAX_JSON_DEPTH} levels"),
])
def test_metadata_and_customer_over_a_cap_get_a_422_that_names_it(client, operator, store, metadata, says):
    for field in ("metadata", "customer"):
        response = client.post("/api/tickets", headers=operator, json={"body": "Please help", field: metadata})

        assert says in assert_refused(response, store, field=field)


def test_a_large_but_ordinary_integration_payload_is_accepted(client, operator):
    # Given metadata at every cap at once: 50 keys in all (13 below, and the flags), 5 levels,
    # 2,000-character strings, a 100-character key, just under 16 KiB
    metadata = {"order": {"id": "ORD-2024-118832", "lines": [{"sku": "A-1", "qty": 2}], "notes": "n" * 2_000},
                "account": {"plan": "gold", "deep": {"er": {"still": ["fine"]}}},
                **{f"flag{i}": "f" * 2_000 if i < 5 else True for i in range(MAX_OBJECT_KEYS - 13)}}
    metadata["account"]["bio"] = "b" * 2_000
    metadata["k" * MAX_KEY_CHARS] = "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 \U0001F4B3"
    assert 14_000 < len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode()) <= MAX_OBJECT_BYTES
    customer = {"id": 7, "name": "Zo\u00eb O\u2019Brien", "email": "zoe@example.com", "ltv": 1249.5}

    response = client.post("/api/tickets", headers=operator,
                           json={"body": "Please help", "subject": "R\u00fcckerstattung \u2014 order",
                                 "metadata": metadata, "customer": customer})

    assert response.status_code == 202, response.get_json()
    view = client.get(response.get_json()["status_url"], headers=operator).get_json()
    assert view["metadata"] == metadata and view["customer"] == customer


def test_the_caps_are_in_the_openapi_document(client):
    ticket = client.get("/openapi.json").get_json()["components"]["schemas"]["TicketIn"]["properties"]

    assert ticket["metadata"]["maxProperties"] == ticket["customer"]["maxProperties"] == MAX_OBJECT_KEYS
    assert "16 KiB" in ticket["metadata"]["description"] and "5 levels" in ticket["customer"]["description"]
