"""The supervisord configuration of ``make run``: one program per process, restarted when it dies.

supervisord (a kept process supervisor) starts every program, restarts one that exits (with a
growing wait between quick failures; after ``START_RETRIES`` of those it gives up and marks it
FATAL, which /api/health and the dashboard report), and stops them all on Ctrl-C. Each program runs
under ``deploy.guard``, which clears what a killed process leaves behind. The file is written into
the data dir (0600: it holds Flower's password); its control socket too (0700).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from smartsupport.config import Settings

#: A process that ran this long counts as started; fewer quick failures than START_RETRIES are retried.
START_SECS = 5
START_RETRIES = 5
#: Seconds a program has to stop (Celery finishes its running tasks) before it is killed.
STOP_WAIT_S = 20
ROOT = Path(__file__).resolve().parents[1]


def socket_path(data_dir: Path) -> Path:
    return Path(data_dir) / "supervisor.sock"


def config(settings: Settings, programs: dict[str, list[str]], env: dict[str, dict[str, str]]) -> str:
    """supervisord.conf for ``programs`` (name -> command), with ``env`` extra variables per program."""
    data = Path(settings.data_dir)
    sock = socket_path(data)
    sections = [
        "[supervisord]", "nodaemon=true", "logfile=/dev/stdout", "logfile_maxbytes=0", "loglevel=info",
        f"pidfile={data / 'supervisord.pid'}", f"childlogdir={data / 'logs'}", "umask=077", "",
        "[unix_http_server]", f"file={sock}", "chmod=0700", "",
        "[rpcinterface:supervisor]", "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "", "[supervisorctl]", f"serverurl=unix://{sock}", "",
    ]
    for priority, (name, command) in enumerate(programs.items(), start=1):
        guarded = [sys.executable, "-m", "deploy.guard", name, *(["--wait-redis"] if name != "redis" else []),
                   "--", *command]
        extra = ",".join(f'{k}="{_escape(v)}"' for k, v in env.get(name, {}).items())
        sections += [
            f"[program:{name}]", f"command={_escape(shlex.join(guarded))}", f"directory={ROOT}",
            f"priority={priority}", "umask=077", "autostart=true", "autorestart=true", f"startsecs={START_SECS}",
            f"startretries={START_RETRIES}", "stopasgroup=true", "killasgroup=true", f"stopwaitsecs={STOP_WAIT_S}",
            "stdout_logfile=/dev/stdout", "stdout_logfile_maxbytes=0", "redirect_stderr=true",
            *([f"environment={extra}"] if extra else []), "",
        ]
    return "\n".join(sections)


def _escape(value: str) -> str:
    # supervisord expands %(name)s in its values: a literal % is written %%.
    return value.replace("%", "%%").replace('"', '\\"')
