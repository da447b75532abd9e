"""Reliability counts: what the reliability tests tried, per backend.

Reads ``benchmarks/results/reliability/<backend>.json`` (written by
``make reliability``: the tests under ``tests/reliability`` with
``SMP_RELIABILITY_COUNTS`` set) and writes
``benchmarks/results/reliability/counts.md``, which the docs' Reliability
page includes.

Usage::

    make reliability            # runs the tests, then this script
    python benchmarks/reliability_report.py
"""

from __future__ import annotations

import collections
import glob
import json
import os

import smpcore

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDER = os.path.join(ROOT, "benchmarks", "results", "reliability")
BACKENDS = ("tensorflow", "jax", "torch")


def load() -> dict[str, dict]:
    out = {}
    for path in sorted(glob.glob(os.path.join(FOLDER, "*.json"))):
        with open(path) as f:
            data = json.load(f)
        out[data["backend"]] = data["tests"]
    return out


def _file_of(test_id: str) -> str:
    return test_id.split("::")[0].rsplit("/", 1)[-1]


def report(results: dict[str, dict]) -> str:
    backends = [b for b in BACKENDS if b in results]
    kinds = sorted(
        {
            k
            for tests in results.values()
            for t in tests.values()
            for k in t["counts"]
        }
    )
    files = sorted({_file_of(t) for tests in results.values() for t in tests})
    lines = [
        "| test file | count | " + " | ".join(backends) + " |",
        "|---|---|" + "---|" * len(backends),
    ]
    totals: dict[tuple[str, str], int] = collections.Counter()
    outcomes: dict[str, collections.Counter] = {
        b: collections.Counter() for b in backends
    }
    for backend in backends:
        for test in results[backend].values():
            outcomes[backend][test["outcome"]] += 1
    for name in files:
        for kind in kinds:
            cells = []
            for backend in backends:
                n = sum(
                    t["counts"].get(kind, 0)
                    for tid, t in results[backend].items()
                    if _file_of(tid) == name
                )
                totals[(backend, kind)] += n
                cells.append(f"{n:,}" if n else "–")
            if any(c != "–" for c in cells):
                lines.append(
                    f"| `{name}` | {kind} | " + " | ".join(cells) + " |"
                )
    for kind in kinds:
        lines.append(
            f"| **all** | **{kind}** | "
            + " | ".join(f"**{totals[(b, kind)]:,}**" for b in backends)
            + " |"
        )
    lines.append(
        "| **tests** | passed / other | "
        + " | ".join(
            f"{outcomes[b]['passed']} / "
            f"{sum(outcomes[b].values()) - outcomes[b]['passed']}"
            for b in backends
        )
        + " |"
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    results = load()
    if not results:
        raise SystemExit(
            f"No counts under {FOLDER!r}: run `make reliability` first."
        )
    text = report(results)
    path = os.path.join(FOLDER, "counts.md")
    smpcore.atomic_write(path, lambda f: f.write(text.encode()))
    print(text)


if __name__ == "__main__":
    main()
