"""Fixtures for the pruning job and the `smp` command (run per backend).

A tiny random `BertForMaskedLM` (transformers, saved with
`save_pretrained`) with a `BertTokenizerFast` built from a small vocabulary
file, and small local data files for every task type: single sentence,
sentence pair, regression and extractive QA. The labels follow simple word
rules, so the data are learnable but nothing is hard-coded about the model.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import pytest
from cli_test_utils import make_config, run_prune

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

POSITIVE = ["great", "good", "fine", "lovely", "superb"]
NEGATIVE = ["terrible", "bad", "awful", "boring", "dull"]
FILLER = ["the", "film", "movie", "was", "a", "plot", "it", "very", "and"]
NAMES = ["ada", "bob", "cy", "dee"]
PLACES = ["paris", "rome", "oslo", "lima"]
OTHER = [
    "yes",
    "no",
    "maybe",
    "start",
    "end",
    "who",
    "where",
    "lives",
    "in",
    "is",
    "what",
    "incorrect",
    "correct",
    ".",
    ",",
    "?",
]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB = SPECIALS + POSITIVE + NEGATIVE + FILLER + NAMES + PLACES + OTHER


def _sentence(rng: random.Random, sentiment: int) -> str:
    words = rng.sample(FILLER, 4)
    pool = POSITIVE if sentiment else NEGATIVE
    words.insert(rng.randrange(5), rng.choice(pool))
    return " ".join(words)


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> str:
    keys = list(rows[0])
    lines = [",".join(keys)]
    lines += [",".join(str(r[k]) for k in keys) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _single(rng: random.Random, n: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        label = i % 2
        rows.append({"review": _sentence(rng, label), "stars": label})
    return rows


def _pair(rng: random.Random, n: int) -> list[dict[str, Any]]:
    names = ["entailment", "neutral", "contradiction"]
    rows = []
    for i in range(n):
        label = i % 3
        first = _sentence(rng, 1)
        second = {0: first, 1: _sentence(rng, 1), 2: _sentence(rng, 0)}[label]
        rows.append(
            {"premise": first, "hypothesis": second, "label": names[label]}
        )
    return rows


def _regression(rng: random.Random, n: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        same = i % 2
        a = _sentence(rng, 1)
        b = a if same else _sentence(rng, 0)
        rows.append(
            {
                "sentence1": a,
                "sentence2": b,
                "label": 4.0 * same + 0.1 * (i % 3),
            }
        )
    return rows


def _qa(rng: random.Random, n: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        name, place = rng.choice(NAMES), rng.choice(PLACES)
        context = f"{name} lives in {place} . the film was good ."
        rows.append(
            {
                "id": str(i),
                "question": f"where {name} lives ?",
                "context": context,
                "answers": {
                    "text": [place],
                    "answer_start": [context.index(place)],
                },
            }
        )
    return rows


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """Folder of a tiny random BertForMaskedLM with its fast tokenizer."""
    import torch
    import transformers

    folder = tmp_path_factory.mktemp("tiny_bert")
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(VOCAB) + "\n")
    tokenizer = transformers.BertTokenizerFast(str(vocab), do_lower_case=True)
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        initializer_range=0.3,
    )
    model = transformers.BertForMaskedLM(config).eval()
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return str(folder)


@pytest.fixture(scope="session")
def data_files(tmp_path_factory) -> dict[str, dict[str, str]]:
    """Local files per task type: `{kind: {split: path}}`."""
    folder = tmp_path_factory.mktemp("data")
    rng = random.Random(0)
    files: dict[str, dict[str, str]] = {}
    makers = {
        "single": (_single, _write_csv, "csv"),
        "pair": (_pair, _write_jsonl, "jsonl"),
        "regression": (_regression, _write_jsonl, "jsonl"),
        "qa": (_qa, _write_jsonl, "jsonl"),
    }
    for kind, (make, write, ext) in makers.items():
        files[kind] = {
            split: write(folder / f"{kind}_{split}.{ext}", make(rng, n))
            for split, n in (("train", 48), ("validation", 24))
        }
    return files


@pytest.fixture
def tiny_config(tiny_model, data_files, tmp_path):
    """`make(kind="single", **overrides)` -> a fast PruneConfig."""

    def make(kind: str = "single", **overrides: Any) -> Any:
        return make_config(tiny_model, data_files, tmp_path, kind, **overrides)

    return make


@pytest.fixture(scope="session")
def finished_run(tiny_model, data_files, tmp_path_factory):
    """A finished SMP-S run on the single-sentence data (PruneResult)."""
    folder = tmp_path_factory.mktemp("finished")
    config = make_config(tiny_model, data_files, folder, "single", eval_every=2)
    return run_prune(config)


@pytest.fixture(scope="session")
def finetune_run(tiny_model, data_files, tmp_path_factory):
    """A finished dense fine-tuning run (a distillation teacher)."""
    folder = tmp_path_factory.mktemp("finetune")
    config = make_config(
        tiny_model,
        data_files,
        folder,
        "single",
        method="fine-tune",
        weight_learning_rate=1e-2,
    )
    return run_prune(config)
