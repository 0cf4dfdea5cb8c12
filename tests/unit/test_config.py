import pytest

from smartsupport.config import Settings
from smartsupport.errors import ConfigError


def test_reading_settings_writes_no_file(tmp_path):
    s = Settings.from_env({"SMARTSUPPORT_DATA_DIR": str(tmp_path)})

    assert s.api_keys == () and s.webhook_secret == "" and list(tmp_path.iterdir()) == []


def test_make_run_generates_keys_once_and_every_process_reads_them(tmp_path):
    first = Settings.from_env({"SMARTSUPPORT_DATA_DIR": str(tmp_path)}, create_secrets=True)
    second = Settings.from_env({"SMARTSUPPORT_DATA_DIR": str(tmp_path)}, create_secrets=True)
    reader = Settings.from_env({"SMARTSUPPORT_DATA_DIR": str(tmp_path)})

    assert first.api_keys == second.api_keys == reader.api_keys and first.api_keys[0].startswith("ssk_")
    assert first.webhook_secret == second.webhook_secret and first.webhook_secret.startswith("whsec_")
    assert (tmp_path / "api_key").stat().st_mode & 0o777 == 0o600
    # and the embedded Redis gets a password of its own, which every process's URL carries
    assert first.embedded_redis and len(first.redis_password) >= 32 and first.redis_password == reader.redis_password
    assert first.broker_url == f"redis://:{first.redis_password}@127.0.0.1:6390/0"
    assert {f.name: f.stat().st_mode & 0o777 for f in tmp_path.iterdir()} == {
        "api_key": 0o600, "webhook_secret": 0o600, "redis_password": 0o600}


def test_redis_url_and_lists_are_read_from_the_environment(tmp_path):
    s = Settings.from_env({
        "SMARTSUPPORT_DATA_DIR": str(tmp_path), "REDIS_URL": "redis://example:6379/2",
        "SMARTSUPPORT_API_KEYS": "a, b", "SMARTSUPPORT_WEBHOOK_URLS": "http://x/hook,https://y/h",
    })

    assert s.broker_url == "redis://example:6379/2" and not s.embedded_redis
    assert s.api_keys == ("a", "b") and s.webhook_urls == ("http://x/hook", "https://y/h")


def test_rabbitmq_is_celerys_broker_and_the_store_stays_on_redis(tmp_path):
    import celeryconfig

    env = {"SMARTSUPPORT_DATA_DIR": str(tmp_path), "REDIS_URL": "redis://example:6379/2"}
    redis_only = Settings.from_env(env)
    rabbit = Settings.from_env({**env, "SMARTSUPPORT_BROKER_URL": "amqp://u:p@rabbit:5672/ss"})
    classic = Settings.from_env({**env, "SMARTSUPPORT_BROKER_URL": "amqp://u:p@rabbit:5672/ss",
                                 "SMARTSUPPORT_BROKER_QUEUES": "priority"})

    assert redis_only.celery_broker_url == redis_only.broker_url == "redis://example:6379/2" and not redis_only.rabbitmq
    assert rabbit.celery_broker_url == "amqp://u:p@rabbit:5672/ss" and rabbit.rabbitmq
    assert rabbit.broker_url == "redis://example:6379/2"  # the store, the result backend, the rate limits
    on_redis, on_quorum, on_classic = (celeryconfig.broker_settings(s) for s in (redis_only, rabbit, classic))
    assert on_redis.keys() == on_quorum.keys() == on_classic.keys()  # switching brokers leaves nothing behind
    assert on_quorum["result_backend"] == "redis://example:6379/2"
    assert on_quorum["broker_transport_options"] == {"confirm_publish": True}
    assert {q.name: q.queue_arguments for q in on_quorum["task_queues"]} == {
        q: {"x-queue-type": "quorum"} for q in ("model", "tickets", "webhooks")}
    assert {q.exchange.type for q in on_quorum["task_queues"]} == {"topic"}  # native delayed delivery needs it
    assert {q.name: q.queue_arguments for q in on_classic["task_queues"]} == {
        q: {"x-max-priority": 9} for q in ("model", "tickets", "webhooks")}
    assert on_redis["broker_transport_options"]["priority_steps"] == [0, 3, 6, 9]


@pytest.mark.parametrize("name, value", [
    ("SMARTSUPPORT_PORT", "eighty"),
    ("SMARTSUPPORT_PORT", "70000"),
    ("SMARTSUPPORT_URGENCY_THRESHOLD", "1.5"),
    ("SMARTSUPPORT_CLASSIFIER", "magic"),
    ("SMARTSUPPORT_WEBHOOK_URLS", "ftp://nope"),
    ("SMARTSUPPORT_WEBHOOK_SECRET", "plain-secret"),
    ("SMARTSUPPORT_LABELS_FILE", "/no/such/labels.json"),
    ("SMARTSUPPORT_BROKER_URL", "kafka://broker:9092"),
    ("SMARTSUPPORT_BROKER_QUEUES", "mirrored"),
    ("SMARTSUPPORT_HELPDESK_URL", "https://rt.example"),
    ("SMARTSUPPORT_HELPDESK_URL", "rt://rt.example"),
    ("SMARTSUPPORT_HELPDESK_URL", "rt://bot:hunter2@rt.example"),
    ("SMARTSUPPORT_HELPDESK_BACKOFF_MAX_S", "0"),
])
def test_a_bad_value_raises_config_error_naming_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({"SMARTSUPPORT_DATA_DIR": str(tmp_path), name: value})


def test_retry_countdowns_stay_inside_the_visibility_timeout(tmp_path):
    s = Settings.from_env({"SMARTSUPPORT_DATA_DIR": str(tmp_path), "SMARTSUPPORT_VISIBILITY_TIMEOUT_S": "600",
                           "SMARTSUPPORT_STUCK_AFTER_S": "900"})
    assert s.retry_hop_s < s.visibility_timeout_s < s.webhook_backoff_max_s

    with pytest.raises(ConfigError, match="VISIBILITY_TIMEOUT"):
        Settings.from_env({"SMARTSUPPORT_DATA_DIR": str(tmp_path), "SMARTSUPPORT_WEBHOOK_TIMEOUT_S": "200",
                           "SMARTSUPPORT_VISIBILITY_TIMEOUT_S": "600", "SMARTSUPPORT_STUCK_AFTER_S": "900"})


def test_the_settings_table_in_the_docs_is_the_one_the_declarations_make():
    from smartsupport.config import settings_table
    from tests.helpers import ROOT

    docs = (ROOT / "docs" / "configuration.md").read_text()
    table = docs.split("<!-- settings-table -->\n", 1)[1].split("<!-- /settings-table -->", 1)[0]
    assert table == settings_table(), "docs/configuration.md is out of date: run `make docs`"


def test_every_setting_has_a_variable_a_parser_and_a_doc_line():
    from dataclasses import fields

    names = [f.metadata["env"] for f in fields(Settings)]
    assert len(names) == len(set(names))
    assert all(callable(f.metadata["parse"]) and f.metadata["doc"] for f in fields(Settings))
