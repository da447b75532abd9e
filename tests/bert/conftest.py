"""Fixtures for `smp_keras.bert`: tiny random transformers BERTs on disk."""

from __future__ import annotations

from typing import Any

import pytest
from bert_test_utils import SPECS, build_hf_model, save_format


@pytest.fixture(scope="session")
def tiny_models() -> dict[str, Any]:
    """One random transformers model per spec, keyed by spec name."""
    return {spec.name: build_hf_model(spec) for spec in SPECS}


@pytest.fixture(scope="session")
def tiny_sources(tmp_path_factory, tiny_models) -> Any:
    """`get(spec_name, fmt)` -> a saved source (cached per session)."""
    cache: dict[tuple[str, str], Any] = {}

    def get(spec_name: str, fmt: str) -> Any:
        key = (spec_name, fmt)
        if key not in cache:
            folder = tmp_path_factory.mktemp(f"{spec_name}_{fmt}")
            cache[key] = save_format(tiny_models[spec_name], fmt, str(folder))
        return cache[key]

    return get
