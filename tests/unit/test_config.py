import pytest

from smartsupport.config import Settings
from smartsupport.errors import ConfigError


def test_defaults_generate_keys_once_and_reuse_them(tmp_path):
    first = Settings.from_env({"SMARTSUPPORT_DATA_DIR": str(tmp_path)})
    second = Settings.from_env({"SMARTSUPPORT_DATA_DIR": str(tmp_path)})

    assert first.api_keys == second.api_keys and first.api_keys[0].startswith("ssk_")
    assert first.webhook_secret == second.webhook_secret and first.webhook_secret.startswith("whsec_")
    assert (tmp_path / "api_key").stat().st_mode & 0o777 == 0o600
    assert first.embedded_redis and first.broker_url == "redis://127.0.0.1:6390/0"


def test_redis_url_and_lists_are_read_from_the_environment(tmp_path):
    s = Settings.from_env({
        "SMARTSUPPORT_DATA_DIR": str(tmp_path), "REDIS_URL": "redis://example:6379/2",
        "SMARTSUPPORT_API_KEYS": "a, b", "SMARTSUPPORT_WEBHOOK_URLS": "http://x/hook,https://y/h",
    })

    assert s.broker_url == "redis://example:6379/2" and not s.embedded_redis
    assert s.api_keys == ("a", "b") and s.webhook_urls == ("http://x/hook", "https://y/h")


@pytest.mark.parametrize("name, value", [
    ("SMARTSUPPORT_PORT", "eighty"),
    ("SMARTSUPPORT_PORT", "70000"),
    ("SMARTSUPPORT_URGENCY_THRESHOLD", "1.5"),
    ("SMARTSUPPORT_CLASSIFIER", "magic"),
    ("SMARTSUPPORT_WEBHOOK_URLS", "ftp://nope"),
    ("SMARTSUPPORT_WEBHOOK_SECRET", "plain-secret"),
    ("SMARTSUPPORT_LABELS_FILE", "/no/such/labels.json"),
])
def test_a_bad_value_raises_config_error_naming_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({"SMARTSUPPORT_DATA_DIR": str(tmp_path), name: value})


def test_retry_countdowns_stay_inside_the_visibility_timeout(tmp_path):
    s = Settings.from_env({"SMARTSUPPORT_DATA_DIR": str(tmp_path), "SMARTSUPPORT_VISIBILITY_TIMEOUT_S": "600"})
    assert s.retry_hop_s < s.visibility_timeout_s < s.webhook_backoff_max_s

    with pytest.raises(ConfigError, match="VISIBILITY_TIMEOUT"):
        Settings.from_env({"SMARTSUPPORT_DATA_DIR": str(tmp_path), "SMARTSUPPORT_WEBHOOK_TIMEOUT_S": "200",
                           "SMARTSUPPORT_VISIBILITY_TIMEOUT_S": "600"})
