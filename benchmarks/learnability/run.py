"""Does static pruning learn on all-MiniLM-L6-v2 within a CPU budget?

The study of issue 10: each named configuration below is one run of the
project's own pruning job (`smp_keras.api.prune`) on real data (the embedded
Rotten Tomatoes sentences and SNLI pairs) with the real all-MiniLM-L6-v2
checkpoint. Every run writes its full `metrics.json` (config, validation
learning curve, test metrics, zero-shot, magnitude-without-training and
majority-class baselines, kept weights, wall time) to
`benchmarks/results/learnability/<name>.json`; runs whose record exists are
skipped, so the script resumes. `--table` aggregates the records into
`benchmarks/results/learnability.md`.

Usage::

    KERAS_BACKEND=jax python benchmarks/learnability/run.py --only rt-zeros
    KERAS_BACKEND=jax python benchmarks/learnability/run.py      # all
    python benchmarks/learnability/run.py --table
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from typing import Any

import smpcore

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from record_io import write_record  # noqa: E402  (benchmarks/record_io.py)

ROOT = os.path.dirname(os.path.dirname(HERE))
RESULTS = os.path.join(ROOT, "benchmarks", "results", "learnability")
TABLE = os.path.join(ROOT, "benchmarks", "results", "learnability.md")

#: Shared by every run unless overridden: the demo's budget.
BASE: dict[str, Any] = {
    "model": "minilm",
    "task": "rotten_tomatoes",
    "method": "smp-s",
    "density": 0.1,
    "steps": 300,
    "batch_size": 32,
    "max_length": 64,
    "eval_every": 50,
    "eval_max_examples": 500,
    "seed": 0,
}

#: name -> (question it answers, overrides of BASE)
CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "rt-zeros-cls": (
        "the paper's setting: constant (zero) score init, [CLS] head",
        {"score_init": "zeros", "head": "embeddings", "pooling": "token"},
    ),
    "rt-magnitude-cls": (
        "magnitude score init, [CLS] head",
        {"score_init": "magnitude", "head": "embeddings", "pooling": "token"},
    ),
    "rt-magnitude-mean": (
        "magnitude score init, mean-pooled head",
        {"score_init": "magnitude", "head": "embeddings", "pooling": "mean"},
    ),
    "rt-magnitude-prototype": (
        "magnitude score init, prototype head (cosine, scale 20)",
        {"score_init": "magnitude", "head": "prototype", "pooling": "mean"},
    ),
    "rt-magnitude-cls-50": (
        "the best head at 50% remaining",
        {
            "score_init": "magnitude",
            "head": "embeddings",
            "pooling": "token",
            "density": 0.5,
        },
    ),
    "rt-magnitude-cls-smpl": (
        "SMP-L instead of SMP-S",
        {
            "score_init": "magnitude",
            "head": "embeddings",
            "pooling": "token",
            "method": "smp-l",
        },
    ),
    "snli-magnitude-cls": (
        "does it generalise to sentence pairs (SNLI)?",
        {
            "task": "snli",
            "score_init": "magnitude",
            "head": "embeddings",
            "pooling": "token",
        },
    ),
    "snli-magnitude-cls-50": (
        "SNLI at 50% remaining",
        {
            "task": "snli",
            "score_init": "magnitude",
            "head": "embeddings",
            "pooling": "token",
            "density": 0.5,
        },
    ),
    "snli-magnitude-cls-600": (
        "SNLI at 10%: does a doubled step budget close the gap?",
        {
            "task": "snli",
            "score_init": "magnitude",
            "head": "embeddings",
            "pooling": "token",
            "steps": 600,
        },
    ),
    "rt-magnitude-cls-lr05": (
        "a larger score learning rate (5e-2)",
        {
            "score_init": "magnitude",
            "head": "embeddings",
            "pooling": "token",
            "learning_rate": 0.05,
        },
    ),
    "rt-magnitude-cls-lr005": (
        "a smaller score learning rate (5e-3)",
        {
            "score_init": "magnitude",
            "head": "embeddings",
            "pooling": "token",
            "learning_rate": 0.005,
        },
    ),
    "snli-zeros-cls": (
        "the paper's setting on SNLI",
        {
            "task": "snli",
            "score_init": "zeros",
            "head": "embeddings",
            "pooling": "token",
        },
    ),
}


def run_one(name: str) -> None:
    """Runs configuration `name` unless its record exists."""
    path = os.path.join(RESULTS, f"{name}.json")
    if os.path.exists(path):
        print(f"{name}: done already ({path})")
        return
    import keras

    from smp_keras import __version__
    from smp_keras.api import PruneConfig, prune

    question, overrides = CONFIGS[name]
    settings = {**BASE, **overrides}
    out = os.path.join(ROOT, "runs", "learnability", name)
    config = PruneConfig(**settings, output_dir=out, overwrite=False)
    result = prune(config)
    with open(os.path.join(result.run_dir, "metrics.json")) as f:
        record = json.load(f)
    record["study"] = {
        "name": name,
        "question": question,
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "smp_keras": __version__,
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
    }
    write_record(path, record)
    print(f"{name}: {record['metrics']}")


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def table() -> str:
    """The Markdown table of every committed record."""
    rows = [
        "| run | question | task | method | remaining | head | score init "
        "| zero-shot | magnitude, no training | majority | after pruning "
        "| best val (step) | wall (min) |",
        "|" + "---|" * 13,
    ]
    for name in CONFIGS:
        path = os.path.join(RESULTS, f"{name}.json")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            r = json.load(f)
        c = r["config"]
        metric = next(iter(r["metrics"]))
        curve = [p for p in r["curve"] if metric in p.get("metrics", {})]
        best = max(curve, key=lambda p: p["metrics"][metric], default=None)
        best_txt = (
            "–"
            if best is None
            else f"{_fmt(best['metrics'][metric])} ({best['step']})"
        )
        rows.append(
            f"| {name} | {r['study']['question']} | {c['task']} "
            f"| {c['method']} | {100 * r['density']:.1f}% "
            f"| {c['head']}/{c['pooling']} | {c['score_init']} "
            f"| {_fmt(r['zero_shot'].get(metric))} "
            f"| {_fmt(r['magnitude'].get(metric))} "
            f"| {_fmt(r['majority'].get(metric))} "
            f"| **{_fmt(r['metrics'][metric])}** | {best_txt} "
            f"| {r['wall_time'] / 60:.1f} |"
        )
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", choices=sorted(CONFIGS))
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args(argv)
    if not args.table:
        for name in args.only or CONFIGS:
            run_one(name)
    text = table()
    os.makedirs(os.path.dirname(TABLE), exist_ok=True)
    smpcore.atomic_write(TABLE, lambda f: f.write(text.encode()))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
