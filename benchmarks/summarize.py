"""Render the committed raw benchmark results as one Markdown page.

Reads `benchmarks/results/{core,masked_dense_*,bert_step_*,padding_*,
sparse_*,serving_*}.json` (written by `bench_core.py`,
`bench_masked_dense.py`, `bench_bert_step.py`, `bench_padding.py`,
`bench_sparse.py` and `bench_serving.py`) and
writes `benchmarks/results/performance.md`, which the docs' Benchmarks page
includes. Every figure on that page comes from those files.

Usage::

    python benchmarks/summarize.py
"""

from __future__ import annotations

import glob
import json
import os
from typing import Any

import smpcore

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
MIB = 1024 * 1024


def _load(pattern: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(glob.glob(os.path.join(RESULTS, pattern))):
        with open(path) as f:
            out.append((os.path.basename(path), json.load(f)))
    return out


def core_tables() -> list[str]:
    """Top-k versus full sort, and artifact sizes (`bench_core.py`)."""
    lines = []
    for name, d in _load("core.json"):
        lines += [
            f"## NumPy core (`{name}`, numpy {d['machine']['numpy']}, "
            f"{d['machine']['cpu_count']} CPUs)",
            "",
            "| scores | density | `topk_mask` (ms) | full argsort (ms) "
            "| speed-up |",
            "|---|---|---|---|---|",
        ]
        for r in d["topk"]:
            lines.append(
                f"| {r['shape'][0]}×{r['shape'][1]} | {r['density']} "
                f"| {r['topk_mask_ms']:.1f} | {r['argsort_ms']:.1f} "
                f"| {r['speedup_median']:.1f}× |"
            )
        lines += [
            "",
            "| density | artifact (MiB) | packbits (MiB) | entropy floor "
            "(MiB) | artifact / floor | decode (ms) |",
            "|---|---|---|---|---|---|",
        ]
        for r in d["artifacts"]:
            lines.append(
                f"| {r['density']} | {r['artifact_bytes'] / MIB:.2f} "
                f"| {r['packbits_bytes'] / MIB:.2f} "
                f"| {r['entropy_floor_bytes'] / MIB:.2f} "
                f"| {r['artifact_over_floor']:.3f} | {r['decode_ms']:.0f} |"
            )
        lines.append("")
    return lines


def masked_dense_table() -> list[str]:
    """`MaskedDense` training step versus fine-tuning a `Dense`."""
    lines = [
        "## `MaskedDense` train step versus a trainable `Dense` "
        "(x 4096×768, density 0.1)",
        "",
        "| file | backend | shape | jit | masked (ms) | dense (ms) | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    topk = []
    for name, d in _load("masked_dense_*.json"):
        backend = d["environment"]["backend"]
        for r in d["train_step"]:
            lines.append(
                f"| {name} | {backend} | {r['shape'][0]}×{r['shape'][1]} "
                f"| {r['jit_compile']} | {r['masked_ms']:.0f} "
                f"| {r['dense_ms']:.0f} | {r['ratio']:.2f}× |"
            )
        for r in d.get("topk_mask", []):
            topk.append((name, backend, r))
    lines += [
        "",
        "| file | backend | `ops.topk_mask` (ms) | `ops.argsort` (ms) "
        "| speed-up |",
        "|---|---|---|---|---|",
    ]
    for name, backend, r in topk:
        lines.append(
            f"| {name} | {backend} | {r['topk_mask_ms']:.1f} "
            f"| {r['argsort_ms']:.1f} | {r['speedup']:.1f}× |"
        )
    return lines + [""]


def bert_table() -> list[str]:
    """SMP BERT step versus transformers' PyTorch fine-tuning step."""
    lines = [
        "## SMP BERT step versus transformers fine-tuning "
        "(all-MiniLM-L6-v2, batch 32, length 128)",
        "",
        "| file | backend | SMP step (s) | transformers step (s) | ratio "
        "| SMP peak RSS (MiB) | transformers peak RSS (MiB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, d in _load("bert_step_*.json"):
        lines.append(
            f"| {name} | {d['backend']} | {d['smp']['median_step_s']:.2f} "
            f"| {d['baseline']['median_step_s']:.2f} "
            f"| {d['ratio_median']:.2f}× "
            f"| {d['smp'].get('peak_rss_mib', float('nan')):.0f} "
            f"| {d['baseline'].get('peak_rss_mib', float('nan')):.0f} |"
        )
    return lines + [""]


def padding_table() -> list[str]:
    """Training and evaluation throughput per padding (`bench_padding.py`)."""
    lines = [
        "## Padding: to max_length, to buckets, buckets + group_by_length "
        "(all-MiniLM-L6-v2, SMP-S at 10%, batch 32, max_length 64)",
        "",
        "| file | backend | task | padding | train steps/s | train speed-up "
        "| eval examples/s | eval speed-up |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, d in _load("padding_*.json"):
        for task, modes in d["tasks"].items():
            for mode, r in modes.items():
                lines.append(
                    f"| {name} | {d['backend']} | {task} | {mode} "
                    f"| {r['train_steps_per_s']:.3f} "
                    f"| {r['train_speedup']:.2f}× "
                    f"| {r['eval_examples_per_s']:.0f} "
                    f"| {r['eval_speedup']:.2f}× |"
                )
    return lines + [""]


def sparse_table() -> list[str]:
    """SparseDense against Dense per backend (`bench_sparse.py`)."""
    results = _load("sparse_*.json")
    if not results:
        return []
    densities = sorted(
        {r["density"] for _, d in results for r in d["rows"]}, reverse=True
    )
    lines = [
        "## Sparse execution",
        "",
        "`SparseDense` (the backend's sparse product) against `Dense` with "
        "the same pruned kernel (`benchmarks/bench_sparse.py`): speed-up "
        "(dense time / sparse time, above 1: sparse is faster) at 128 tokens "
        "(batch 1) / 4,096 tokens (batch 32).",
        "",
        "| file | backend | model | matrix | "
        + " | ".join(f"{100 * x:g}% kept" for x in densities)
        + " |",
        "|---|---|---|---|" + "---|" * len(densities),
    ]
    for name, d in results:
        backend = d["environment"]["backend"]
        seen: dict[tuple, dict] = {}
        for r in d["rows"]:
            key = (r["model"], tuple(r["shape"]))
            seen.setdefault(key, {})[(r["density"], r["tokens"])] = r
        for (model, shape), rows in seen.items():
            cells = []
            for x in densities:
                small, large = rows.get((x, 128)), rows.get((x, 4096))
                cells.append(
                    "–"
                    if small is None or large is None
                    else f"{small['speedup']:.2f}× / {large['speedup']:.2f}×"
                )
            lines.append(
                f"| {name} | {backend} | {model} | {shape[0]}→{shape[1]} | "
                + " | ".join(cells)
                + " |"
            )
    return lines + [""]


def serving_table() -> list[str]:
    """Dense / compact / sparse exports of real runs (`bench_serving.py`)."""
    results = _load("serving_*.json")
    if not results:
        return []
    lines = [
        "## Serving a pruned MiniLM",
        "",
        "The `.keras` exports of real all-MiniLM-L6-v2 runs on Rotten "
        "Tomatoes (`benchmarks/bench_serving.py`): `dense` (`smp export "
        "--keras`), `compact` (`--compact`) and `sparse` (`--sparse`), each "
        "loaded in a fresh process and run with `predict_on_batch` on "
        '128-token examples; speed-ups against `dense`. "same predictions": '
        'the same classes as `dense` on a fixed batch; "accuracy": every '
        "export's test accuracy equals the run's `metrics.json`; "
        '"model RSS": the resident memory that loading and running the '
        'model added in its process; "peak RSS": the process\'s peak, '
        "the framework's import included. Measured with nothing else "
        "running: a training job on the other core made PyTorch's batch-1 "
        "latency over 30 times slower.",
        "",
        "| file | run | kept | export | file MiB | batch 1 latency ms | "
        "speed-up | batch 32 examples/s | speed-up | model RSS MiB | "
        "peak RSS MiB | same predictions | accuracy |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, d in results:
        for run in d["runs"]:
            accuracy = run["accuracy"]
            for variant, r in run["variants"].items():
                value = 100 * next(iter(accuracy[variant].values()))
                same = "=" if accuracy["equal"] else "≠"
                lines.append(
                    f"| {name} | `{os.path.basename(run['run'])}` | "
                    f"{100 * run['density']:.1f}% | {variant} | "
                    f"{r['file_mib']:.1f} | {r['latency_ms']:.1f} | "
                    f"{r['latency_speedup']:.2f}× | "
                    f"{r['throughput_per_s']:.1f} | "
                    f"{r['throughput_speedup']:.2f}× | "
                    f"{r['model_rss_mib']:.0f} | "
                    f"{r['peak_rss_mib']:.0f} | "
                    f"{'yes' if r['same_predictions'] else 'no'} | "
                    f"{value:.1f} ({same} run) |"
                )
    return lines + [""]


def main() -> None:
    lines = [
        "# Performance",
        "",
        "Ratios are measured side by side in one run on a 2-core CPU "
        "machine that was shared with other jobs (see each file's load "
        "average); compare ratios, not absolute times across files.",
        "",
        *core_tables(),
        *masked_dense_table(),
        *bert_table(),
        *padding_table(),
        *sparse_table(),
        *serving_table(),
    ]
    path = os.path.join(RESULTS, "performance.md")
    text = "\n".join(lines)
    smpcore.atomic_write(path, lambda f: f.write(text.encode()))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
