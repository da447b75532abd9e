"""Shared pytest configuration: hypothesis profiles.

Select one with the ``HYPOTHESIS_PROFILE`` environment variable:

* ``dev`` (default): more examples, randomised, for local runs;
* ``ci``: fewer examples, no deadline, derandomised (the same examples on
  every run), for CI and the shared 2-core machines.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev",
    max_examples=100,
    deadline=None,
)
settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture
def single_torch_thread():
    """Runs torch on one intra-op thread during a test (other backends: no-op).

    Keras tests use small tensors and many small ops; on a shared machine a
    second intra-op thread makes every op wait for the scheduler (3-10x
    slower here). The previous setting is restored after the test.
    """
    import keras

    if keras.backend.backend() != "torch":
        yield
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
