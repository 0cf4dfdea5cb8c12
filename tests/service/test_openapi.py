"""/openapi.json is generated from the views' @documented and the app's URL map (web/openapi.py)."""

import pytest
from flask import Blueprint, Flask
from pydantic import BaseModel

from tests.helpers import AUTH
from web import answers
from web.openapi import build_spec, documented
from web.schemas import AgentIn, ListQuery


def _app_with(*views) -> Flask:
    """A bare app whose "api" blueprint has ``views``: (rule, methods, function)."""
    app = Flask(__name__)
    blueprint = Blueprint("api", __name__, url_prefix="/api")
    for rule, methods, view in views:
        blueprint.add_url_rule(rule, view_func=view, methods=methods)
    app.register_blueprint(blueprint)
    return app


def test_a_view_without_documentation_stops_the_spec():
    def forgotten(thing_id):
        return {}

    app = _app_with(("/things/<thing_id>", ["GET"], forgotten))
    with pytest.raises(LookupError, match="api.forgotten"):
        build_spec(app, ())


def test_a_documented_view_is_described_from_its_rule_and_its_models():
    @documented("Take a thing.", answers={200: answers.Ticket, 204: None}, errors=(404,), body=AgentIn,
                query=ListQuery)
    def take_thing(shelf, thing_id):
        return {}

    spec = build_spec(_app_with(("/shelves/<shelf>/things/<int:thing_id>", ["POST"], take_thing)), ())

    # The path comes from the rule, its parameters from the converters
    op = spec["paths"]["/api/shelves/{shelf}/things/{thing_id}"]["post"]
    assert op["operationId"] == "takeThing" and op["summary"] == "Take a thing."
    path_params = [(p["name"], p["schema"]["type"]) for p in op["parameters"] if p["in"] == "path"]
    assert path_params == [("shelf", "string"), ("thing_id", "integer")]
    # The query model's fields are parameters, an optional one never null
    status = next(p for p in op["parameters"] if p["name"] == "status")
    assert status["in"] == "query" and "required" not in status and "null" not in str(status["schema"])
    # A keyed view may answer 401, 429 and 503 besides its own statuses, errors as Error
    assert sorted(op["responses"]) == ["200", "204", "401", "404", "429", "503"]
    assert "content" not in op["responses"]["204"] and op["security"] == [{"bearer": []}]
    assert op["responses"]["404"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    # Every model used, and the models they use, are components
    assert {"Ticket", "Category", "Urgency", "Error", "ErrorBody", "AgentIn"} <= set(spec["components"]["schemas"])
    assert "ListQuery" not in spec["components"]["schemas"]


def test_two_models_of_one_name_are_refused():
    class Ticket(BaseModel):  # not answers.Ticket, but named like it
        id: int

    @documented("One.", answers={200: answers.Ticket})
    def one():
        return {}

    @documented("Other.", answers={200: Ticket})
    def other():
        return {}

    with pytest.raises(ValueError, match="named Ticket"):
        build_spec(_app_with(("/one", ["GET"], one), ("/other", ["GET"], other)), ())


def test_every_api_view_is_in_the_served_spec_once(app, client):
    # Given the app's own views, as Flask routes them
    rules = [(rule.rule, method.lower()) for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")
             for method in rule.methods - {"HEAD", "OPTIONS"}]
    spec = client.get("/openapi.json").get_json()
    documented_ops = [(path, method) for path, ops in spec["paths"].items() for method in ops]
    # Then each is in the spec, and nothing else is
    assert sorted(path.replace("{", "<").replace("}", ">") for path, _ in documented_ops) == \
        sorted(rule for rule, _ in rules)
    ids = [op["operationId"] for ops in spec["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids)) == len(rules)
    assert spec["paths"]["/api/health"]["get"].get("security") is None


def test_the_correction_labels_are_the_current_label_set(client):
    spec = client.get("/openapi.json").get_json()
    meta = client.get("/api/meta", headers=AUTH).get_json()
    assert spec["components"]["schemas"]["CategoryIn"]["properties"]["label"]["enum"] == meta["labels"]


@pytest.mark.parametrize("headers", [{}, AUTH])
def test_the_health_answer_has_its_documented_shape(client, headers):
    # Health is left out of the fuzzing (it answers 503 without workers): its answers are checked here
    response = client.get("/api/health", headers=headers)
    assert response.status_code == 503
    answers.Health.model_validate(response.get_json(), strict=True)
