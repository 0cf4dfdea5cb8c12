"""``python -m deploy.guard NAME [--wait-redis] -- COMMAND...``: one process of ``make run`` under supervisord.

supervisord restarts a program whose process exits, but a process that is killed (SIGKILL, the
OOM killer) leaves its children behind: a Celery worker's pool processes and embedded beat, a
gunicorn master's workers, which hold the port and the log pipe. The guard runs COMMAND in its own
process group (the one supervisord made for the program) and, whenever COMMAND exits, kills every
other process left in that group before exiting itself with COMMAND's status; supervisord then
starts a clean copy. It also prefixes each line of output with NAME, so the interleaved log of
``make run`` says which process wrote what. With ``--wait-redis`` it first waits for the store.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import psutil

#: How long the guard lets COMMAND's leftovers exit after SIGTERM before killing them.
LEFTOVER_GRACE_S = 2.0


def main(argv: list[str]) -> int:
    if "--" not in argv or argv.index("--") not in (1, 2) or len(argv) < argv.index("--") + 2:
        print("usage: python -m deploy.guard NAME [--wait-redis] -- COMMAND...", file=sys.stderr)
        return 2
    split = argv.index("--")
    name, options, command = argv[0], argv[1:split], argv[split + 1:]
    if "--wait-redis" in options:
        from smartsupport.config import Settings

        from .redis_server import wait_until_ready

        wait_until_ready(Settings.from_env().broker_url, timeout_s=60)
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        # supervisord stops the whole group (stopasgroup), so COMMAND hears it too: the guard waits.
        signal.signal(sig, lambda *_: None)
    reader = threading.Thread(target=_relay, args=(name, child.stdout), daemon=True)
    reader.start()
    code = child.wait()
    left = _leftovers()
    if left:
        print(f"{name} | exited with {code}; stopping {len(left)} process(es) it left behind", flush=True)
        _stop(left)
    reader.join(timeout=5)
    return code if code >= 0 else 128 - code


def _relay(name: str, stream) -> None:
    prefix = f"{name:<9}| ".encode()
    out = sys.stdout.buffer
    for line in iter(stream.readline, b""):
        out.write(prefix + line)
        out.flush()


def _leftovers() -> list[psutil.Process]:
    """Every other process of our process group: orphans of COMMAND's, wherever they were reparented."""
    group, me = os.getpgid(0), os.getpid()
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.pid != me and os.getpgid(proc.pid) == group:
                found.append(proc)
        except (ProcessLookupError, psutil.Error):
            continue
    return found


def _stop(processes: list[psutil.Process]) -> None:
    for proc in processes:
        try:
            proc.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(processes, timeout=LEFTOVER_GRACE_S)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=LEFTOVER_GRACE_S)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
