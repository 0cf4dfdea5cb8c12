"""Between SmartSupport and a helpdesk (smartsupport/helpdesk): what is written back once a ticket's
chain is done, what an agent's change there means as a correction, and where RT's API is."""

from pathlib import Path

import pytest

from smartsupport import routing
from smartsupport.helpdesk import Change, mapping
from smartsupport.helpdesk.rt import base_url

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "routing.yaml"
LABELS = ["Billing", "Technical", "Legal", "Other"]
DEFAULT = routing.default_routing(LABELS, [], "")


def done_view(**changes):
    view = {"id": "t-1", "category": {"label": "Billing", "confidence": 0.83, "needs_review": False},
            "urgency": {"level": "high", "score": 0.716, "signals": [{"phrase": "charged twice"}, {"tier": "gold"}]},
            "route": {"team": "Billing", "rule": {"name": "default", "why": "category Billing"}}}
    view.update(changes)
    return view


def with_rules(**helpdesk):
    return routing.parse({
        "teams": [{"name": "money"}, {"name": "desk"}],
        "rules": [{"name": "billing", "match": {"category": ["Billing", "Legal"]}, "team": "money"},
                  {"name": "rest", "team": "desk"}],
        "helpdesk": helpdesk}, labels=LABELS)


def test_the_write_back_carries_the_queue_priority_fields_and_comment():
    result = mapping.write_back_for("42", done_view(), DEFAULT, comment=True)

    assert (result.external_id, result.queue, result.priority) == ("42", "Billing", 72)
    assert result.fields == {"Category": "Billing", "Urgency": "high", "Needs review": "no"}
    assert result.comment.splitlines() == [
        "SmartSupport ticket t-1", "Category: Billing (confidence 0.83)", "Urgency: high (score 0.72)",
        "Signals: charged twice, gold", "Routed to Billing by rule default: category Billing"]


def test_a_written_comment_is_not_written_again_and_review_shows_with_its_reason():
    view = done_view(category={"label": "Other", "confidence": 0.31, "needs_review": True,
                               "review_reason": "low confidence"})

    result = mapping.write_back_for("42", view, DEFAULT, comment=False)

    assert result.comment is None
    assert result.fields["Needs review"] == "yes"
    assert "needs review: low confidence" in mapping.write_back_for("42", view, DEFAULT, comment=True).comment


def test_the_routing_file_maps_teams_to_queues_and_an_unrouted_ticket_keeps_its_queue():
    rules = with_rules(queues={"money": "Billing"})

    assert mapping.write_back_for("1", done_view(route={"team": "money"}), rules, comment=False).queue == "Billing"
    assert mapping.write_back_for("1", done_view(route={"team": "desk"}), rules, comment=False).queue == "desk"
    assert mapping.write_back_for("1", done_view(route=None), rules, comment=False).queue is None


@pytest.mark.parametrize("change, expected", [
    (Change("7", "queue", "agent", value="Legal"), ("category", "Legal")),
    (Change("7", "field", "agent", value="Technical", name="Category"), ("category", "Technical")),
    (Change("7", "field", "agent", value="Critical", name="Urgency"), ("urgency", "critical")),
    (Change("7", "field", "agent", value="Sales", name="Category"), None),  # not a label
    (Change("7", "field", "agent", value="panic", name="Urgency"), None),  # not a level
    (Change("7", "field", "agent", value="yes", name="Needs review"), None),  # SmartSupport's, not a correction
    (Change("7", "queue", "agent", value="Spam"), None),  # no category is routed there
    (Change("7", "deleted", "agent"), None),
])
def test_an_agents_change_is_the_correction_it_says(change, expected):
    assert mapping.correction_for(change, DEFAULT, LABELS) == expected


def test_a_queue_move_reads_as_the_category_routed_to_that_queues_team():
    rules = with_rules(queues={"money": "Finance"})

    assert mapping.correction_for(Change("7", "queue", "a", value="Finance"), rules, LABELS) == ("category", "Billing")
    assert mapping.correction_for(Change("7", "queue", "a", value="desk"), rules, LABELS) is None  # no category rule


@pytest.mark.parametrize("url, expected", [
    ("rt://smartsupport@rt.example", ("http://rt.example/REST/2.0", "smartsupport")),
    ("rt+https://bot%40corp@rt.example:8443/rt/", ("https://rt.example:8443/rt/REST/2.0", "bot@corp")),
])
def test_the_helpdesk_url_says_where_rest2_is_and_who_the_connector_is(url, expected):
    assert base_url(url) == expected
