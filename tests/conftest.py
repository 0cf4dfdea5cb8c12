"""The session's fixtures: a real Redis (the embedded redis-server binary) on a free port. Helpers the
tests share are in tests/helpers.py."""

from __future__ import annotations

import os
import tempfile

import pytest

# Before anything reads settings: keep generated keys out of the checkout.
os.environ.setdefault("SMARTSUPPORT_DATA_DIR", tempfile.mkdtemp(prefix="smartsupport-test-"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.pop("REDIS_URL", None)

from deploy import redis_server as redis_process  # noqa: E402
from tests.helpers import free_port  # noqa: E402


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real redis-server with the append-only file on, for this test session only."""
    port = free_port()
    proc = redis_process.start(port=port, data_dir=tmp_path_factory.mktemp("redis"))
    yield f"redis://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)
