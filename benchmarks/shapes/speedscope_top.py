"""Summarise a py-spy speedscope profile: where the samples went, by function and by file.

Usage: ``python speedscope_top.py PROFILE.json [--top N]``. Prints, as Markdown,
xent's functions (below ``xent/cli.py``) with the most samples *including* their
callees, the functions of any module with the most samples of their *own* (the
leaf frame), and the own samples per source file. Percentages are of all samples
of all threads (py-spy samples only threads that are running Python code, idle
ones are left out unless it ran with --idle).
Frames are merged by function (name and file), whatever line was executing.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

IMPORT_FILES = ("<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>")


def short(path: str) -> str:
    for marker in ("site-packages/", "xent-snapshot/", "/src/"):
        if marker in path:
            return path.split(marker, 1)[1]
    match = re.search(r"lib/python3\.\d+/(.*)", path)
    return match.group(1) if match else Path(path).name or path


def summarise(path: Path, top: int = 15) -> str:
    data: dict[str, Any] = json.loads(Path(path).read_text())
    frames = data["shared"]["frames"]
    keys = [f"{f['name']} ({short(f.get('file') or '?')})" for f in frames]
    files = [short(f.get("file") or "?") for f in frames]
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    own_file: Counter[str] = Counter()
    total = 0.0
    imports = 0.0
    count = 0
    threads = []
    for profile in data["profiles"]:
        weight_sum = 0.0
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            weight_sum += weight
            if not stack:
                continue
            for key in {keys[i] for i in stack}:
                inclusive[key] += weight
            own[keys[stack[-1]]] += weight
            own_file[files[stack[-1]]] += weight
            if any(frames[i].get("file") in IMPORT_FILES for i in stack):
                imports += weight
        total += weight_sum
        count += len(profile["samples"])
        threads.append(f"{profile.get('name', '?').strip()}: {len(profile['samples'])}")
    if not total:
        return "(no samples)"

    def table(title: str, counter: Counter[str]) -> list[str]:
        lines = [f"| {title} | % of samples |", "|---|---|"]
        lines += [f"| `{k}` | {100 * v / total:.1f} |" for k, v in counter.most_common(top)]
        return lines

    # "With callees" lists xent's own functions below the command line layer (the
    # launcher, Typer and xent/cli.py wrap everything and would fill the table).
    ours = Counter(
        {k: v for k, v in inclusive.items() if "(xent/" in k and "(xent/cli.py)" not in k}
    )
    lines = [
        f"{count} samples ({', '.join(threads)}); {100 * imports / total:.1f}% inside imports.",
        "",
        *table("xent function, with callees", ours),
        "",
        *table("function, own time", own),
        "",
        *table("file, own time", own_file),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    print(summarise(args.profile, args.top))


if __name__ == "__main__":
    main()
