"""Private Postgres and Redis servers for fault injection (SIGSTOP, DEBUG SLEEP, maxclients).

The shared servers other tests use are never stopped or reconfigured: each fault test starts its
own server in a temporary directory on a free port and removes it afterwards. A server that cannot
be started fails the test naming the missing program; nothing is skipped.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for_port(port: int, *, limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"private {what} did not listen on 127.0.0.1:{port} within {limit} s")
        time.sleep(0.05)


@dataclass
class PrivateServer:
    """A server process of our own: `stop()` is SIGSTOP, `resume()` SIGCONT, nothing else is touched."""

    port: int
    pid: int
    url: str
    data: str = ""

    def stop(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        pytest.fail(f"fault tests need Postgres server binaries ({name} under /usr/lib/postgresql/*/bin)")
    return found[-1]


def _as_postgres(command: list[str]) -> list[str]:
    # initdb refuses to run as root: run the private cluster as the postgres user then.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivateServer]:
    """A throwaway Postgres cluster (trust auth, database `postgres`) on a free port."""
    root = tempfile.mkdtemp(prefix="authgate-pg-")
    data = os.path.join(root, "data")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    port = free_port()
    subprocess.run(
        _as_postgres([_pg_bin("initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]),
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    server = PrivateServer(port, 0, f"postgresql://postgres@127.0.0.1:{port}/postgres", data=data)
    try:
        start_postgres(server)
        yield server
    finally:
        _continue_all(data)
        subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", data, "stop", "-m", "immediate", "-w"]),
                       capture_output=True, timeout=60, check=False)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


def start_postgres(server: PrivateServer) -> None:
    """Start (or start again after `shut_down_postgres`) the private cluster; waits until it listens."""
    root = os.path.dirname(server.data)
    options = f"-p {server.port} -h 127.0.0.1 -k {root} -c fsync=off -c max_connections=50"
    done = subprocess.run(
        _as_postgres([_pg_bin("pg_ctl"), "-D", server.data, "-o", options, "-l", os.path.join(root, "log"),
                      "-w", "-t", "60", "start"]),
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.fail(f"private Postgres did not start: {done.stdout.strip()} {done.stderr.strip()}")
    _wait_for_port(server.port, limit=30, what="Postgres")
    server.pid = _postmaster_pid(server.data)


def shut_down_postgres(server: PrivateServer) -> None:
    """A clean fast shutdown of the private cluster (connections refused until `start_postgres`)."""
    subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", server.data, "stop", "-m", "fast", "-w"]),
                   capture_output=True, timeout=60, check=True)  # fmt: skip


def _postmaster_pid(data: str) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError), open(os.path.join(data, "postmaster.pid")) as pidfile:
            return int(pidfile.readline())
        time.sleep(0.05)
    pytest.fail("private Postgres wrote no postmaster.pid")


def _continue_all(data: str) -> None:
    """SIGCONT the postmaster and every backend, so a failed test never leaves a stopped server."""
    with contextlib.suppress(OSError, ValueError):
        with open(os.path.join(data, "postmaster.pid")) as pidfile:
            parent = int(pidfile.readline())
        for pid in [parent, *_children(parent)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as stat:
                if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
    return found


def stop_postgres(server: PrivateServer) -> list[int]:
    """SIGSTOP the postmaster and all its backends (a hung machine, not a closed port)."""
    pids = [server.pid, *_children(server.pid)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
    return pids


def resume_postgres(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


@contextlib.contextmanager
def private_redis(*extra: str) -> Iterator[PrivateServer]:
    """A throwaway redis-server (no persistence) on a free port; `restart_redis` kills and starts it
    again on the same port (all data lost, as after a crash without persistence)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("fault tests need redis-server on PATH")
    port = free_port()
    root = tempfile.mkdtemp(prefix="authgate-redis-")
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", root,
               "--enable-debug-command", "local", *extra]  # fmt: skip
    server = PrivateServer(port, 0, f"redis://127.0.0.1:{port}/0", data=root)
    _redis_commands[port] = command
    try:
        _spawn_redis(server)
        yield server
    finally:
        _kill(server.pid)
        _redis_commands.pop(port, None)
        shutil.rmtree(root, ignore_errors=True)


_redis_commands: dict[int, list[str]] = {}
_redis_processes: dict[int, subprocess.Popen[bytes]] = {}


def _spawn_redis(server: PrivateServer) -> None:
    process = subprocess.Popen(_redis_commands[server.port], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _redis_processes[process.pid] = process
    server.pid = process.pid
    _wait_for_port(server.port, limit=10, what="Redis")


def _kill(pid: int) -> None:
    process = _redis_processes.pop(pid, None)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)
        os.kill(pid, signal.SIGKILL)
    if process is not None:
        process.wait(timeout=10)


def kill_redis(server: PrivateServer) -> None:
    """SIGKILL the private Redis (connections refused until `start_redis`)."""
    _kill(server.pid)


def start_redis(server: PrivateServer) -> None:
    _spawn_redis(server)
