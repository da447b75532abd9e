"""Training and evaluation throughput: padded to max_length vs buckets.

Issue 17: every example used to be padded to `max_length` (64 tokens),
while Rotten Tomatoes and SNLI examples average about 27 tokens. This
measures, side by side in one process on the real all-MiniLM-L6-v2 at 10%
remaining weights (SMP-S), the job's own training chunks (`fit` over the
job's batches, scheduler callbacks included) and its evaluation:

- ``max_length``: every batch padded to `max_length`;
- ``buckets``: each batch cut to the smallest of 4 bucket lengths that
  holds it (same batches, same results up to float rounding);
- ``buckets+group``: buckets with ``group_by_length`` (batches of similar
  lengths: different batches).

Compilation is excluded: each mode first trains one step per bucket
length it will meet. Steps per second are medians over `--repeats`
interleaved timings.

Usage::

    KERAS_BACKEND=jax python benchmarks/bench_padding.py \\
        --out benchmarks/results/padding_jax.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from typing import Any

MODES = {
    "max_length": {"padding": "max_length"},
    "buckets": {"padding": "buckets"},
    "buckets+group": {"padding": "buckets", "group_by_length": True},
}


def _job(task: str, steps: int, settings: dict[str, Any]) -> Any:
    from smp_keras.pruning.config import PruneConfig
    from smp_keras.pruning.train import PruneJob

    config = PruneConfig(
        task=task,
        steps=steps,
        head="embeddings",
        eval_max_examples=500,
        **settings,
    )
    job = PruneJob(config, quiet=True)
    job.load()
    job._callbacks = job.callbacks()
    return job


def _warm(job: Any, steps: int) -> None:
    """Compiles every batch shape the timed steps will meet."""
    from smp_keras.pruning.data import bucket_of, example_lengths

    if job.buckets is None:
        job.fit_chunk(0, 1, [])
        return
    lengths = example_lengths(job.data.train.inputs)
    seen: dict[int, int] = {}
    rows = job.batch_rows(0, steps)
    for step, batch in enumerate(rows):
        seen.setdefault(bucket_of(int(lengths[batch].max()), job.buckets), step)
    for step in sorted(seen.values()):
        job.fit_chunk(step, step + 1, [])
    job.score(job.data.curve)


def measure(task: str, steps: int, repeats: int) -> dict[str, Any]:
    jobs = {name: _job(task, 10 * steps, s) for name, s in MODES.items()}
    for job in jobs.values():
        _warm(job, 10 * steps)
    train: dict[str, list[float]] = {name: [] for name in jobs}
    evaluate: dict[str, list[float]] = {name: [] for name in jobs}
    for r in range(repeats):
        start = steps * (r + 1)  # the same steps in every mode
        for name, job in jobs.items():
            began = time.perf_counter()
            job.fit_chunk(start, start + steps, [])
            train[name].append(steps / (time.perf_counter() - began))
            began = time.perf_counter()
            job.score(job.data.curve)
            evaluate[name].append(
                job.data.curve.size / (time.perf_counter() - began)
            )
    base_train = statistics.median(train["max_length"])
    base_eval = statistics.median(evaluate["max_length"])
    return {
        name: {
            "train_steps_per_s": statistics.median(train[name]),
            "train_speedup": statistics.median(train[name]) / base_train,
            "eval_examples_per_s": statistics.median(evaluate[name]),
            "eval_speedup": statistics.median(evaluate[name]) / base_eval,
            "train_runs": train[name],
            "eval_runs": evaluate[name],
            "buckets": list(jobs[name].buckets or []),
        }
        for name in jobs
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="JSON results file")
    parser.add_argument(
        "--tasks", nargs="+", default=["rotten_tomatoes", "snli"]
    )
    parser.add_argument("--steps", type=int, default=20, help="per timing")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.repeats < 1:
        parser.error(
            "--steps and --repeats must be >= 1. Received: "
            f"--steps={args.steps}, --repeats={args.repeats}"
        )
    import keras

    import smpcore

    results = {
        "benchmark": "padding",
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "model": "all-MiniLM-L6-v2, SMP-S at 10%, batch 32, max_length 64",
        "steps_per_timing": args.steps,
        "repeats": args.repeats,
        "tasks": {t: measure(t, args.steps, args.repeats) for t in args.tasks},
    }
    text = json.dumps(results, indent=1, sort_keys=True) + "\n"
    smpcore.atomic_write(args.out, lambda f: f.write(text.encode()))
    for task, modes in results["tasks"].items():
        for name, row in modes.items():
            print(
                f"{task:16s} {name:14s} train {row['train_steps_per_s']:.3f} "
                f"steps/s ({row['train_speedup']:.2f}x)  eval "
                f"{row['eval_examples_per_s']:.0f} ex/s "
                f"({row['eval_speedup']:.2f}x)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
