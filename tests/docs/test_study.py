"""The accuracy study's published figures come from its committed records.

Issue 7's done-when: the committed records regenerate the tables, and every
figure quoted comes from them. These tests regenerate, from
``benchmarks/results/study/records/``, the Markdown table included in the
docs and the README's headline table, and compare them with what is
committed; they also check that each record was made with its cell's
configuration (so a changed harness setting cannot silently sit beside old
records). No Keras, no training: the harness is imported, not run.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "benchmarks" / "study" / "run.py"


@pytest.fixture(scope="module")
def study() -> Any:
    spec = importlib.util.spec_from_file_location("study_run", HARNESS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def records(study: Any) -> dict[str, dict[str, Any]]:
    out = study.load_records()
    assert out, "no study records found"
    return out


def test_committed_table_is_regenerated_from_the_records(
    study: Any, records: dict[str, dict[str, Any]]
) -> None:
    committed = (ROOT / "benchmarks/results/study/table.md").read_text()
    assert committed == study.table(records), (
        "table.md is stale: run `python benchmarks/study/run.py --table`"
    )


def test_readme_table_is_regenerated_from_the_records(
    study: Any, records: dict[str, dict[str, Any]]
) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(study.README_START) + len(study.README_START)
    end = readme.index(study.README_END)
    assert readme[start:end] == "\n" + study.readme_table(records), (
        "README's study table is stale: run "
        "`python benchmarks/study/run.py --table`"
    )


def test_every_record_was_made_with_its_cells_configuration(
    study: Any, records: dict[str, dict[str, Any]]
) -> None:
    by_name = {cell.name: cell for cell in study.cells()}
    for name, record in records.items():
        settings = dict(by_name[name].settings())
        teacher = settings.pop("teacher", None)
        config = record["config"]
        differs = {
            k: (config.get(k), v)
            for k, v in settings.items()
            if config.get(k) != v
        }
        assert not differs, f"{name}: record config differs {differs}"
        if teacher is not None:  # an absolute path on the machine that ran it
            assert os.path.basename(config["teacher"]) == os.path.basename(
                teacher
            ), name
        assert record["eval_split"] == "test", name
        metric = next(iter(record["metrics"].values()))
        assert 0.0 <= metric <= 1.0, name


def test_off_target_runs_are_shown_with_the_density_they_reached(
    study: Any,
) -> None:
    runs = study.Runs()
    runs.append(0.856)
    runs.reached.append(0.6834)
    assert study._fmt(runs, 10) == "85.6 (kept 68.3%)"
    assert study._short(runs, 10) == "85.6 (kept 68%)"
    on_target = study.Runs()
    on_target += [0.78, 0.80]
    on_target.reached += [0.1, 0.1]
    assert study._fmt(on_target, 10) == "79.0 ± 1.0 (n=2)"


def test_extra_records_are_listed_but_not_grid_cells(
    study: Any, records: dict[str, dict[str, Any]]
) -> None:
    extra = study.load_extra_records()
    assert not set(extra) & set(records)
    for name, record in extra.items():
        assert f"| {name} |" in study.table(records), name
        json.dumps(record)  # plain JSON
