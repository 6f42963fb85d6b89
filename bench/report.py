"""The results as Markdown: the section of docs/benchmarks.md between the markers, and latest.md."""

from __future__ import annotations

from typing import Any

from bench.cpu import cpu_per_request
from bench.report_speed import render_speed
from bench.report_targets import render_targets, session_ratios
from bench.settings import DOCS, DOCS_END, DOCS_START, PLOT, TOKEN_SAMPLE


def fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _session_check(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    s = results["settings"]
    prot = results["protected"]
    lines: list[str] = []
    add = lines.append
    add(
        f"Run {results['started']} .. {results['finished']}. Command: `{results.get('command', 'scripts/bench')}`"
        + (" (quick smoke settings: not comparable)" if s["quick"] else "")
        + "."
    )
    add("")
    add(
        f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory']} RAM, {m['os']}; Python {m['python']}; "
        f"PostgreSQL {m['postgres']}, Redis {m.get('redis', '-')}, the servers and wrk all on this one machine; "
        f"SQLite {m['sqlite']}; {m['wrk']}."
    )
    add("")
    add(
        f"Versions (bench/envs/authgate.txt): {m['packages']}; fastapi-users' environment (bench/envs/"
        f"fastapi-users.txt): {m.get('fau_packages', '-')}; {m.get('node', 'Node -')}."
    )
    add("")
    add(f"### Session check, {s['base_users']:,} users")
    add("")
    add(
        f"wrk -t1 -c{s['connections']} -d{s['duration']:.0f}s, {s['warmup']:.0f} s warm-up, median of {s['runs']} "
        f"interleaved runs; each server one process (one uvicorn worker; Better Auth one Node process); "
        f"{TOKEN_SAMPLE} distinct sessions per server. `/api/private` answers `hello <email>`; "
        "`/api/auth/session` and Better Auth's `/api/auth/get-session` answer the session and user as JSON."
    )
    add("")
    add("| server | path | req/s | p50 ms | p99 ms | vs floor | errors | runs (req/s) |")
    add("|---|---|---:|---:|---:|---:|---:|---|")
    floor_rps = prot["floor"]["median"]["rps"]
    for entry in prot.values():
        med = entry["median"]
        add(
            f"| {entry['label']} | `{entry.get('path', '/api/private')}` | {fmt(med['rps'])} | "
            f"{fmt(med['p50_ms'], 2)} | {fmt(med['p99_ms'], 2)} | {med['rps'] / floor_rps:.2f}x | {med['errors']} | "
            f"{', '.join(fmt(r['rps']) for r in entry['runs'])} |"
        )
    add("")
    add(f"![req/s and p99 per system]({PLOT.name})")
    add("")
    ratios = [(name, value) for name, value, _ in session_ratios(prot)]
    add("| ratio (req/s) | value |")
    add("|---|---:|")
    for name, value in ratios:
        add(f"| {name} | {value:.2f}x |")
    add("")
    add("")
    return lines


def _signin(results: dict[str, Any]) -> list[str]:
    s = results["settings"]
    lines: list[str] = []
    add = lines.append
    sign = results["signin"]
    flood = results["session_flood"]
    add("### Sign-in and `/session` under a sign-in flood (authgate, Postgres)")
    add("")
    add("| measurement | value |")
    add("|---|---:|")
    before, after = sign["raw_argon2_before_after"]
    add(
        f"| raw argon2id verify rate, t=2 m=19456 KiB p=1, 2 threads in one process (mean of before / after) | "
        f"{fmt(sign['raw_argon2_per_s'], 1)}/s ({fmt(before, 1)} / {fmt(after, 1)}) |"
    )
    add(
        f"| sign-in throughput (wrk -c{s['signin_connections']}, {s['signin_duration']:.0f} s, "
        f"POST /api/auth/sign-in) | {fmt(sign['authgate']['rps'], 1)}/s (p99 {fmt(sign['authgate']['p99_ms'])} ms, "
        f"errors {sign['authgate']['errors']}) |"
    )
    add(f"| sign-in / raw argon2id | {sign['ratio']:.2f}x |")
    for mode, entry in flood.items():
        what = (
            "saturating, wrk -c{c}"
            if mode == "saturating"
            else "paced, wrk -c{c} with " + str(s["paced_delay_ms"]) + " ms between requests"
        ).format(c=entry["connections"])
        add(f"| `/session` p99 idle ({what}) | {fmt(entry['idle']['p99_ms'], 2)} ms at {fmt(entry['idle']['rps'])}/s |")
        add(
            f"| `/session` p99 during the sign-in flood ({what}) | {fmt(entry['during']['p99_ms'], 2)} ms at "
            f"{fmt(entry['during']['rps'])}/s; flood {fmt(entry['flood_signin']['rps'], 1)} sign-ins/s |"
        )
        add(f"| ratio during / idle ({mode}) | {entry['p99_ratio']:.2f}x |")
    add("")
    return lines


def _scale(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    add = lines.append
    sc = results["scale"]
    small, large = sc["small"], sc["large"]
    add(f"### {small['users']:,} vs {large['users']:,} users (authgate, Postgres)")
    add("")
    add(
        f"Growing the tables by {large['users'] - small['users']:,} users and as many sessions took "
        f"{sc['seed_seconds']:.0f} s (generate_series)."
    )
    add("")
    add(
        "| users (sessions stored) | session check req/s | p50 ms | p99 ms | server+Postgres CPU µs/check "
        "| sign-ins/s | sign-in p99 ms |"
    )
    add("|---|---:|---:|---:|---:|---:|---:|")
    for point in (small, large):
        per = cpu_per_request(point["protected"])
        add(
            f"| {point['users']:,} ({point['sessions']:,}) | {fmt(point['protected']['rps'])} | "
            f"{fmt(point['protected']['p50_ms'], 2)} | {fmt(point['protected']['p99_ms'], 2)} | "
            f"{fmt(per['total_us']) if per else '-'} | {fmt(point['signin']['rps'], 1)} | "
            f"{fmt(point['signin']['p99_ms'])} |"
        )
    per_small, per_large = cpu_per_request(small["protected"]), cpu_per_request(large["protected"])
    add(
        f"| large / small | {large['protected']['rps'] / small['protected']['rps']:.2f}x | "
        f"{large['protected']['p50_ms'] / small['protected']['p50_ms']:.2f}x | "
        f"{large['protected']['p99_ms'] / small['protected']['p99_ms']:.2f}x | "
        + (f"{per_large['total_us'] / per_small['total_us']:.2f}x" if per_small and per_large else "-")
        + f" | {large['signin']['rps'] / small['signin']['rps']:.2f}x | |"
    )
    add("")
    add(f"Plans at {large['users']:,} users:")
    add("")
    add("```")
    add(large["plans"]["session"])
    add("")
    add(large["plans"]["credentials"])
    if "sessions_batch" in large["plans"]:  # the batched session check, for 16 tokens
        add("")
        add(large["plans"]["sessions_batch"])
    add("```")
    add("")
    return lines


def _cleanup(results: dict[str, Any]) -> list[str]:
    s = results["settings"]
    lines: list[str] = []
    add = lines.append
    c = results["cleanup"]
    add(f"### Cleanup of {c['expired']:,} expired sessions under load")
    add("")
    add(
        f"`auth.cleanup_expired_sessions()` (batches of 1000, `FOR UPDATE SKIP LOCKED`) from a second process "
        f"while wrk -c{s['connections']} loads the protected route for {s['cleanup_wrk_duration']:.0f} s "
        f"(the cleanup covers {c['window_fraction'] * 100:.0f}% of that window)."
    )
    add("")
    add("| measurement | value |")
    add("|---|---:|")
    add(f"| deleted / time | {c['deleted']:,} in {c['seconds']:.2f} s; {c['remaining_expired']} expired left |")
    add(
        f"| protected p99 idle / during cleanup | {fmt(c['idle']['p99_ms'], 2)} ms / {fmt(c['during']['p99_ms'], 2)} ms "
        f"({c['p99_ratio']:.2f}x); max {fmt(c['during']['max_ms'], 1)} ms |"
    )
    add(f"| protected req/s idle / during cleanup | {fmt(c['idle']['rps'])} / {fmt(c['during']['rps'])} |")
    add(f"| errors during cleanup | {c['during']['errors']} |")
    add(
        f"| pg_stat_activity samples (every 10 ms) with a backend waiting on a lock the cleanup holds | "
        f"{c['locks']['blocked_by_cleanup']} of {c['locks']['samples']} |"
    )
    add(
        f"| ... with any lock wait in the database, from anyone (context: the server may be shared) | "
        f"{c['locks']['any_lock_wait']} of {c['locks']['samples']} |"
    )
    if c["locks"]["examples"]:
        add(f"| waits on the cleanup's locks | {'; '.join(c['locks']['examples'])} |")
    add("")
    return lines


def _cpu(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    prot = results["protected"]
    lines: list[str] = []
    add = lines.append
    sign, flood, c = results["signin"], results["session_flood"], results["cleanup"]
    small, large = results["scale"]["small"], results["scale"]["large"]
    add("### Where the CPU went (average cores busy, of " + m["cpus"] + ")")
    add("")
    add(
        "From /proc during each measurement: the server's event-loop thread, its other threads (authgate's"
        " hash pool, aiosqlite's thread, FastAPI's threadpool; Node's helper threads), all Postgres backends,"
        " Redis, wrk, and everything else on the machine (`other`: processes that are not part of this benchmark)."
    )
    add("")
    add("| measurement | busy | server loop | server threads | postgres | redis | wrk | other |")
    add("|---|---:|---:|---:|---:|---:|---:|---:|")
    cpu_rows: list[tuple[str, dict[str, float] | None]] = [
        (f"protected, {entry['label']}", entry["median"].get("cpu")) for entry in prot.values()
    ]
    cpu_rows.append(("sign-in flood alone", sign["authgate"].get("cpu")))
    for mode, entry in flood.items():
        cpu_rows.append((f"`/session` {mode}, idle", entry["idle"].get("cpu")))
        cpu_rows.append((f"`/session` {mode}, during sign-in flood", entry["during"].get("cpu")))
    cpu_rows.append(("protected, before cleanup", c["idle"].get("cpu")))
    cpu_rows.append(("protected, during cleanup", c["during"].get("cpu")))
    for name, cpu in cpu_rows:
        if cpu:
            add(
                f"| {name} | {cpu['busy']:.2f} | {cpu['server_loop']:.2f} | {cpu['server_threads']:.2f} | "
                f"{cpu['postgres']:.2f} | {cpu.get('redis', 0.0):.2f} | {cpu['wrk']:.2f} | {cpu['other']:.2f} |"
            )
    add("")
    add("CPU per request (microseconds; server = all its threads), robust to other load on the host:")
    add("")
    add("| measurement | req/s | server µs/req | postgres µs/req | redis µs/req | total µs/req |")
    add("|---|---:|---:|---:|---:|---:|")
    per_request_rows: list[tuple[str, dict[str, Any]]] = [
        (f"protected, {entry['label']}", entry["median"]) for entry in prot.values()
    ]
    per_request_rows += [
        (f"protected, authgate Postgres, {small['users']:,} users", small["protected"]),
        (f"protected, authgate Postgres, {large['users']:,} users", large["protected"]),
        ("sign-in, authgate Postgres", sign["authgate"]),
        (f"sign-in, {small['users']:,} users", small["signin"]),
        (f"sign-in, {large['users']:,} users", large["signin"]),
    ]
    for name, result in per_request_rows:
        per = cpu_per_request(result)
        if per:
            add(
                f"| {name} | {fmt(result['rps'], 1 if result['rps'] < 100 else 0)} | {fmt(per['server_us'])} | "
                f"{fmt(per['postgres_us'])} | {fmt(per['redis_us'])} | {fmt(per['total_us'])} |"
            )
    if sign.get("raw_argon2_cpu_ms"):
        add(f"| raw argon2id verify (thread CPU time) | | {fmt(sign['raw_argon2_cpu_ms'] * 1000)} | | | |")
    add("")
    noisy = [name for name, cpu in cpu_rows if cpu and cpu["other"] > 0.3]
    if noisy:
        add(
            f"**Noisy host**: in {len(noisy)} of {len(cpu_rows)} measurements other processes used more than 0.3"
            f" cores ({', '.join(noisy)}); the driver waited {results.get('quiet_wait_seconds', 0)} s in all for"
            " quiet. Treat those rows with care, or run again on a quiet machine."
        )
        add("")
    return lines


def _profiles(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    add = lines.append
    for name, prof in (results.get("profile") or {}).items():
        add(f"### Profile: authgate {name} (py-spy, {prof['samples']} CPU samples, idle excluded, all threads)")
        add("")
        add("| function | inclusive | self |")
        add("|---|---:|---:|")
        for row in prof["top"]:
            add(f"| `{row['function']}` | {row['inclusive']:.1f}% | {row['self']:.1f}% |")
        add("")
        add("| self time by package | self |")
        add("|---|---:|")
        for row in prof["by_package"][:12]:
            add(f"| {row['package']} | {row['self']:.1f}% |")
        add("")
        add("| top self time | self |")
        add("|---|---:|")
        for row in prof["top_self"][:15]:
            add(f"| `{row['function']}` | {row['self']:.1f}% |")
        add("")
    return lines


def render(results: dict[str, Any]) -> str:
    lines: list[str] = []
    for section in (_session_check, render_speed, _signin, _scale, _cleanup, _cpu, render_targets, _profiles):
        lines += section(results)
    return "\n".join(lines)


def update_docs(markdown: str) -> None:
    text = DOCS.read_text() if DOCS.exists() else ""
    if DOCS_START in text and DOCS_END in text:
        head, _, rest = text.partition(DOCS_START)
        _, _, tail = rest.partition(DOCS_END)
        text = f"{head}{DOCS_START}\n{markdown}\n{DOCS_END}{tail}"
    else:
        text = f"{text.rstrip()}\n\n## Latest results\n\n{DOCS_START}\n{markdown}\n{DOCS_END}\n"
    DOCS.write_text(text)
