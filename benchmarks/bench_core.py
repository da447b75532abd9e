"""Benchmarks for smpcore: exact top-k masks and mask artifacts.

Usage::

    python benchmarks/bench_core.py --out benchmarks/results/core.json

1. ``topk_mask`` on a 768x3072 float32 score matrix at densities 0.5, 0.1
   and 0.03 against a full ``np.argsort`` of the same scores. Both are timed
   in the same run, interleaved, and the median ratio is reported (noisy
   shared machines: compare ratios, not absolute times).
2. Mask artifacts for BERT-base-shaped masks (72 matrices, 84,934,656
   weights) at the same densities: ``pack_masks`` size against a plain
   ``np.packbits`` of all masks (the reference artifact) and the entropy
   floor ``H(v) * n`` bits, plus encode and decode times.

Only the standard library, NumPy and smpcore are used. The raw results are
written atomically as JSON; a Markdown summary is printed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import smpcore

try:
    import smpcore
except ImportError:  # running from a checkout without an install
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import smpcore

DENSITIES = (0.5, 0.1, 0.03)
MIB = 2**20


def bert_base_shapes(layers: int = 12, hidden: int = 768) -> dict:
    """Keras-layout shapes of the 72 prunable matrices of BERT-base."""
    shapes = {}
    for i in range(layers):
        for name in ("query", "key", "value", "attention_output"):
            shapes[f"layer_{i}/{name}"] = (hidden, hidden)
        shapes[f"layer_{i}/intermediate"] = (hidden, 4 * hidden)
        shapes[f"layer_{i}/output"] = (4 * hidden, hidden)
    return shapes


def time_once(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_topk(repeats: int, rng: np.random.Generator) -> list[dict]:
    """Median times of topk_mask and a full argsort, interleaved."""
    scores = rng.standard_normal((768, 3072)).astype(np.float32)
    flat = scores.ravel()
    rows = []
    for density in DENSITIES:
        smpcore.topk_mask(scores, density)  # warm-up
        topk, argsort, ratios = [], [], []
        for _ in range(repeats):
            t_topk = time_once(lambda d=density: smpcore.topk_mask(scores, d))
            t_sort = time_once(lambda: np.argsort(flat))
            topk.append(t_topk)
            argsort.append(t_sort)
            ratios.append(t_sort / t_topk)
        rows.append(
            {
                "shape": [768, 3072],
                "density": density,
                "topk_mask_ms": 1e3 * statistics.median(topk),
                "argsort_ms": 1e3 * statistics.median(argsort),
                "speedup_median": statistics.median(ratios),
                "repeats": repeats,
            }
        )
    return rows


def entropy_bits(density: float, n: int) -> float:
    """The entropy floor ``H(v) * n`` of a mask of density `v`."""
    if density in (0.0, 1.0):
        return 0.0
    p = density
    return n * -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


def random_masks(shapes: dict, density: float, rng: np.random.Generator):
    """Exact-density masks from random scores (topk_mask per matrix)."""
    return {
        name: smpcore.topk_mask(rng.random(shape, dtype=np.float32), density)
        for name, shape in shapes.items()
    }


def bench_artifact(density: float, repeats: int, rng: np.random.Generator):
    """Size and timing of pack_masks/unpack_masks for BERT-base masks."""
    masks = random_masks(bert_base_shapes(), density, rng)
    n = sum(mask.size for mask in masks.values())
    kept = sum(int(mask.sum()) for mask in masks.values())
    data = smpcore.pack_masks(masks)
    restored = smpcore.unpack_masks(data)
    if any(not np.array_equal(restored[k], masks[k]) for k in masks):
        raise RuntimeError("round trip failed")
    encode = [
        time_once(lambda: smpcore.pack_masks(masks)) for _ in range(repeats)
    ]
    decode = [
        time_once(lambda: smpcore.unpack_masks(data)) for _ in range(repeats)
    ]
    packbits = [
        time_once(lambda: smpcore.pack_reference_masks(masks))
        for _ in range(repeats)
    ]
    floor_bytes = entropy_bits(kept / n, n) / 8
    return {
        "density": density,
        "matrices": len(masks),
        "weights": n,
        "kept": kept,
        "artifact_bytes": len(data),
        "packbits_bytes": (n + 7) // 8,
        "entropy_floor_bytes": floor_bytes,
        "artifact_over_floor": len(data) / floor_bytes,
        "artifact_over_packbits": len(data) / ((n + 7) // 8),
        "encode_ms": 1e3 * statistics.median(encode),
        "decode_ms": 1e3 * statistics.median(decode),
        "packbits_encode_ms": 1e3 * statistics.median(packbits),
        "repeats": repeats,
    }


def machine() -> dict:
    affinity = getattr(os, "sched_getaffinity", None)
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(affinity(0)) if affinity else None,
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(
            timespec="seconds"
        ),
    }


def write_json_atomic(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(payload, indent=2) + "\n"
    smpcore.atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def markdown(results: dict) -> str:
    lines = [
        "| 768x3072, density | topk_mask ms | argsort ms | speedup |",
        "|---|---|---|---|",
    ]
    for row in results["topk"]:
        lines.append(
            f"| {row['density']} | {row['topk_mask_ms']:.1f} | "
            f"{row['argsort_ms']:.1f} | {row['speedup_median']:.1f}x |"
        )
    lines += [
        "",
        "| BERT-base masks, density | artifact MiB | packbits MiB | "
        "entropy floor MiB | artifact / floor | encode ms | decode ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in results["artifacts"]:
        lines.append(
            f"| {row['density']} | {row['artifact_bytes'] / MIB:.2f} | "
            f"{row['packbits_bytes'] / MIB:.2f} | "
            f"{row['entropy_floor_bytes'] / MIB:.2f} | "
            f"{row['artifact_over_floor']:.3f} | {row['encode_ms']:.0f} | "
            f"{row['decode_ms']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="where to write the JSON")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    results = {
        "benchmark": "smpcore core",
        "machine": machine(),
        "topk": bench_topk(args.repeats, rng),
        "artifacts": [
            bench_artifact(d, max(3, args.repeats // 3), rng) for d in DENSITIES
        ],
    }
    if args.out:
        write_json_atomic(args.out, results)
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
