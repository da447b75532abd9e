"""Benchmarks for `smp_keras.MaskedDense` and `smp_keras.ops.topk_mask`.

Usage::

    python benchmarks/bench_masked_dense.py --backend jax \\
        --out benchmarks/results/masked_dense_jax.json

1. One training step (forward + backward + Adam, `model.train_on_batch`)
   of a `MaskedDense` at density 0.1 (trainable scores, frozen kernel: the
   SMP step) against a `keras.layers.Dense` with a trainable kernel (an
   ordinary fine-tuning step), for kernels 768x3072 and 768x768 and inputs
   4096x768. TensorFlow is timed with `jit_compile=False` (tf.function
   graph) and `True` (XLA); JAX with `jit_compile=True` (jax.jit; its
   non-jit mode is op-by-op eager and not a training mode); PyTorch eagerly
   (`jit_compile=False`). The two models are timed interleaved in one run
   and the ratio of the medians is reported.
2. `ops.topk_mask` on a 768x3072 float32 score matrix at density 0.1
   against `ops.argsort` of the same (flattened) scores, the cost of any
   full-sort mask, compiled the same way (`jax.jit`; `tf.function` with and
   without XLA; eager PyTorch).

Timings are medians over `--repeats` runs after warm-up. Shared machines
are noisy: compare the ratios taken in one run, not absolute times. The raw
results are written atomically as JSON and a Markdown summary is printed.
Backend-specific code (compiling a bare function, waiting for a result)
lives only in this script, never in the library.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import smpcore

BACKENDS = ("tensorflow", "jax", "torch")
SHAPES = ((768, 3072), (768, 768))
BATCH = 4096
DENSITY = 0.1


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=BACKENDS, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--topk-repeats", type=int, default=15)
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch.set_num_threads (default: torch's own choice). On a "
        "loaded machine, 1 avoids waiting for a second intra-op thread at "
        "every small op.",
    )
    return parser.parse_args(argv)


def _jit_modes(backend: str) -> tuple[bool, ...]:
    return {"tensorflow": (False, True), "jax": (True,), "torch": (False,)}[
        backend
    ]


def _median_ms(times: list[float]) -> float:
    return 1000.0 * statistics.median(times)


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_train_step(repeats: int, backend: str) -> list[dict]:
    import keras
    import numpy as np

    from smp_keras import MaskedDense

    rng = np.random.default_rng(0)
    x = keras.ops.convert_to_tensor(
        rng.standard_normal((BATCH, 768)).astype("float32")
    )
    rows = []
    for shape in SHAPES:
        y = keras.ops.convert_to_tensor(
            rng.standard_normal((BATCH, shape[1])).astype("float32")
        )
        for jit in _jit_modes(backend):
            keras.backend.clear_session()
            models = {
                "masked": MaskedDense(
                    shape[1],
                    density=DENSITY,
                    score_initializer="random_normal",
                ),
                "dense": keras.layers.Dense(shape[1]),
            }
            for name, layer in models.items():
                model = keras.Sequential([keras.Input((shape[0],)), layer])
                model.compile(
                    keras.optimizers.Adam(1e-3), "mse", jit_compile=jit
                )
                for _ in range(2):  # compile + warm-up
                    model.train_on_batch(x, y)
                models[name] = model
            times: dict[str, list[float]] = {"masked": [], "dense": []}
            for _ in range(repeats):
                for name, model in models.items():
                    times[name].append(
                        _timed(lambda m=model, t=y: m.train_on_batch(x, t))
                    )
            masked, dense = (_median_ms(times[k]) for k in ("masked", "dense"))
            rows.append(
                {
                    "shape": list(shape),
                    "batch": BATCH,
                    "density": DENSITY,
                    "jit_compile": jit,
                    "masked_ms": masked,
                    "dense_ms": dense,
                    "ratio": masked / dense,
                    "masked_times_ms": [1000 * t for t in times["masked"]],
                    "dense_times_ms": [1000 * t for t in times["dense"]],
                }
            )
            print(
                f"  step {shape[0]}x{shape[1]} jit={jit}: masked "
                f"{masked:.1f} ms, dense {dense:.1f} ms, "
                f"ratio {masked / dense:.3f}",
                flush=True,
            )
    return rows


def _compiled(backend: str, fn: Callable, xla: bool) -> Callable:
    """Compiles `fn` the way a train step would be, per backend."""
    if backend == "jax":
        import jax

        jitted = jax.jit(fn)
        return lambda *a: jitted(*a).block_until_ready()
    if backend == "tensorflow":
        import tensorflow as tf

        graph = tf.function(fn, jit_compile=xla)
        return lambda *a: graph(*a).numpy()
    return fn


def bench_topk(repeats: int, backend: str) -> list[dict]:
    import keras
    import numpy as np

    from smp_keras import ops

    rng = np.random.default_rng(1)
    scores = rng.standard_normal((768, 3072)).astype("float32")
    k_value = smpcore.topk_count(scores.size, DENSITY)
    s = keras.ops.convert_to_tensor(scores)
    k = keras.ops.convert_to_tensor(k_value, "int32")
    expected = smpcore.topk_mask(scores, DENSITY)
    rows = []
    for xla in _jit_modes(backend):
        mask_fn = _compiled(backend, ops.topk_mask, xla)
        sort_fn = _compiled(
            backend,
            lambda t: keras.ops.argsort(-keras.ops.reshape(t, (-1,))),
            xla,
        )
        got = keras.ops.convert_to_numpy(ops.topk_mask(s, k)).astype(bool)
        if not np.array_equal(got, expected):
            raise RuntimeError("ops.topk_mask disagrees with smpcore")
        mask_fn(s, k)
        sort_fn(s)
        mask_times, sort_times = [], []
        for _ in range(repeats):
            mask_times.append(_timed(lambda f=mask_fn: f(s, k)))
            sort_times.append(_timed(lambda f=sort_fn: f(s)))
        mask, sort = _median_ms(mask_times), _median_ms(sort_times)
        rows.append(
            {
                "shape": [768, 3072],
                "density": DENSITY,
                "jit_compile": xla,
                "topk_mask_ms": mask,
                "argsort_ms": sort,
                "speedup": sort / mask,
            }
        )
        print(
            f"  topk_mask jit={xla}: {mask:.1f} ms, argsort {sort:.1f} ms, "
            f"speedup {sort / mask:.1f}x",
            flush=True,
        )
    return rows


def _summary(result: dict) -> str:
    lines = [
        f"## MaskedDense on {result['environment']['backend']}",
        "",
        "| kernel | jit_compile | masked ms | dense ms | ratio |",
        "|---|---|---|---|---|",
    ]
    for row in result["train_step"]:
        lines.append(
            f"| {row['shape'][0]}x{row['shape'][1]} | {row['jit_compile']} "
            f"| {row['masked_ms']:.1f} | {row['dense_ms']:.1f} "
            f"| {row['ratio']:.3f} |"
        )
    lines += [
        "",
        "| topk_mask 768x3072 | jit_compile | mask ms | argsort ms | speedup |",
        "|---|---|---|---|---|",
    ]
    for row in result["topk_mask"]:
        lines.append(
            f"| density {row['density']} | {row['jit_compile']} "
            f"| {row['topk_mask_ms']:.1f} | {row['argsort_ms']:.1f} "
            f"| {row['speedup']:.1f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import smp_keras  # noqa: F401
    except ImportError:  # running from a checkout without an install
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import keras
    from record_io import environment, write_json

    if keras.backend.backend() != args.backend:
        raise SystemExit(
            f"Keras was already imported with backend "
            f"{keras.backend.backend()!r}; set KERAS_BACKEND={args.backend}."
        )
    if args.backend == "torch" and args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    print(f"Benchmarking on {args.backend}", flush=True)
    result = {
        "environment": environment(args.backend),
        "settings": {
            "batch": BATCH,
            "density": DENSITY,
            "repeats": args.repeats,
            "topk_repeats": args.topk_repeats,
        },
        "train_step": bench_train_step(args.repeats, args.backend),
        "topk_mask": bench_topk(args.topk_repeats, args.backend),
    }
    write_json(args.out, result)
    print(_summary(result))


if __name__ == "__main__":
    main()
