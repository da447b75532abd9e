"""Docs tests: register the ``docs`` marker.

The Sphinx build test is marked ``docs``: it builds the whole site once (it
does not depend on the Keras backend), so CI runs ``pytest tests/docs`` once
rather than once per backend; per-backend runs can deselect it with
``-m "not docs"``. The marker is also listed in ``pyproject.toml`` (lead);
registering it here keeps ``--strict-markers`` happy either way.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "docs: builds the Sphinx site (run once, not per Keras backend)",
    )
