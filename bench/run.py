"""The benchmark driver behind `scripts/bench`. See docs/benchmarks.md for what it measures and why.

Everything runs on this machine: Postgres, the servers under test (one uvicorn worker each) and
the load generator (wrk, a separate process). Every load loop is bounded by wrk's `-d`; servers
are started and stopped by this script only, by their process ids, on ports the kernel picks.

    python -m bench.run            # the full run, updates docs/benchmarks.md
    python -m bench.run --quick    # a smoke test with short runs; writes bench-results/ only

The modules: settings (paths, run settings), servers (what runs, start/stop), load (wrk), cpu
(/proc accounting), seeding (databases), clients (sessions through each server's routes),
probes (shared measurements), scenarios/ (one module per measurement), report*, plot.
"""

# A driver script: a blocking stat between load runs costs nothing that is measured.
# ruff: noqa: ASYNC240

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import signal
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type as Argon2Type

from bench.common import AUTHGATE_SCHEMA, FAU_SCHEMA, PASSWORD, SQLITE_PATH
from bench.cpu import quiet_budget
from bench.load import ensure_wrk, wrk
from bench.machine import machine_info
from bench.plot import make_plot
from bench.report import render, update_docs
from bench.scenarios.cleanup import cleanup
from bench.scenarios.scale import scale
from bench.scenarios.session_check import session_check
from bench.scenarios.signin import signin_and_flood
from bench.scenarios.speed import C1_SERVERS, JWT_SERVERS, jwt_speed, one_connection
from bench.seeding import pg_connect, reset_databases, seed_authgate_pg, seed_authgate_sqlite
from bench.servers import CONTENDERS, SERVERS, Server, contender_python, running
from bench.settings import ARGON2, DOCS, PLOT, RAW, RESULTS, ROOT, Settings, log


async def run(s: Settings) -> dict[str, Any]:
    RAW.mkdir(parents=True, exist_ok=True)
    (RAW / "wrk.log").write_text("")
    quiet_budget["left"] = s.quiet_budget
    wrk_version = ensure_wrk()
    conn = await pg_connect()
    pg_version = (await conn.fetchval("SHOW server_version")).split()[0]
    await conn.close()
    results: dict[str, Any] = {
        "settings": asdict(s),
        "machine": machine_info(wrk_version, pg_version, contender_python("fastapi-users")),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    rng = random.Random(1234)
    log(f"machine: {results['machine']['cpus']} x {results['machine']['cpu_model']}, Postgres {pg_version}")
    log(f"resetting schemas {AUTHGATE_SCHEMA}, {FAU_SCHEMA} and {SQLITE_PATH}")
    await reset_databases()
    password_hash = Argon2Hasher(type=Argon2Type.ID, **ARGON2).hash(PASSWORD)
    log(f"seeding {s.base_users:,} users with one session each (authgate Postgres and SQLite)")
    await seed_authgate_pg(password_hash, 1, s.base_users)
    seed_authgate_sqlite(password_hash, s.base_users)

    servers = list(dict.fromkeys(c.server.key for c in CONTENDERS))
    log(f"starting the {len(servers)} session-check servers")
    async with running(*(SERVERS[k] for k in servers)):
        results["protected"], scripts, ids = await session_check(s, rng)
    log("JWT strategy: protected route vs hello, per codec")
    async with running(*(SERVERS[k] for k in JWT_SERVERS)):
        results["jwt"] = await jwt_speed(s, rng)
    log("database path at one connection")
    async with running(*(SERVERS[k] for k in C1_SERVERS)):
        results["c1"] = await one_connection(s, rng)
    results["signin"], results["session_flood"], signin_lua = await signin_and_flood(s, rng, password_hash, ids)
    results["scale"] = await scale(s, rng, password_hash)
    results["cleanup"] = await cleanup(s, rng)
    if s.profile:
        loads = [
            ("protected", "/api/private", scripts["authgate_pg"], s.connections),
            ("signin", "/api/auth/sign-in", signin_lua, s.signin_connections),
        ]
        results["profile"] = await profile_authgate(SERVERS["authgate_pg"], loads, s)
    results["quiet_wait_seconds"] = round(quiet_budget["waited"])
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    return results


async def profile_authgate(server: Server, loads: list[tuple[str, str, Path, int]], s: Settings) -> dict[str, Any]:
    """py-spy (CPU samples, idle excluded, all threads) on the authgate server under each load:
    (name, path, wrk script, connections). Raw stacks go to bench-results/profile-<name>.txt."""
    from bench.profile import summarize

    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(pyspy).exists():
        log("py-spy not installed; skipping the profile")
        return {}
    profiles: dict[str, Any] = {}
    async with running(server):
        assert server.proc is not None
        for name, path, script, connections in loads:
            out = RESULTS / f"profile-{name}.txt"
            await wrk(server.base + path, script, duration=s.warmup, connections=connections,
                      label=f"profile {name} warm-up")  # fmt: skip
            spy = await asyncio.create_subprocess_exec(
                pyspy, "record", "--pid", str(server.proc.pid), "--format", "raw", "--rate", "250", "--nonblocking",
                "--duration", str(int(s.duration)), "--output", str(out),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            await asyncio.sleep(0.5)
            await wrk(server.base + path, script, duration=s.duration, connections=connections, label=f"profile {name}")
            await asyncio.wait_for(spy.wait(), timeout=s.duration + 30)
            if out.exists():
                profiles[name] = summarize(out, top=25)
                log(f"profile {name}: {RESULTS.relative_to(ROOT)}/profile-{name}.txt")
    return profiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short smoke run; does not touch docs/")
    parser.add_argument("--large-users", type=int, help="users for the scale test (default 1,000,000)")
    parser.add_argument(
        "--profile", action="store_true", help="also py-spy authgate under the protected-route and sign-in loads"
    )
    parser.add_argument("--no-docs", action="store_true", help="write bench-results/ only")
    args = parser.parse_args()
    s = Settings.quick_settings() if args.quick else Settings()
    if args.large_users:
        s.large_users = args.large_users
    if args.no_docs:
        s.update_docs = False
    s.profile = args.profile
    # SIGTERM stops the run like Ctrl-C: the servers are stopped on the way out.
    signal.signal(signal.SIGTERM, signal.getsignal(signal.SIGINT))
    try:
        results = asyncio.run(run(s))
    finally:
        for server in SERVERS.values():  # only if something above failed to stop them
            if server.proc is not None and server.proc.poll() is None:
                server.proc.kill()
    results["command"] = " ".join(["scripts/bench", *sys.argv[1:]])
    markdown = render(results)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2, default=str))
    (RESULTS / "latest.md").write_text("# authgate benchmark results\n\n" + markdown + "\n")
    make_plot(results, RESULTS / PLOT.name)
    print()
    print(markdown)
    if s.update_docs:
        if make_plot(results, PLOT):
            log(f"wrote {PLOT.relative_to(ROOT)}")
        update_docs(markdown)
        log(f"updated {DOCS.relative_to(ROOT)}")
    log(f"wrote {RESULTS.relative_to(ROOT)}/latest.md and latest.json; raw wrk output in {RAW.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
