"""Where the machine's cores went during a measurement, from /proc, and CPU per request."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import Any

# CPU accounting: where the machine's cores went during a measurement


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_ticks(stat_path: str) -> tuple[str, int]:
    """(command name, utime + stime ticks) of one /proc/<pid>[/task/<tid>]/stat."""
    with open(stat_path) as fh:
        data = fh.read()
    name = data[data.index("(") + 1 : data.rindex(")")]
    fields = data[data.rindex(")") + 2 :].split()
    return name, int(fields[11]) + int(fields[12])


def cpu_snapshot(server_pid: int | None) -> dict[str, float]:
    """Cumulative CPU seconds: machine busy, the server's event-loop thread, its other threads
    (the hash pool), Postgres backends, Redis, wrk."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + values[4]
    snap = {
        "wall": time.monotonic(),
        "busy": (sum(values[:8]) - idle) / _TICK,
        "server_loop": 0.0,
        "server_threads": 0.0,
        "postgres": 0.0,
        "redis": 0.0,
        "wrk": 0.0,
    }
    if server_pid is not None:
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{server_pid}/task"):
                with contextlib.suppress(OSError, ValueError):
                    _, ticks = _proc_ticks(f"/proc/{server_pid}/task/{tid}/stat")
                    snap["server_loop" if int(tid) == server_pid else "server_threads"] += ticks / _TICK
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            name, ticks = _proc_ticks(f"/proc/{pid}/stat")
            if name == "postgres":
                snap["postgres"] += ticks / _TICK
            elif name == "wrk":
                snap["wrk"] += ticks / _TICK
            elif name.startswith("redis-server"):
                snap["redis"] += ticks / _TICK
    return snap


quiet_budget = {"left": 150.0, "waited": 0.0}


async def wait_for_quiet(max_wait: float, threshold: float = 0.3) -> float:
    """Wait (up to max_wait seconds, and 150 s over the whole run) until the machine's busy cores
    over 1 s fall below threshold: this host may be shared, and a neighbour's burst would otherwise
    land in one contender's run. Our idle servers use next to nothing. Returns the last busy sample."""
    started = time.monotonic()
    deadline = started + min(max_wait, quiet_budget["left"])
    try:
        while True:
            before = cpu_snapshot(None)
            await asyncio.sleep(0.5)
            busy = cpu_usage(before, cpu_snapshot(None))["busy"]
            if busy < threshold or time.monotonic() >= deadline:
                return busy
            await asyncio.sleep(0.5)
    finally:
        spent = time.monotonic() - started - 0.5
        quiet_budget["left"] = max(0.0, quiet_budget["left"] - max(0.0, spent))
        quiet_budget["waited"] += max(0.0, spent)


def cpu_usage(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Cores used on average between two snapshots, per consumer; `other` is everything else on the
    machine (other users of this host included)."""
    wall = after["wall"] - before["wall"]
    used = {k: max(0.0, after[k] - before[k]) / wall for k in before if k != "wall"}
    used["other"] = max(
        0.0,
        used["busy"] - used["server_loop"] - used["server_threads"] - used["postgres"] - used["redis"] - used["wrk"],
    )
    return {k: round(v, 2) for k, v in used.items()}


def cpu_per_request(result: dict[str, Any]) -> dict[str, float] | None:
    """Microseconds of CPU per request: the server (all threads), Postgres, Redis, and all three. Unlike req/s,
    this hardly moves when other processes take cores away."""
    cpu = result.get("cpu")
    if not cpu or not result["rps"]:
        return None
    server = (cpu["server_loop"] + cpu["server_threads"]) * 1e6 / result["rps"]
    postgres = cpu["postgres"] * 1e6 / result["rps"]
    redis = cpu.get("redis", 0.0) * 1e6 / result["rps"]
    return {"server_us": server, "postgres_us": postgres, "redis_us": redis, "total_us": server + postgres + redis}
