"""The labels and routing files as the API host publishes them (smartsupport.published): what a
process follows when the published text, its own file or the labels change. The store's shared part here
is a dict with its three reads and writes (store/shared.py); tests/integration/test_scale_out.py and
test_cluster.py run the same on a real Redis."""

import hashlib

import pytest

from smartsupport.errors import ConfigError, StoreUnavailable
from smartsupport.routing import RoutingSource

ROUTING = """
teams: [{name: billing}, {name: rest}]
rules:
  - {name: money, match: {category: Billing}, team: billing}
  - {name: the-rest, team: rest}
"""


class Configs:
    """ss:config:<name> in a dict: the sha and text of each published file."""

    def __init__(self) -> None:
        self.published: dict[str, tuple[str, int, str]] = {}
        self.away = False

    def _check(self) -> None:
        if self.away:
            raise StoreUnavailable("Redis is unavailable")

    def publish_config(self, name: str, text: str) -> int:
        self._check()
        sha = hashlib.sha256(text.encode()).hexdigest()
        old = self.published.get(name)
        if old and old[0] == sha:
            return old[1]
        self.published[name] = (sha, (old[1] if old else 0) + 1, text)
        return self.published[name][1]

    def config_sha(self, name: str):
        self._check()
        return self.published.get(name, (None,))[0]

    def published_config(self, name: str):
        self._check()
        return self.published.get(name)


@pytest.fixture
def setup(tmp_path):
    store, labels = Configs(), ["Billing", "Technical"]
    path = tmp_path / "routing.yaml"
    path.write_text(ROUTING)
    api = RoutingSource(path, labels=lambda: labels, webhook_urls=(), secret="", shared=store, publish=True)
    worker = RoutingSource(None, labels=lambda: labels, webhook_urls=(), secret="", shared=store)
    return store, labels, api, worker


def test_a_worker_routes_with_the_file_the_api_published(setup):
    store, labels, api, worker = setup
    api.current()

    assert [r.name for r in worker.current().rules] == ["money", "the-rest"] and worker.version == 1


def test_labels_that_no_longer_fit_the_published_routing_keep_the_rules_in_force_and_say_why(setup):
    store, labels, api, worker = setup
    api.current()
    worker.current()

    # When the labels change so that the published rules name an unknown category
    labels[:] = ["Shipping", "Returns"]
    routing = worker.current()

    # Then the worker keeps the rules in force, says why, and does not raise
    assert [r.name for r in routing.rules] == ["money", "the-rest"]
    assert "unknown" in worker.error and "Billing" in worker.error
    # and the API host says its file no longer loads either
    api.current()
    assert api.error and "Billing" in api.error


def test_with_redis_away_the_published_rules_in_force_stay(setup):
    store, labels, api, worker = setup
    api.current()
    worker.current()
    store.away = True
    labels.append("Legal")  # a label change while Redis is away: nothing to check against yet

    assert [r.name for r in worker.current().rules] == ["money", "the-rest"]


def test_a_routing_file_that_does_not_load_at_first_is_an_error_at_start(tmp_path):
    path = tmp_path / "routing.yaml"
    path.write_text("teams: []\n")
    source = RoutingSource(path, labels=lambda: ["Billing"], webhook_urls=(), secret="", shared=Configs())

    with pytest.raises(ConfigError, match="teams"):
        source.current()
