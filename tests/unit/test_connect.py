"""REDIS_URL=sentinel://...: one URL, each library's own spelling of the same group."""

import pytest

from smartsupport.config import Settings
from smartsupport.errors import ConfigError
from smartsupport.store import connect

URL = "sentinel://:s%40cret@10.0.0.1:26379,10.0.0.2:26380,sentinel-3/ssgroup/2"


def test_a_sentinel_url_names_the_sentinels_the_service_the_database_and_the_password():
    group = connect.sentinel_group(URL)

    assert group.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26380), ("sentinel-3", 26379))
    assert (group.service, group.db, group.password) == ("ssgroup", 2, "s@cret")
    assert connect.sentinel_group("redis://127.0.0.1:6379/0") is None


def test_celery_and_the_rate_limiter_get_the_same_group_in_their_spelling():
    broker, options = connect.celery_broker(URL)
    storage, storage_options = connect.limiter_storage(URL)

    assert broker == ("sentinel://:s%40cret@10.0.0.1:26379/2;sentinel://:s%40cret@10.0.0.2:26380/2;"
                      "sentinel://:s%40cret@sentinel-3:26379/2")
    assert options == {"master_name": "ssgroup", "sentinel_kwargs": {"password": "s@cret"}}
    # (limits does not unquote a password in its URI: the credentials go as options)
    assert storage == "redis+sentinel://10.0.0.1:26379,10.0.0.2:26380,sentinel-3:26379"
    assert storage_options == {"service_name": "ssgroup", "db": 2, "use_replicas": False,
                               "sentinel_kwargs": {"password": "s@cret"}, "password": "s@cret"}
    assert connect.celery_broker("redis://h:6379/0") == ("redis://h:6379/0", {})


@pytest.mark.parametrize("url", ["sentinel://10.0.0.1:26379", "sentinel://10.0.0.1:port/ssgroup",
                                 "sentinel:///ssgroup", "sentinel://10.0.0.1/ssgroup/zero"])
def test_a_malformed_sentinel_url_stops_the_start_saying_how_it_is_written(url, tmp_path):
    with pytest.raises(ConfigError, match="REDIS_URL"):
        Settings.from_env({"REDIS_URL": url, "SMARTSUPPORT_DATA_DIR": str(tmp_path)})


def test_the_api_waits_for_one_replica_on_a_sentinel_group_only(tmp_path):
    def acks(**env):
        return Settings.from_env({"SMARTSUPPORT_DATA_DIR": str(tmp_path), **env}).replica_acks

    assert acks(REDIS_URL=URL) == 1 and acks(REDIS_URL="redis://h:6379/0") == 0 and acks() == 0
    assert acks(REDIS_URL=URL, SMARTSUPPORT_REPLICA_ACKS="0") == 0


def test_banners_show_a_redis_url_without_its_password():
    assert connect.redacted(URL) == "sentinel://:***@10.0.0.1:26379,10.0.0.2:26380,sentinel-3:26379/ssgroup/2"
    assert connect.redacted("redis://:pw@10.0.0.1:6379/0") == "redis://:***@10.0.0.1:6379/0"
    assert connect.redacted("redis://10.0.0.1:6379/0") == "redis://10.0.0.1:6379/0"
