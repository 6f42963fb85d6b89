"""Summarise a py-spy `--format raw` (collapsed stacks) file: inclusive and self share per function.

python -m bench.profile bench-results/profile-authgate_pg.txt [--top 30] [--filter authgate]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path
from typing import Any

_LINE = re.compile(r"^(.*) (\d+)$")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::\d+)?\)$")


def _frame_name(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    file = match.group("file")
    for marker in ("site-packages/", "src/", "lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{match.group('func')} ({file})"


# Frames every sample passes through (process start-up, thread bootstrap): left out of the
# inclusive listing, where they would only push the interesting rows down.
_BOILERPLATE = (
    "(click/",
    "(<frozen runpy>)",
    "(uvicorn/main.py)",
    "(uvicorn/__main__.py)",
    "(uvicorn/server.py)",
    "(uvicorn/_compat.py)",
    "Runner.run (asyncio/runners.py)",
    "(threading.py)",
)


def _package(name: str) -> str:
    """`func (pkg/module.py)` -> `pkg`; the standard library's `asyncio/...` -> `asyncio`."""
    inside = name[name.rfind("(") + 1 : -1] if name.endswith(")") else name
    head = inside.split("/", 1)[0]
    return head.removesuffix(".py") or inside


def summarize(path: Path, top: int = 30, contains: str | None = None) -> dict[str, Any]:
    inclusive: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        count = int(match.group(2))
        frames = [_frame_name(f) for f in match.group(1).split(";") if f]
        if frames and frames[0].startswith(("process ", "thread ")):
            frames = frames[1:]
        if not frames:
            continue
        total += count
        for name in set(frames):
            inclusive[name] += count
        self_[frames[-1]] += count
        by_package[_package(frames[-1])] += count
    names = [
        n
        for n, _ in inclusive.most_common()
        if (contains is None or contains in n) and not any(b in n for b in _BOILERPLATE)
    ][:top]
    return {
        "samples": total,
        "top": [{"function": n, "inclusive": 100 * inclusive[n] / total, "self": 100 * self_[n] / total} for n in names]
        if total
        else [],
        "by_package": [{"package": n, "self": 100 * c / total} for n, c in by_package.most_common()] if total else [],
        "top_self": [{"function": n, "self": 100 * c / total} for n, c in self_.most_common(top)] if total else [],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--filter")
    args = parser.parse_args()
    result = summarize(args.file, args.top, args.filter)
    print(f"{result['samples']} samples (CPU, idle excluded)")
    print("\ninclusive  self  function")
    for row in result["top"]:
        print(f"{row['inclusive']:8.1f}% {row['self']:5.1f}%  {row['function']}")
    print("\nself time by package")
    for row in result["by_package"]:
        print(f"{row['self']:5.1f}%  {row['package']}")
    print("\nself  function")
    for row in result["top_self"]:
        print(f"{row['self']:5.1f}%  {row['function']}")


if __name__ == "__main__":
    main()
