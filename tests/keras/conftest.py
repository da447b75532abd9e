"""Fixtures for the Keras frontend tests (run once per Keras backend).

Select the backend with ``KERAS_BACKEND=tensorflow|jax|torch``.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    """Clears Keras's global state and seeds its generators per test."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    yield


@pytest.fixture(autouse=True)
def _single_torch_thread(single_torch_thread):
    """Every test here runs torch on one thread (see tests/conftest.py)."""
    yield


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
