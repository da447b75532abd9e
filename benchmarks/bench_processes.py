"""Training throughput of the job on 1 and on 2 JAX processes (issue 22).

The real all-MiniLM-L6-v2 is pruned with SMP-S on the embedded Rotten
Tomatoes data by the `smp prune` command, once as one process (one
device) and once as a two-process job joined over 127.0.0.1 (one CPU
device each, `KERAS_DISTRIBUTION_*`), with the same global batch and
steps. Throughput is training examples per second over the training
chunks after the first (the first pays the compilation; a chunk is a
quarter of the run, between checkpoints), from each run's
own ``train_log.jsonl``; the two runs go one after the other in this one
invocation, on the same machine.

On a 2-core CPU the two processes share the cores the one process had,
so this measures the cost of the cross-process all-reduce more than any
speed-up; on real hosts each process brings its own accelerator.

Usage::

    python benchmarks/bench_processes.py \\
        --out benchmarks/results/processes_jax.json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--model", default="minilm")
    return parser.parse_args(argv)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _command(args: argparse.Namespace, output: str, processes: int) -> list:
    command = [
        sys.executable,
        "-m",
        "smp_keras.cli",
        "--backend",
        "jax",
        "prune",
        "--model",
        args.model,
        "--task",
        "rotten_tomatoes",
        "--steps",
        str(args.steps),
        "--batch-size",
        str(args.batch_size),
        "--eval-every",
        "0",
        "--hold-eval-every",
        "0",
        # Chunks of a quarter of the run (the first pays the compilation).
        "--checkpoint-every",
        str(max(1, args.steps // 4)),
        "-o",
        output,
        "--overwrite",
    ]
    if processes > 1:
        command += ["--distribute", "data-parallel"]
    return command


def _run(args: argparse.Namespace, processes: int) -> dict:
    output = tempfile.mkdtemp(prefix=f"smp-processes-{processes}-")
    address = f"127.0.0.1:{_free_port()}"
    began = time.perf_counter()
    procs = []
    for index in range(processes):
        env = {
            **os.environ,
            "JAX_PLATFORMS": "cpu",
            "TF_CPP_MIN_LOG_LEVEL": "3",
        }
        env.pop("XLA_FLAGS", None)
        if processes > 1:
            env.update(
                KERAS_DISTRIBUTION_JOB_ADDRESSES=address,
                KERAS_DISTRIBUTION_NUM_PROCESSES=str(processes),
                KERAS_DISTRIBUTION_PROCESS_ID=str(index),
            )
        procs.append(
            subprocess.Popen(
                _command(args, output, processes),
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=ROOT,
            )
        )
    logs = [proc.communicate(timeout=3600)[0] for proc in procs]
    for proc, log in zip(procs, logs, strict=True):
        if proc.returncode:
            raise SystemExit(f"a process failed:\n{log[-3000:]}")
    wall = time.perf_counter() - began
    with open(os.path.join(output, "train_log.jsonl")) as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    chunks = [r for r in records if r.get("event") == "train"]
    steps = [
        b["step"] - a["step"] for a, b in zip(chunks, chunks[1:], strict=False)
    ]
    seconds = sum(r["seconds"] for r in chunks[1:])
    with open(os.path.join(output, "metrics.json")) as handle:
        accuracy = json.load(handle)["metrics"]["accuracy"]
    return {
        "processes": processes,
        "steps_timed": sum(steps),
        "train_seconds": round(seconds, 3),
        "examples_per_second": round(sum(steps) * args.batch_size / seconds, 2),
        "wall_seconds": round(wall, 1),
        "test_accuracy": accuracy,
    }


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from record_io import environment, write_json

    os.environ["KERAS_BACKEND"] = "jax"
    machine = environment("jax")
    rows = [_run(args, processes) for processes in (1, 2)]
    result = {
        "environment": machine,
        "settings": {
            "model": args.model,
            "task": "rotten_tomatoes",
            "steps": args.steps,
            "global_batch": args.batch_size,
        },
        "rows": rows,
        "ratio_2_to_1": round(
            rows[1]["examples_per_second"] / rows[0]["examples_per_second"], 3
        ),
    }
    write_json(args.out, result)
    print(json.dumps(result["rows"], indent=1))


if __name__ == "__main__":
    main()
