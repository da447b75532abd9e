"""Package-level tests: NumPy-only imports, exports, doctests, typing."""

from __future__ import annotations

import doctest
import importlib
import inspect
import json
import subprocess
import sys

import pytest

import smpcore

MODULES = [
    "smpcore",
    "smpcore._codecs",
    "smpcore.validation",  # the shared checks: importable, not the method
    "smpcore.allocation",
    "smpcore.artifacts",
    "smpcore.heads",
    "smpcore.masks",
    "smpcore.regularizers",
    "smpcore.report",
    "smpcore.schedules",
    "smpcore.structured",
    "smpcore.wanda",
]
PUBLIC_MODULES = [
    m
    for m in MODULES
    if m.count(".") == 1 and "._" not in m and m != "smpcore.validation"
]


def test_import_loads_no_deep_learning_framework() -> None:
    code = (
        "import json, sys; import smpcore; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = json.loads(result.stdout)
    frameworks = (
        "keras",
        "tensorflow",
        "jax",
        "torch",
        "transformers",
        "scipy",
        "flax",
    )
    bad = [m for m in loaded if m.split(".")[0] in frameworks]
    assert bad == []


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_every_public_name_is_exported(name: str) -> None:
    module = importlib.import_module(name)
    assert sorted(module.__all__) == sorted(set(module.__all__))
    for attr in module.__all__:
        assert getattr(smpcore, attr) is getattr(module, attr)
        assert attr in smpcore.__all__
    defined = [
        n
        for n, obj in vars(module).items()
        if inspect.isfunction(obj)
        and obj.__module__ == name
        and not n.startswith("_")
    ]
    assert sorted(defined) == sorted(
        n for n in module.__all__ if inspect.isfunction(getattr(module, n))
    )


def test_all_is_complete_and_sorted() -> None:
    assert smpcore.__all__ == sorted(smpcore.__all__)
    for attr in smpcore.__all__:
        assert hasattr(smpcore, attr)


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    if name in PUBLIC_MODULES:
        assert result.attempted > 0


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_public_functions_have_docstrings_with_sections(name: str) -> None:
    module = importlib.import_module(name)
    for attr in module.__all__:
        obj = getattr(module, attr)
        if not inspect.isfunction(obj):
            continue
        doc = inspect.getdoc(obj) or ""
        assert "Raises:" in doc or "Returns:" in doc, attr
        hints = obj.__annotations__
        assert "return" in hints, attr
