"""``python -m deploy run``: the whole system as one supervised group (what ``make run`` starts).

Embedded Redis (unless REDIS_URL is set), a Celery worker, the API under gunicorn and Flower run
under honcho; their output is interleaved with a name per line, and Ctrl-C stops all of them.
"""

from __future__ import annotations

import argparse
import functools
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from honcho.process import Popen, Process

from smartsupport.config import Settings

from .redis_server import server_args, wait_until_ready

BIN = Path(sys.executable).parent
#: The model worker holds a running batch and the next one (see workers.tasks.BATCH_SIZE).
MODEL_WORKER_ARGS = ["--queues", "model", "--prefetch-multiplier", "64"]
#: The I/O worker's threads each hold up to this many messages: the score and notify batches
#: (workers.tasks.STAGE_BATCH_SIZE) form from messages held while the previous batch runs.
IO_PREFETCH_MULTIPLIER = 8
#: Scheduling priorities (nice values): the API and Redis first, at 0; the workers take what they leave.
#: A thread's weight falls about 1.25x per nice step, but the I/O worker runs up to 17 threads and the
#: model worker two torch threads per process: at nice 5 and 10 their sum still outweighed the API's
#: few busy threads (README, How it is built). The I/O worker sits above the model (it finishes
#: tickets already in flight), Flower at the bottom.
IO_NICE = 17
MODEL_NICE = 19
FLOWER_NICE = 19


def commands(settings: Settings) -> dict[str, str]:
    """The processes of one installation, as shell commands."""
    py = shlex.quote(sys.executable)
    wait = f"{py} -m deploy wait-redis && exec "
    procs: dict[str, str] = {}
    if settings.embedded_redis:
        procs["redis"] = "exec " + shlex.join(server_args(port=settings.redis_port, data_dir=settings.data_dir,
                                                          appendfsync=settings.redis_appendfsync))
    celery = [str(BIN / "celery"), "-A", "workers", "worker", "--loglevel", "INFO"]
    # The workers run at a lower priority: on a small machine they would otherwise take the CPU the
    # API needs to answer at once; they still get every cycle the API leaves (NICE above).
    procs["model"] = wait + shlex.join(["nice", "-n", str(MODEL_NICE), *celery, *MODEL_WORKER_ARGS,
                                        "--concurrency", str(settings.worker_concurrency), "--hostname", "model@%h"])
    procs["io"] = wait + shlex.join(["nice", "-n", str(IO_NICE), *celery, "--queues", "tickets,webhooks",
                                     "--pool", "threads", "--concurrency", str(settings.io_concurrency),
                                     "--prefetch-multiplier", str(IO_PREFETCH_MULTIPLIER), "--hostname", "io@%h",
                                     "--beat", "--schedule", str(settings.data_dir / "celerybeat-schedule")])
    procs["web"] = wait + shlex.join([
        str(BIN / "gunicorn"), "--bind", f"{settings.host}:{settings.port}", "--workers", "2",
        "--worker-class", "gthread", "--threads", "8", "--graceful-timeout", "10",
        # Kept-alive client connections cost a socket, not a thread: keep them past a client's
        # short pauses, so that it does not reuse one the server is closing at that moment.
        "--keep-alive", "15",
        "--config", "python:web.gunicorn_conf", "web:create_app()",
    ])
    procs["flower"] = wait + shlex.join([
        "nice", "-n", str(FLOWER_NICE), str(BIN / "celery"), "-A", "workers", "flower", f"--address={settings.host}",
        f"--port={settings.flower_port}", f"--basic-auth=operator:{settings.api_keys[0]}",
    ])
    return procs


def banner(settings: Settings) -> str:
    redis = "embedded, data in " + str(settings.data_dir) if settings.embedded_redis else settings.broker_url
    return "\n".join([
        "",
        "SmartSupport is starting",
        f"  Dashboard + API : http://{settings.host}:{settings.port}/   (API under /api, spec at /openapi.json)",
        f"  Flower          : http://{settings.host}:{settings.flower_port}/   (user 'operator', password = API key)",
        f"  Redis           : {redis}",
        f"  API key         : {settings.api_keys[0]}",
        f"  Try it          : curl -H 'Authorization: Bearer {settings.api_keys[0]}' "
        "-H 'Content-Type: application/json' "
        f"-d '{{\"body\": \"Our API is down, fix ASAP\"}}' http://{settings.host}:{settings.port}/api/tickets",
        "  Stop            : Ctrl-C",
        "",
    ])


class _Member(Process):
    """A honcho process that stays in the run's session, as the leader of its own process group.

    honcho starts each command in a new session. Where the kernel groups tasks by session for
    scheduling (``/proc/sys/kernel/sched_autogroup_enabled``, on by default on desktop and many
    server kernels), every session gets an equal share of the CPU whatever its nice value, so the
    nice values above would order nothing: a busy model worker held the API's threads off the CPU for
    milliseconds. In one session the nice values weigh as they should. Each command still leads its
    own process group, so honcho's ``killpg`` stops it with its children, and a Ctrl-C on the terminal
    reaches honcho alone, which stops them in order.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._child_ctor = functools.partial(Popen, start_new_session=False, process_group=0,
                                             stdin=subprocess.DEVNULL)


def run(settings: Settings) -> int:
    from honcho.manager import Manager

    metrics_dir = settings.data_dir / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)  # per-process files of an earlier run
    metrics_dir.mkdir(parents=True)
    env = {**os.environ, "SMARTSUPPORT_DATA_DIR": str(settings.data_dir), "PYTHONUNBUFFERED": "1"}
    manager = Manager()
    manager._process_ctor = _Member  # honcho has no public hook for how it starts a command
    for name, cmd in commands(settings).items():
        # Only the gunicorn processes share request metrics through files.
        extra = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)} if name == "web" else {}
        manager.add_process(name, cmd, env={**env, **extra})
    print(banner(settings), flush=True)
    manager.loop()
    return manager.returncode or 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smartsupport")
    parser.add_argument("command", choices=["run", "wait-redis", "show-config"])
    args = parser.parse_args(argv)
    # Only `run` generates the API key and the webhook secret of a new installation.
    settings = Settings.from_env(create_secrets=args.command == "run")
    if args.command == "run":
        return run(settings)
    if args.command == "wait-redis":
        wait_until_ready(settings.broker_url, timeout_s=60)
        return 0
    for name, cmd in commands(settings).items():
        print(f"{name}: {cmd}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
