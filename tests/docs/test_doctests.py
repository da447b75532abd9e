"""Every ``>>>`` example in the docstrings of smpcore and smp_keras runs.

Walks both packages (every module and subpackage that exists) and runs the
standard library's ``doctest`` on each, with ``ELLIPSIS`` and
``NORMALIZE_WHITESPACE``. ``smp_keras`` examples run under whatever
``KERAS_BACKEND`` is set, so this file is not marked ``docs``: run it per
backend. A module that fails to import is a failure, not a skip.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

PACKAGES = ("smpcore", "smp_keras")
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _module_names() -> list[str]:
    names = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        names.append(package_name)
        for info in pkgutil.walk_packages(
            package.__path__, prefix=f"{package_name}.", onerror=lambda _: None
        ):
            if info.name.rsplit(".", 1)[-1] == "__main__":
                continue  # importing it would run the command
            names.append(info.name)
    return sorted(names)


MODULES = _module_names()


def test_both_packages_have_modules() -> None:
    assert len([m for m in MODULES if m.startswith("smpcore.")]) >= 5
    assert len([m for m in MODULES if m.startswith("smp_keras.")]) >= 1


@pytest.mark.parametrize("modname", MODULES)
def test_docstring_examples_run(modname: str) -> None:
    module = importlib.import_module(modname)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report: list[str] = []
    for test in finder.find(module, modname):
        runner.run(test, out=report.append)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, "".join(report)
