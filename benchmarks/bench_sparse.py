"""Sparse against dense matrix products, per backend (issue 20).

Usage::

    python benchmarks/bench_sparse.py --backend torch \\
        --out benchmarks/results/sparse_torch.json

Times `smp_keras.layers.SparseDense` (the backend's sparse kernel: torch
CSR via MKL, `tf.sparse.sparse_dense_matmul`, `jax.experimental.sparse`
BCOO under `jax.jit`, SciPy CSR on Keras's NumPy backend) against a
`keras.layers.Dense` holding the same pruned kernel, for the matrices of
all-MiniLM-L6-v2 (384x384, 384x1536, 1536x384) and BERT-base (768x768,
768x3072, 3072x768), at 50%, 10% and 3% of the weights kept (uniformly at
random), on 128 tokens (batch 1, length 128) and 4,096 tokens (batch 32).
The two layers are timed interleaved in one run; each row reports the
medians and the speed-up (dense / sparse). `SPARSE_MAX_DENSITY` in
`smp_keras/layers/sparse_dense.py` is read off these rows.

Shared machines are noisy: compare the ratios of one run. The raw results
are written atomically as JSON and a Markdown summary is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

BACKENDS = ("torch", "tensorflow", "jax", "numpy")
SHAPES = {
    "MiniLM": ((384, 384), (384, 1536), (1536, 384)),
    "BERT-base": ((768, 768), (768, 3072), (3072, 768)),
}
DENSITIES = (0.5, 0.1, 0.03)
TOKENS = (128, 4096)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=BACKENDS, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--seconds",
        type=float,
        default=0.4,
        help="time budget per layer and setting (at least 3 runs)",
    )
    parser.add_argument(
        "--models", nargs="+", default=list(SHAPES), choices=list(SHAPES)
    )
    return parser.parse_args(argv)


def _compiled(backend: str, layer: Any) -> Any:
    """`layer(x)` compiled as a served model would run it."""
    if backend == "jax":
        import jax

        jitted = jax.jit(lambda x: layer(x))
        return lambda x: jitted(x).block_until_ready()
    if backend == "tensorflow":
        import tensorflow as tf

        graph = tf.function(lambda x: layer(x))
        return lambda x: graph(x).numpy()
    if backend == "torch":
        import torch

        def run(x: Any) -> Any:
            with torch.no_grad():
                return layer(x)

        return run
    return layer


def _time(fn: Any, x: Any, budget: float) -> list[float]:
    times: list[float] = []
    began = time.perf_counter()
    while len(times) < 2 or (
        time.perf_counter() - began < budget and len(times) < 50
    ):
        t = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t)
    return times


def bench(backend: str, models: list[str], budget: float) -> list[dict]:
    import keras
    import numpy as np

    from smp_keras.layers import SparseDense

    rng = np.random.default_rng(0)
    rows = []
    for model in models:
        for fan_in, fan_out in SHAPES[model]:
            for density in DENSITIES:
                kernel = rng.standard_normal((fan_in, fan_out)).astype(
                    "float32"
                )
                kernel *= rng.random(kernel.shape) < density
                bias = rng.standard_normal(fan_out).astype("float32")
                dense = keras.layers.Dense(fan_out)
                dense.build((None, fan_in))
                dense.set_weights([kernel, bias])
                sparse = SparseDense.from_kernel(kernel, bias)
                fns = {
                    "dense": _compiled(backend, dense),
                    "sparse": _compiled(backend, sparse),
                }
                for tokens in TOKENS:
                    x = keras.ops.convert_to_tensor(
                        rng.standard_normal((tokens, fan_in)).astype("float32")
                    )
                    got = keras.ops.convert_to_numpy(fns["sparse"](x))
                    want = keras.ops.convert_to_numpy(fns["dense"](x))
                    if not np.allclose(got, want, atol=1e-3, rtol=1e-3):
                        raise RuntimeError("SparseDense disagrees with Dense")
                    for fn in fns.values():  # warm-up
                        fn(x)
                    times: dict[str, list[float]] = {"dense": [], "sparse": []}
                    for _ in range(2):  # interleaved halves
                        for name, fn in fns.items():
                            times[name] += _time(fn, x, budget / 2)
                    dense_ms = 1e3 * statistics.median(times["dense"])
                    sparse_ms = 1e3 * statistics.median(times["sparse"])
                    row = {
                        "model": model,
                        "shape": [fan_in, fan_out],
                        "density": density,
                        "tokens": tokens,
                        "dense_ms": round(dense_ms, 4),
                        "sparse_ms": round(sparse_ms, 4),
                        "speedup": round(dense_ms / sparse_ms, 3),
                    }
                    rows.append(row)
                    print(
                        f"  {model} {fan_in}x{fan_out} kept {density:g} "
                        f"tokens {tokens}: dense {dense_ms:.3f} ms, sparse "
                        f"{sparse_ms:.3f} ms, {dense_ms / sparse_ms:.2f}x",
                        flush=True,
                    )
    return rows


def crossover(rows: list[dict]) -> dict[str, Any]:
    """The largest density at which sparse beat dense on every matrix of
    a model at 128 tokens (0 if none), per model."""
    out: dict[str, Any] = {}
    for model in {row["model"] for row in rows}:
        best = 0.0
        for density in sorted(DENSITIES):
            wins = [
                r["speedup"] > 1
                for r in rows
                if r["model"] == model
                and r["tokens"] == 128
                and r["density"] == density
            ]
            if wins and all(wins):
                best = density
        out[model] = best
    return out


def summary(result: dict) -> str:
    lines = [
        f"## Sparse kernels on {result['environment']['backend']}",
        "",
        "| model | matrix | kept | tokens | dense ms | sparse ms | speed-up |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['model']} | {r['shape'][0]}x{r['shape'][1]} | "
            f"{100 * r['density']:g}% | {r['tokens']} | {r['dense_ms']:.3f} "
            f"| {r['sparse_ms']:.3f} | {r['speedup']:.2f}x |"
        )
    lines.append("")
    lines.append(f"Crossover at 128 tokens: {result['crossover']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import keras
    from record_io import environment, write_json

    if keras.backend.backend() != args.backend:
        raise SystemExit(
            f"Keras was already imported with backend "
            f"{keras.backend.backend()!r}; set KERAS_BACKEND={args.backend}."
        )
    print(f"Sparse kernels on {args.backend}", flush=True)
    machine = environment(args.backend)  # the load average at the start
    rows = bench(args.backend, args.models, args.seconds)
    result = {
        "environment": machine,
        "settings": {"seconds": args.seconds, "densities": list(DENSITIES)},
        "rows": rows,
        "crossover": crossover(rows),
    }
    write_json(args.out, result)
    print(summary(result))


if __name__ == "__main__":
    main()
