"""The plot of docs/benchmarks-session-check.png: req/s and p99 per contender."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.settings import log

SHORT_LABELS = {
    "floor": "(a) floor: Starlette + asyncpg",
    "authgate_pg": "(b) authgate, Postgres",
    "fau_db": "(c) fastapi-users, database",
    "fau_jwt": "(d) fastapi-users, JWT",
    "authgate_sqlite": "(e) authgate, SQLite",
    "authgate_redis_local": "(f) authgate + Redis + local cache",
    "authgate_redis": "(g) authgate + Redis",
    "authgate_pg_session": "(b') authgate /session, Postgres",
    "authgate_redis_local_session": "(f') authgate /session + local cache",
    "better_auth": "(h) Better Auth get-session",
    "better_auth_cc": "(i) Better Auth + cookie cache",
}


def make_plot(results: dict[str, Any], path: Path) -> bool:
    """Two bar charts side by side: session-check req/s and p99 per system (median of the runs)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib not installed; no plot")
        return False
    prot = results["protected"]
    keys = list(prot)
    labels = [SHORT_LABELS.get(k, prot[k]["label"]) for k in keys]
    rps = [prot[k]["median"]["rps"] for k in keys]
    p99 = [prot[k]["median"]["p99_ms"] for k in keys]

    def colour(key: str) -> str:
        if key == "floor":
            return "#7f7f7f"
        if key.startswith("authgate"):
            return "#1f77b4" if "redis" not in key else "#2ca02c"
        if key.startswith("better_auth"):
            return "#d62728"
        return "#ff7f0e"

    colours = [colour(k) for k in keys]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 0.45 * len(keys) + 2.2), sharey=True)
    ypos = list(range(len(keys)))[::-1]
    left.barh(ypos, rps, color=colours)
    left.set_yticks(ypos, labels)
    left.set_xlabel("requests/s (higher is better)")
    left.axvline(prot["floor"]["median"]["rps"], color="#7f7f7f", linestyle="--", linewidth=1)
    for y, v in zip(ypos, rps, strict=True):
        left.text(v, y, f" {v:,.0f}", va="center", fontsize=8)
    left.set_xlim(0, max(rps) * 1.18)
    right.barh(ypos, p99, color=colours)
    right.set_xscale("log")
    right.set_xlabel("p99 latency, ms, log scale (lower is better)")
    for y, v in zip(ypos, p99, strict=True):
        right.text(v, y, f" {v:,.1f}", va="center", fontsize=8)
    right.set_xlim(min(p99) / 1.5, max(p99) * 2.5)
    s = results["settings"]
    fig.suptitle(
        f"Session check, {s['base_users']:,} users: wrk -c{s['connections']} -d{s['duration']:.0f}s, "
        f"median of {s['runs']}; one process per server, {results['machine']['cpus']} CPUs shared with Postgres "
        f"and wrk ({results['started'][:10]})",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
