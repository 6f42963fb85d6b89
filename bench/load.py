"""Load generation with wrk: scripts that cycle through prepared requests, and their results."""

# A driver script: a blocking open() or Popen() between load runs costs nothing that is measured.
# ruff: noqa: ASYNC230

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.cpu import cpu_snapshot, cpu_usage
from bench.servers import Server
from bench.settings import RAW, log


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # socket errors + non-2xx/3xx answers
    non2xx: int
    cpu: dict[str, float] | None = None

    @classmethod
    def median(cls, runs: list[WrkResult]) -> WrkResult:
        med = statistics.median
        return cls(
            requests=int(med([r.requests for r in runs])),
            seconds=med([r.seconds for r in runs]),
            rps=med([r.rps for r in runs]),
            p50_ms=med([r.p50_ms for r in runs]),
            p90_ms=med([r.p90_ms for r in runs]),
            p99_ms=med([r.p99_ms for r in runs]),
            max_ms=max(r.max_ms for r in runs),
            errors=sum(r.errors for r in runs),
            non2xx=sum(r.non2xx for r in runs),
            cpu=_mean_cpu([r.cpu for r in runs if r.cpu]),
        )


def _mean_cpu(samples: list[dict[str, float]]) -> dict[str, float] | None:
    if not samples:
        return None
    return {k: round(statistics.fmean(s[k] for s in samples), 2) for k in samples[0]}


LUA_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%.0f,"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,"max_us":%.0f,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal for ASCII


def write_lua(name: str, requests: Sequence[tuple[str, str, dict[str, str], str | None]], delay_ms: int = 0) -> Path:
    """A wrk script that cycles through pre-formatted requests (formatted once, in init)."""
    lines = ["local specs = {"]
    for method, path, headers, body in requests:
        hdrs = ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items())
        lines.append(
            f"  {{{lua_string(method)}, {lua_string(path)}, {{{hdrs}}}, "
            f"{lua_string(body) if body is not None else 'nil'}}},"
        )
    lines.append("}")
    lines.append(r"""
local reqs = {}
local i = 0
init = function(args)
  for k, s in ipairs(specs) do reqs[k] = wrk.format(s[1], s[2], s[3], s[4]) end
  i = math.random(#reqs) - 1
end
request = function()
  i = i % #reqs + 1
  return reqs[i]
end
""")
    if delay_ms:
        lines.append(f"delay = function() return {delay_ms} end\n")
    lines.append(LUA_DONE)
    path = RAW / f"{name}.lua"
    path.write_text("\n".join(lines))
    return path


async def wrk(
    url: str, script: Path, *, duration: float, connections: int, label: str, server: Server | None = None
) -> WrkResult:
    """One wrk run; with `server`, also where the CPU went meanwhile (see cpu_usage)."""
    pid = server.proc.pid if server is not None and server.proc is not None else None
    cmd = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    cpu = None
    try:
        communicate = asyncio.ensure_future(proc.communicate())
        if server is not None and duration >= 2:
            # CPU over the middle of the run, while wrk is alive (an exited process's time is gone).
            await asyncio.sleep(0.4)
            before = cpu_snapshot(pid)
            await asyncio.sleep(duration - 0.8)
            cpu = cpu_usage(before, cpu_snapshot(pid))
        out, err = await asyncio.wait_for(communicate, timeout=duration + 60)
    except TimeoutError:
        proc.kill()
        raise
    text = out.decode() + err.decode()
    with open(RAW / "wrk.log", "a") as fh:
        fh.write(f"==== {label}: {' '.join(cmd)}\n{text}\n")
    match = re.search(r"BENCHJSON (\{.*\})", text)
    if proc.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed for {label}:\n{text}")
    data = json.loads(match.group(1))
    seconds = data["duration_us"] / 1e6
    socket_errors = data["connect"] + data["read"] + data["write"] + data["timeout"]
    return WrkResult(
        requests=data["requests"],
        seconds=seconds,
        rps=data["requests"] / seconds,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        errors=socket_errors + data["status"],
        non2xx=data["status"],
        cpu=cpu,
    )


def ensure_wrk() -> str:
    if shutil.which("wrk") is None:
        log("wrk not found: installing it with apt-get")
        apt = ["apt-get"] if os.geteuid() == 0 else ["sudo", "apt-get"]
        subprocess.run([*apt, "update", "-qq"], check=True)
        subprocess.run([*apt, "-o", "DPkg::Lock::Timeout=600", "install", "-y", "-qq", "wrk"], check=True)
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return (out.stdout + out.stderr).splitlines()[0].strip()
