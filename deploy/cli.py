"""``python -m deploy run``: the whole system under supervisord (what ``make run`` starts).

The embedded Redis (unless REDIS_URL is set), the model worker, the I/O worker (score, notify),
the webhook worker, the scheduler (Celery beat), the API under gunicorn and Flower run as
supervisord programs (deploy/supervisor.py): one that dies is restarted while the others keep
serving, and Ctrl-C stops all of them. Their output is interleaved, each line prefixed with its name.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from pathlib import Path

from kombu.utils.url import maybe_sanitize_url

from smartsupport import routing
from smartsupport.config import SECRET_FILES, Settings, read_secret
from smartsupport.errors import ConfigError
from smartsupport.store.connect import redacted
from smartsupport.labels import load_labels

from . import supervisor
from .redis_server import private_dir, server_args, wait_until_ready

BIN = Path(sys.executable).parent
#: The model worker holds a running batch and the next one (see workers.tasks.BATCH_SIZE).
MODEL_WORKER_ARGS = ["--queues", "model", "--prefetch-multiplier", "64"]
#: The I/O worker's threads each hold up to this many messages: the score and notify batches
#: (workers.tasks.STAGE_BATCH_SIZE) form from messages held while the previous batch runs.
IO_PREFETCH_MULTIPLIER = 8
#: Scheduling priorities (nice values): the API and Redis first, at 0; the workers take what they leave.
#: A thread's weight falls about 1.25x per nice step, but the I/O workers run up to 17 threads each:
#: at nice 5 and 10 the workers' sum still outweighed the API's few busy threads (see
#: docs/architecture.md). The I/O workers sit above the model (they finish tickets already in
#: flight), Flower at the bottom.
IO_NICE = 17
MODEL_NICE = 19
FLOWER_NICE = 19


#: Every program ``commands`` may return (redis only with the embedded Redis, mail with a mailbox,
#: helpdesk with a helpdesk).
PROGRAMS = ("redis", "model", "io", "webhooks", "scheduler", "web", "flower", "mail", "helpdesk")


def commands(settings: Settings) -> dict[str, list[str]]:
    """The processes of one installation, as argument lists, in the order they start."""
    procs: dict[str, list[str]] = {}
    if settings.embedded_redis:
        procs["redis"] = server_args(port=settings.redis_port, data_dir=settings.data_dir,
                                     appendfsync=settings.redis_appendfsync, password=settings.redis_password,
                                     maxmemory_mb=settings.redis_maxmemory_mb)
    celery = [str(BIN / "celery"), "-A", "workers"]
    worker = [*celery, "worker", "--loglevel", "INFO"]
    # The workers run at a lower priority: on a small machine they would otherwise take the CPU the
    # API needs to answer at once; they still get every cycle the API leaves (NICE above).
    procs["model"] = ["nice", "-n", str(MODEL_NICE), *worker, *MODEL_WORKER_ARGS,
                      "--concurrency", str(settings.worker_concurrency), "--hostname", "model@%h"]
    procs["io"] = ["nice", "-n", str(IO_NICE), *worker, "--queues", "tickets", "--pool", "threads",
                   "--concurrency", str(settings.io_concurrency), "--prefetch-multiplier", str(IO_PREFETCH_MULTIPLIER),
                   "--hostname", "io@%h"]
    # Deliveries have a pool of their own: slow receivers hold its threads, never scoring's.
    procs["webhooks"] = ["nice", "-n", str(IO_NICE), *worker, "--queues", "webhooks", "--pool", "threads",
                         "--concurrency", str(settings.io_concurrency), "--hostname", "webhooks@%h"]
    procs["scheduler"] = ["nice", "-n", str(IO_NICE), *celery, "beat", "--loglevel", "INFO",
                          "--schedule", str(settings.data_dir / "celerybeat-schedule")]
    procs["web"] = [
        str(BIN / "gunicorn"), "--bind", f"{settings.host}:{settings.port}", "--workers", "2",
        "--worker-class", "gthread", "--threads", "8", "--graceful-timeout", "10",
        # Kept-alive client connections cost a socket, not a thread: keep them past a client's
        # short pauses, so that it does not reuse one the server is closing at that moment.
        "--keep-alive", "15",
        "--config", "python:web.gunicorn_conf", "web:create_app()",
    ]
    # Flower's password comes from its environment (FLOWER_BASIC_AUTH), never its command line; its
    # app (deploy/flower.py) puts /metrics behind that password too.
    procs["flower"] = ["nice", "-n", str(FLOWER_NICE), str(BIN / "celery"), "-A", "deploy.flower", "flower",
                       f"--address={settings.host}", f"--port={settings.flower_port}"]
    if settings.imap_url:  # the support mailbox, turned into tickets (docs/mailbox.md)
        procs["mail"] = ["nice", "-n", str(IO_NICE), sys.executable, "-m", "workers.mailbox"]
    if settings.helpdesk_url:  # the helpdesk's tickets, triaged and written back (docs/helpdesk.md)
        procs["helpdesk"] = ["nice", "-n", str(IO_NICE), sys.executable, "-m", "workers.helpdesk"]
    return procs


def mask_key(key: str) -> str:
    """Enough of a key to tell which one it is, never enough to use it: its first 8 characters."""
    return key[:8] + "…"


def banner(settings: Settings) -> str:
    redis = "embedded, data in " + str(settings.data_dir) if settings.embedded_redis else redacted(settings.broker_url)
    # SMARTSUPPORT_BROKER_URL reaches every program (supervisord passes its environment on); shown without its password.
    broker = [f"  Broker          : {maybe_sanitize_url(settings.broker)}"] if settings.broker else []
    # The key itself stays off the terminal (and out of scrollback and captured logs): the banner says where it is.
    key_file = Path(settings.data_dir) / SECRET_FILES["api_keys"]
    if read_secret(settings.data_dir, key_file.name) == settings.api_keys[0]:
        where, bearer = f"in {key_file}", f"$(cat {shlex.quote(str(key_file))})"
    else:
        where, bearer = "the first of SMARTSUPPORT_API_KEYS", "${SMARTSUPPORT_API_KEYS%%,*}"
    return "\n".join([
        "",
        "SmartSupport is starting",
        f"  Dashboard + API : http://{settings.host}:{settings.port}/   (API under /api, spec at /openapi.json)",
        f"  Flower          : http://{settings.host}:{settings.flower_port}/   (user 'operator', password = API key)",
        f"  Redis           : {redis}",
        *broker,
        f"  API key         : {mask_key(settings.api_keys[0])}   ({where})",
        f"  Try it          : curl -H \"Authorization: Bearer {bearer}\" "
        "-H 'Content-Type: application/json' "
        f"-d '{{\"body\": \"Our API is down, fix ASAP\"}}' http://{settings.host}:{settings.port}/api/tickets",
        "  Stop            : Ctrl-C",
        "",
    ])


def run(settings: Settings, only: list[str] | None = None) -> int:
    """Write supervisord's configuration into the data dir and become supervisord (Ctrl-C stops it all).

    ``only``: the programs of this host, where the installation spans several (docs/scaling.md).

    supervisord gives each program its own process group but keeps them in this session: where the
    kernel shares the CPU between sessions first (``/proc/sys/kernel/sched_autogroup_enabled``), one
    session is what lets the nice values above order them (see docs/architecture.md)."""
    check_routing(settings)
    os.umask(0o077)  # everything this installation writes is its user's alone (supervisord inherits it)
    data = private_dir(settings.data_dir)
    metrics_dir = data / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)  # per-process files of an earlier run
    metrics_dir.mkdir(parents=True)
    (data / "logs").mkdir(exist_ok=True)
    env = {
        # Only the gunicorn processes share request metrics through files.
        "web": {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)},
        "flower": {"FLOWER_BASIC_AUTH": f"operator:{settings.api_keys[0]}"} if settings.api_keys else {},
    }
    path = data / "supervisord.conf"
    programs = {name: cmd for name, cmd in commands(settings).items() if only is None or name in only}
    if "flower" in programs and not settings.api_keys:  # Flower's password is the operator key
        raise ConfigError("flower needs an API key on this host: set SMARTSUPPORT_API_KEYS")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(supervisor.config(settings, programs, env))
    os.environ.update(SMARTSUPPORT_DATA_DIR=str(data), PYTHONUNBUFFERED="1",
                      SMARTSUPPORT_SUPERVISOR_SOCKET=str(supervisor.socket_path(data)))
    print(banner(settings) if only is None else f"SmartSupport on this host: {', '.join(programs)}", flush=True)
    os.execv(str(BIN / "supervisord"), [str(BIN / "supervisord"), "--nodaemon", "--configuration", str(path)])


def check_routing(settings: Settings) -> None:
    """A routing file that does not load stops the start, naming each bad place (ConfigError)."""
    if settings.routing_file is not None:
        routing.load(settings.routing_file, labels=[label.name for label in load_labels(settings.labels_file)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy")
    parser.add_argument("command", choices=["run", "wait-redis", "show-config"])
    parser.add_argument("--only", type=lambda v: [name.strip() for name in v.split(",") if name.strip()],
                        help="run: only these programs, comma-separated (a host of several: "
                             f"{', '.join(PROGRAMS)})")
    args = parser.parse_args(argv)
    if args.only is not None and (not args.only or set(args.only) - set(PROGRAMS)):
        parser.error(f"--only takes programs among {', '.join(PROGRAMS)}, not {','.join(args.only)!r}")
    try:
        # Only `run` generates the API key and the webhook secret of a new installation, and only
        # where the API runs: a worker host signs with the installation's secret (from Redis),
        # never with one it generated.
        create = args.command == "run" and (args.only is None or "web" in args.only)
        settings = Settings.from_env(create_secrets=create)
        if args.command == "run":
            return run(settings, args.only)
    except ConfigError as exc:
        print(f"smartsupport: {exc}", file=sys.stderr)
        return 2
    if args.command == "wait-redis":
        wait_until_ready(settings.broker_url, timeout_s=60)
        return 0
    for name, cmd in commands(settings).items():
        print(f"{name}: {' '.join(cmd)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
