"""Shared pytest configuration: hypothesis profiles.

Select one with the ``HYPOTHESIS_PROFILE`` environment variable:

* ``dev`` (default): more examples, randomised, for local runs;
* ``ci``: fewer examples, no deadline, derandomised (the same examples on
  every run), for CI and the shared 2-core machines.
"""

from __future__ import annotations

import os

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
