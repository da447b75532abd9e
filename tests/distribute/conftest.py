"""Fixtures for the data-parallel tests: a tiny random BERT and data.

The model is the shared tiny random `BertForMaskedLM` (``tiny_model`` in
``tests/conftest.py``); the data are single sentences whose label follows a
word rule (learnable, nothing hard-coded about the model).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from tiny_bert import single_rows, write_csv

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def data_files(tmp_path_factory) -> dict[str, str]:
    """`{"train": path, "validation": path}` CSV files (48 / 25 rows)."""
    folder: Path = tmp_path_factory.mktemp("data")
    rng = random.Random(0)
    return {
        split: write_csv(folder / f"{split}.csv", single_rows(rng, n))
        for split, n in (("train", 48), ("validation", 25))
    }
