"""Reliability tests: counts of what each test tried.

Every reliability test reports what it exercised through the
``reliability_counter`` fixture (``counter.add("cases", n)``,
``counter.add("kills")``). When the environment variable
``SMP_RELIABILITY_COUNTS`` names a file, the totals per test are written
there (atomically) at the end of the session, with the backend; the docs'
reliability page is generated from those files (``make reliability``).
"""

from __future__ import annotations

import collections
import json
import os
from typing import Any

import pytest

import smpcore

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

_COUNTS: dict[str, collections.Counter] = collections.defaultdict(
    collections.Counter
)
_OUTCOMES: dict[str, str] = {}


class Counter:
    """What one test exercised: named counts (cases tried, kills...)."""

    def __init__(self, test_id: str) -> None:
        self._counts = _COUNTS[test_id]

    def add(self, kind: str, n: int = 1) -> None:
        """Adds `n` to the count `kind` of this test."""
        self._counts[kind] += n


@pytest.fixture
def reliability_counter(request: pytest.FixtureRequest) -> Counter:
    """A `Counter` for the running test."""
    return Counter(request.node.nodeid)


@pytest.fixture
def fresh_keras(single_torch_thread):
    """A clean Keras session and seed; torch on one intra-op thread."""
    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    yield


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or report.outcome != "passed":
        _OUTCOMES[report.nodeid] = report.outcome


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get("SMP_RELIABILITY_COUNTS")
    if not path:
        return
    import keras

    data: dict[str, Any] = {
        "backend": keras.backend.backend(),
        "tests": {
            test: {
                "outcome": _OUTCOMES.get(test, "unknown"),
                "counts": dict(sorted(counts.items())),
            }
            for test, counts in sorted(
                (test, _COUNTS.get(test, {})) for test in {*_COUNTS, *_OUTCOMES}
            )
        },
    }
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    text = json.dumps(data, indent=1) + "\n"
    smpcore.atomic_write(path, lambda f: f.write(text.encode()))
