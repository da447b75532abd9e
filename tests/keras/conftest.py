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
def _single_torch_thread():
    """Runs torch on one intra-op thread during these tests.

    The tests use small tensors and many small ops; on a shared machine a
    second intra-op thread makes every op wait for the scheduler (3-10x
    slower here). The previous setting is restored after each test.
    """
    if keras.backend.backend() != "torch":
        yield
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
