"""Fixtures for the data-parallel tests: a tiny random BERT and data.

The model is a tiny random `BertForMaskedLM` (transformers) with a fast
tokenizer, as in ``tests/cli``; the data are single sentences whose label
follows a word rule (learnable, nothing hard-coded about the model).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

POSITIVE = ["great", "good", "fine", "lovely", "superb"]
NEGATIVE = ["terrible", "bad", "awful", "boring", "dull"]
FILLER = ["the", "film", "movie", "was", "a", "plot", "it", "very", "and"]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB = SPECIALS + POSITIVE + NEGATIVE + FILLER + ["yes", "no", "."]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """Folder of a tiny random BertForMaskedLM with its fast tokenizer."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")

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
    transformers.BertForMaskedLM(config).eval().save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return str(folder)


def _rows(rng: random.Random, n: int) -> str:
    lines = ["review,stars"]
    for i in range(n):
        label = i % 2
        words = rng.sample(FILLER, 4)
        words.insert(
            rng.randrange(5), rng.choice(POSITIVE if label else NEGATIVE)
        )
        lines.append(f"{' '.join(words)},{label}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def data_files(tmp_path_factory) -> dict[str, str]:
    """`{"train": path, "validation": path}` CSV files (48 / 25 rows)."""
    folder: Path = tmp_path_factory.mktemp("data")
    rng = random.Random(0)
    files = {}
    for split, n in (("train", 48), ("validation", 25)):
        path = folder / f"{split}.csv"
        path.write_text(_rows(rng, n))
        files[split] = str(path)
    return files
