"""Wrap a benchmark app and record the garbage collector's pauses (a diagnostic, not part of the run).

    BENCH_PROBE_TARGET=bench.authgate_app:app uvicorn bench.gc_probe:app ...

On shutdown it prints, per generation, how many collections ran and their total and longest pause,
plus the number of objects the collector tracks: long gen-2 pauses show up as p99 latency.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
import time
from typing import Any

module_name, _, attr = os.environ.get("BENCH_PROBE_TARGET", "bench.authgate_app:app").partition(":")
target = getattr(importlib.import_module(module_name), attr or "app")

_stats: dict[int, list[float]] = {0: [], 1: [], 2: []}
_started: list[float] = [0.0]


def _callback(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        _stats[info["generation"]].append(time.perf_counter() - _started[0])


gc.callbacks.append(_callback)


def report() -> str:
    lines = [f"gc probe for {module_name}: {len(gc.get_objects())} tracked objects, thresholds {gc.get_threshold()}"]
    for gen, pauses in _stats.items():
        if pauses:
            lines.append(
                f"  gen{gen}: {len(pauses)} collections, total {sum(pauses) * 1000:.1f} ms,"
                f" max {max(pauses) * 1000:.2f} ms"
            )
    return "\n".join(lines)


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":

        async def receive_and_report() -> Any:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                print(report(), file=sys.stderr, flush=True)
            return message

        await target(scope, receive_and_report, send)
        return
    await target(scope, receive, send)
