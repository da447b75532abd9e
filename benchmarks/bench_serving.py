"""Serving a pruned model: dense against compact against sparse (issue 20).

Usage::

    python benchmarks/bench_serving.py --backend torch \\
        --run runs/recipe/rt-smp-s-10-decay-300-s0 \\
        --run runs/recipe/rt-smp-s-3-decay-300-s0 \\
        --out benchmarks/results/serving_torch.json

For each finished run of the job (a real all-MiniLM-L6-v2 run: its masks
and its task head), three ``.keras`` files are exported the way a user
would (`smp_keras.api.export`):

- ``dense``: the masks baked into standard layers (``smp export --keras``);
- ``compact``: the dead neurons and heads removed (``--compact``);
- ``sparse``: compact, and every matrix under the backend's sparse
  crossover stored sparse (``--sparse``, `smp_keras.layers.SparseDense`).

Each file is then loaded in a fresh process (so that its memory is its
own) and timed with ``model.predict_on_batch``: latency at batch 1 and
throughput at batch 32, 128 tokens per example; the process reports its
peak resident memory, the resident memory that loading and running the
model added (without the frameworks' import), and its logits on a fixed
batch. The variants are timed one after the other in one run, twice,
interleaved (dense, compact, sparse, dense, ...), and the medians are
compared.

Accuracy: each exported model scores the run's test split (the job's
encoding and sample), and the record says whether this equals the run's
``metrics.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("dense", "compact", "sparse")
LENGTH = 128


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backend", choices=("torch", "tensorflow", "jax"), required=True
    )
    parser.add_argument("--run", action="append", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# === The child: one model file, timed ===


def _inputs(model: Any, batch: int, seed: int) -> dict:
    import numpy as np

    rng = np.random.default_rng(seed)
    x = {
        "token_ids": rng.integers(1000, 20000, (batch, LENGTH)).astype("int32"),
        "segment_ids": np.zeros((batch, LENGTH), "int32"),
        "padding_mask": np.ones((batch, LENGTH), "int32"),
    }
    x["token_ids"][:, 0] = 101  # [CLS]
    if any(t.name.startswith("mask_positions") for t in model.inputs):
        x["mask_positions"] = np.full((batch,), 1, "int32")
    return x


def _rss_mib(field: str = "VmRSS") -> float:
    """This process's resident memory now (``VmRSS``) or at its peak
    (``VmHWM``), MiB (Linux). The peak is read here, not from
    `resource.getrusage`: a child's ``ru_maxrss`` keeps the parent's
    resident size at the fork, so every child would report the parent's."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(path: str, seconds: float) -> dict:
    import keras
    import numpy as np

    import smp_keras.layers  # noqa: F401  (registers SparseDense)

    before = _rss_mib()
    began = time.perf_counter()
    model = keras.saving.load_model(path)
    load_s = time.perf_counter() - began
    fixed = _inputs(model, 4, 0)
    logits = np.asarray(
        keras.ops.convert_to_numpy(model.predict_on_batch(fixed))
    )
    out = {"load_s": load_s, "logits": logits.tolist()}
    for name, batch in (("batch1", 1), ("batch32", 32)):
        x = _inputs(model, batch, 1)
        for _ in range(2):
            model.predict_on_batch(x)  # compile + warm-up
        times = []
        start = time.perf_counter()
        while len(times) < 5 or (
            time.perf_counter() - start < seconds and len(times) < 200
        ):
            t = time.perf_counter()
            model.predict_on_batch(x)
            times.append(time.perf_counter() - t)
        out[name] = times
    out["peak_rss_mib"] = _rss_mib("VmHWM")
    # What serving the model added: its weights and activations, without
    # the frameworks' import (which dominates the peak).
    out["model_rss_mib"] = _rss_mib() - before
    return out


# === The parent: export, time, compare ===


def _export(run: str, folder: str) -> dict[str, str]:
    from smp_keras.api import export

    paths = {}
    for variant in VARIANTS:
        path = os.path.join(folder, f"{variant}.keras")
        export(
            run,
            keras_path=path,
            compact=variant != "dense",
            sparse=variant == "sparse",
        )
        paths[variant] = path
    return paths


def accuracy_check(run: str, paths: dict[str, str]) -> dict[str, Any]:
    """The metrics of each exported file on the split the run's
    ``metrics.json`` was scored on (the job's encoding and sample), and
    whether they all equal the run's (``"equal"``)."""
    import keras

    from smp_keras.api import load_pruned_model
    from smp_keras.data import load_task_data
    from smp_keras.pruning import run_dir as rd
    from smp_keras.pruning.data import (
        bucket_lengths,
        encode_split,
        sample_rows,
    )
    from smp_keras.pruning.metrics import score_split

    config = rd.run_config_of(run)
    _, spec, tokenizer, _ = load_pruned_model(run)
    with open(os.path.join(run, "metrics.json")) as f:
        metrics = json.load(f)
    recorded, name = metrics["metrics"], metrics["eval_split"]
    rows = load_task_data(
        spec,
        data_files=config.data_files,
        columns=config.columns,
        split=name,
    )
    rows = sample_rows(rows, config.test_max_examples)
    split = encode_split(spec, tokenizer, rows, name, config.max_length)
    out: dict[str, Any] = {"run_metrics": recorded, "examples": len(rows)}
    for variant, path in paths.items():
        model = keras.saving.load_model(path)
        metrics = score_split(
            model, spec, split, buckets=bucket_lengths(config.max_length)
        )
        out[variant] = metrics
    out["equal"] = all(
        abs(out[v][k] - recorded[k]) < 1e-9 for v in paths for k in recorded
    )
    return out


def _run_child(backend: str, path: str, seconds: float) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.NamedTemporaryFile(suffix=".json") as handle:
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--backend",
                backend,
                "--run",
                "-",
                "--out",
                handle.name,
                "--seconds",
                str(seconds),
                "--child",
                path,
                handle.name,
            ],
            check=True,
            env=env,
        )
        with open(handle.name) as f:
            return json.load(f)


def bench_run(backend: str, run: str, seconds: float, rounds: int) -> dict:
    import numpy as np

    from smp_keras.layers import SPARSE_MAX_DENSITY

    with open(os.path.join(run, "metrics.json")) as f:
        density = json.load(f)["density"]
    with tempfile.TemporaryDirectory() as folder:
        paths = _export(run, folder)
        sizes = {v: os.path.getsize(p) for v, p in paths.items()}
        accuracy = accuracy_check(run, paths)
        samples: dict[str, list[dict]] = {v: [] for v in VARIANTS}
        for _ in range(rounds):
            for variant in VARIANTS:
                samples[variant].append(
                    _run_child(backend, paths[variant], seconds)
                )
    result: dict[str, Any] = {
        "run": os.path.relpath(run, ROOT),
        "density": density,
        "sparse_max_density": SPARSE_MAX_DENSITY[backend],
        "accuracy": accuracy,
        "variants": {},
    }
    reference = np.asarray(samples["dense"][0]["logits"])
    for variant in VARIANTS:
        runs = samples[variant]
        latency = statistics.median(t for r in runs for t in r["batch1"])
        step32 = statistics.median(t for r in runs for t in r["batch32"])
        logits = np.asarray(runs[0]["logits"])
        result["variants"][variant] = {
            "file_mib": round(sizes[variant] / 2**20, 2),
            "latency_ms": round(1e3 * latency, 2),
            "throughput_per_s": round(32 / step32, 2),
            "peak_rss_mib": round(max(r["peak_rss_mib"] for r in runs), 1),
            "model_rss_mib": round(
                statistics.median(r["model_rss_mib"] for r in runs), 1
            ),
            "load_s": round(statistics.median(r["load_s"] for r in runs), 2),
            "max_abs_logit_difference": float(np.abs(logits - reference).max()),
            "same_predictions": bool(
                (logits.argmax(-1) == reference.argmax(-1)).all()
            ),
        }
    dense = result["variants"]["dense"]
    for variant in VARIANTS:
        row = result["variants"][variant]
        row["latency_speedup"] = round(
            dense["latency_ms"] / row["latency_ms"], 3
        )
        row["throughput_speedup"] = round(
            row["throughput_per_s"] / dense["throughput_per_s"], 3
        )
    return result


def summary(result: dict) -> str:
    lines = [
        f"## Serving on {result['environment']['backend']}",
        "",
        "| run | kept | variant | file MiB | latency ms (batch 1) | "
        "speed-up | examples/s (batch 32) | speed-up | model RSS MiB | "
        "same predictions | test accuracy = run's |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        for variant, row in run["variants"].items():
            lines.append(
                f"| {os.path.basename(run['run'])} | "
                f"{100 * run['density']:.1f}% | {variant} | "
                f"{row['file_mib']} | {row['latency_ms']} | "
                f"{row['latency_speedup']}x | {row['throughput_per_s']} | "
                f"{row['throughput_speedup']}x | {row['model_rss_mib']} | "
                f"{row['same_predictions']} | {run['accuracy']['equal']} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))

    if args.child:
        path, out = args.child
        data = child(path, args.seconds)
        Path(out).write_text(json.dumps(data))
        return
    from record_io import environment, write_json

    load = os.getloadavg()[0]
    if load > 0.5:
        # Measured here: with one training job on the other core, PyTorch's
        # batch-1 latency grew from about 30 ms to 1.1 s (its thread pool
        # waits on a busy core), and the ratios moved with it.
        print(
            f"warning: the machine is busy (load average {load:.1f}); "
            "other processes compete for the cores and the timings are not "
            "comparable with a quiet run's",
            file=sys.stderr,
        )
    result = {
        "environment": environment(args.backend),
        "settings": {
            "length": LENGTH,
            "seconds": args.seconds,
            "rounds": args.rounds,
        },
        "runs": [
            bench_run(args.backend, run, args.seconds, args.rounds)
            for run in args.run
        ],
    }
    write_json(args.out, result)
    print(summary(result))


if __name__ == "__main__":
    main()
