"""Report of issue 14's speed targets: the JWT strategy against its own app's hello route, and the
database path (batched session checks) against the floor at 32 connections and at one."""

from __future__ import annotations

from typing import Any

from bench.cpu import cpu_per_request
from bench.scenarios.speed import C1_SERVERS, JWT_SERVERS

JWT_TARGET = 0.8  # protected / hello, same app
DB_TARGET = 1.5  # batched authgate / the floor, -c32
C1_P50_SLACK = 1.05  # p50 at -c1 "no worse than before": within 5%, about the run-to-run spread of a p50


def _fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _cpu_cells(result: dict[str, Any]) -> str:
    per = cpu_per_request(result)
    if per is None:
        return "- | - | -"
    return f"{_fmt(per['server_us'])} | {_fmt(per['postgres_us'])} | {_fmt(per['total_us'])}"


def _jwt_rows(results: dict[str, Any]) -> list[str]:
    jwt = results["jwt"]
    rows = [
        "| server | route | req/s | p50 ms | p99 ms | protected / hello | server µs/req | postgres µs/req |"
        " total µs/req | runs (req/s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key in JWT_SERVERS:
        hello = jwt[f"{key}_hello"]
        for route in ("hello", "private"):
            entry = jwt[f"{key}_{route}"]
            med = entry["median"]
            ratio = f"{med['rps'] / hello['median']['rps']:.2f}x" if route == "private" else ""
            rows.append(
                f"| {entry['label'].split(':')[0]} | `{entry['path']}` | {_fmt(med['rps'])} | {_fmt(med['p50_ms'], 2)} | "
                f"{_fmt(med['p99_ms'], 2)} | {ratio} | {_cpu_cells(med)} | "
                f"{', '.join(_fmt(r['rps']) for r in entry['runs'])} |"
            )
    return rows


def _db_rows(results: dict[str, Any]) -> list[str]:
    prot, c1 = results["protected"], results["c1"]
    floor = prot["floor"]["median"]
    rows = [
        "| server | connections | req/s | p50 ms | p99 ms | vs floor (req/s) | server µs/req | postgres µs/req |"
        " total µs/req | runs (req/s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key in C1_SERVERS:
        entry = prot[key]
        med = entry["median"]
        rows.append(
            f"| {entry['label']} | {results['settings']['connections']} | {_fmt(med['rps'])} | "
            f"{_fmt(med['p50_ms'], 2)} | {_fmt(med['p99_ms'], 2)} | {med['rps'] / floor['rps']:.2f}x | "
            f"{_cpu_cells(med)} | {', '.join(_fmt(r['rps']) for r in entry['runs'])} |"
        )
    c1_floor = c1["floor_c1"]["median"]
    for key in C1_SERVERS:
        entry = c1[f"{key}_c1"]
        med = entry["median"]
        rows.append(
            f"| {entry['label'].rsplit(',', 1)[0]} | 1 | {_fmt(med['rps'])} | {_fmt(med['p50_ms'], 3)} | "
            f"{_fmt(med['p99_ms'], 3)} | {med['rps'] / c1_floor['rps']:.2f}x | {_cpu_cells(med)} | "
            f"{', '.join(_fmt(r['rps']) for r in entry['runs'])} |"
        )
    return rows


def render_speed(results: dict[str, Any]) -> list[str]:
    if "jwt" not in results or "c1" not in results:
        return []
    s = results["settings"]
    lines = [
        "### The JWT strategy and the database path",
        "",
        'JWT strategy: each server is authgate\'s app with `strategy="jwt"` and one JWT codec; `/hello` is a'
        " plain Starlette route in the same app, `/api/private` the RequireAuth route; all six loaded with"
        f" wrk -c{s['connections']} -d{s['duration']:.0f}s in {s['runs']} interleaved round(s) with the same"
        " 256 session cookies (8 from the sign-in route, the rest issued by authgate's JWT strategy in the"
        " driver). CPU per request counts the server process only (no database is read).",
        "",
        *_jwt_rows(results),
        "",
        f"Database strategy, no cache of any kind: (b) batches the session checks that start in one event-loop"
        f" turn into one `token = ANY($1)` query, (b0) is the same app with one query per check (the store's"
        f" single-row lookup called directly, as before). -c{s['connections']} rows are from the session-check"
        " table above; -c1 rows from their own interleaved runs.",
        "",
        *_db_rows(results),
        "",
    ]
    return lines


def speed_targets(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    if "jwt" not in results or "c1" not in results:
        return []
    jwt, prot, c1 = results["jwt"], results["protected"], results["c1"]
    rows: list[tuple[str, str, bool | None]] = []
    hello, private = jwt["authgate_jwt_hello"]["median"], jwt["authgate_jwt_private"]["median"]
    ratio = private["rps"] / hello["rps"]
    rows.append((f"JWT strategy protected route >= {JWT_TARGET}x the same app's hello route", f"{ratio:.2f}x",
                 ratio >= JWT_TARGET))  # fmt: skip
    for key, what in (("authgate_jwt_lean", "codec on cryptography alone"), ("authgate_jwt_joserfc", "joserfc")):
        other = jwt[f"{key}_private"]["median"]["rps"] / jwt[f"{key}_hello"]["median"]["rps"]
        rows.append((f"... for comparison, with the {what} (not a target)", f"{other:.2f}x", None))
    per_hello, per_private = cpu_per_request(hello), cpu_per_request(private)
    if per_hello and per_private:
        ratio = per_hello["total_us"] / per_private["total_us"]
        rows.append(("(CPU) JWT hello CPU per request / protected route's", f"{ratio:.2f}x", ratio >= JWT_TARGET))
    floor, ag = prot["floor"]["median"], prot["authgate_pg"]["median"]
    ratio = ag["rps"] / floor["rps"]
    rows.append((f"database strategy, no cache, >= {DB_TARGET}x the one-query floor", f"{ratio:.2f}x",
                 ratio >= DB_TARGET))  # fmt: skip
    per_floor, per_ag = cpu_per_request(floor), cpu_per_request(ag)
    if per_floor and per_ag:
        ratio = per_floor["total_us"] / per_ag["total_us"]
        rows.append(("(CPU) floor CPU per request / batched authgate's (server + Postgres)", f"{ratio:.2f}x",
                     ratio >= DB_TARGET))  # fmt: skip
    rows.append(("... p99 at 32 connections no worse than the floor's",
                 f"{ag['p99_ms']:.2f} ms vs {floor['p99_ms']:.2f} ms", ag["p99_ms"] <= floor["p99_ms"]))  # fmt: skip
    now, then = c1["authgate_pg_c1"]["median"]["p50_ms"], c1["authgate_pg_nobatch_c1"]["median"]["p50_ms"]
    rows.append((f"... p50 at one connection no worse than one query per check (within {C1_P50_SLACK - 1:.0%})",
                 f"{now:.3f} ms vs {then:.3f} ms", now <= then * C1_P50_SLACK))  # fmt: skip
    return rows
