"""`python -m deploy run --only ...`: one host's share of the programs, and no secret born on a worker host."""

import pytest

from deploy import cli


def test_a_worker_host_runs_only_its_programs_and_generates_no_secret(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(cli.os, "execv", lambda path, argv: started.append(argv))  # instead of becoming supervisord
    monkeypatch.setenv("SMARTSUPPORT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REDIS_URL", "redis://:pw@10.0.0.1:6379/0")
    for name in ("SMARTSUPPORT_WEBHOOK_SECRET", "SMARTSUPPORT_API_KEYS", "SMARTSUPPORT_ROUTING_FILE"):
        monkeypatch.delenv(name, raising=False)

    cli.main(["run", "--only", "model,io,webhooks"])

    conf = (tmp_path / "supervisord.conf").read_text()
    assert started and {"[program:model]", "[program:io]", "[program:webhooks]"} <= set(conf.splitlines())
    assert "[program:web]" not in conf and "[program:scheduler]" not in conf and "[program:flower]" not in conf
    assert not (tmp_path / "webhook_secret").exists() and not (tmp_path / "api_key").exists()


def test_only_names_known_programs(capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["run", "--only", "model,gpu"])
    assert stopped.value.code == 2 and "--only takes programs among redis, model" in capsys.readouterr().err
