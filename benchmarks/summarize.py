"""Render the committed raw benchmark results as one Markdown page.

Reads `benchmarks/results/{core,masked_dense_*,bert_step_*,padding_*}.json`
(written by `bench_core.py`, `bench_masked_dense.py`, `bench_bert_step.py`
and `bench_padding.py`) and
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
    ]
    path = os.path.join(RESULTS, "performance.md")
    text = "\n".join(lines)
    smpcore.atomic_write(path, lambda f: f.write(text.encode()))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
