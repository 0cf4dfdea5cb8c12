import pytest

from tests.helpers import OPERATOR_KEY, SUBMIT_KEY, clear_queues, clear_tickets, settings_for
from web import create_app


@pytest.fixture(scope="session")
def api_redis_url(redis_server):
    # Its own database: no worker consumes the chains these tests enqueue.
    return redis_server + "/1"


@pytest.fixture
def app(api_redis_url, tmp_path):
    clear_tickets(api_redis_url)
    clear_queues(api_redis_url)  # nobody consumes them here: each test sees only its own messages
    yield create_app(settings_for(api_redis_url, tmp_path))
    clear_tickets(api_redis_url)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def store(app):
    return app.extensions["smartsupport"].store


@pytest.fixture
def operator():
    return {"Authorization": f"Bearer {OPERATOR_KEY}"}


@pytest.fixture
def submitter():
    return {"Authorization": f"Bearer {SUBMIT_KEY}"}
