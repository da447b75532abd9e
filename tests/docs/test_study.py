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
import re
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
        config = study.record_config(record)
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


def test_the_readme_bolds_only_runs_held_to_the_columns_budget(
    study: Any,
) -> None:
    # A run that kept more weights than its column wins on accuracy but is
    # not the best pruned model at that budget: it is shown with the
    # fraction it kept, and the best run on target is bold instead.
    def record(metric: float, density: float) -> dict[str, Any]:
        return {"metrics": {"accuracy": metric}, "density": density}

    records = {
        "rt-smp-s-50-s0": record(0.80, 0.5),
        "rt-soft-movement-50-s0": record(0.90, 0.54),
        "rt-movement-50-s0": record(0.70, 0.5),
    }
    row = next(
        line
        for line in study.readme_table(records).splitlines()
        if line.startswith("| Rotten Tomatoes | 50% |")
    )
    assert "**80.0**" in row
    assert "90.0 (kept 54%)" in row and "**90.0" not in row


def test_extra_records_are_listed_but_not_grid_cells(
    study: Any, records: dict[str, dict[str, Any]]
) -> None:
    extra = study.load_extra_records()
    assert not set(extra) & set(records)
    for name, record in extra.items():
        assert f"| {name} |" in study.table(records), name
        json.dumps(record)  # plain JSON


#: Figures the prose may quote that are not this study's: the paper's
#: BERT-base headline numbers (its Table 1, as summarised for the team in
#: SMP_METHOD section 7) and the learnability page's budget estimate.
NOT_FROM_RECORDS = {
    "84.5": "paper: MNLI dense fine-tuning",
    "85.7": "paper: MNLI SMP-S + KD at 50%",
    "83.7": "paper: MNLI SMP-S + KD at 10%",
    "81.8": "paper: MNLI SMP-S + KD at 3%",
    "81.2": "paper: MNLI soft movement at 10%",
    "79.5": "paper: MNLI soft movement at 3%",
    "78.3": "paper: MNLI magnitude at 10%",
    "69.4": "paper: MNLI magnitude at 3%",
    "2.5": "paper: MNLI SMP-S + KD over soft movement at 10% (83.7 - 81.2)",
    "2.3": "learnability page: the paper's budget in days of this CPU; "
    "paper: MNLI SMP-S + KD over soft movement at 3% (81.8 - 79.5)",
}
DECIMAL = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.]*\d)")


def _figures(text: str) -> set[float]:
    """Every decimal figure in ``text``, and its one-decimal rounding."""
    values = {float(x) for x in DECIMAL.findall(text)}
    return values | {round(v, 1) for v in values}


@pytest.fixture(scope="module")
def published() -> set[float]:
    """Every figure of the study's, the recipe study's and the
    learnability study's tables."""
    tables = (
        "benchmarks/results/study/table.md",
        "benchmarks/results/study/recipe/table.md",
        "benchmarks/results/study/nm_wanda/table.md",
        "benchmarks/results/learnability.md",
    )
    return set().union(*(_figures((ROOT / t).read_text()) for t in tables))


@pytest.fixture(scope="module")
def measured() -> set[float]:
    """Every figure of the performance benchmarks' tables."""
    return _figures((ROOT / "benchmarks/results/performance.md").read_text())


def _stale(
    text: str, published: set[float], measured: set[float] = frozenset()
) -> list[str]:
    """The figures of ``text`` that no table of records backs.

    A figure is backed when it is an entry (or its one-decimal rounding) of
    an accuracy table (``published``) or a performance table
    (``measured``), a difference of two accuracy entries followed by
    "point(s)", or listed in NOT_FROM_RECORDS. Figures below 1 are
    fractions and hyper-parameters, not results (accuracies are quoted in
    percent).
    """
    stale = []
    for m in DECIMAL.finditer(text):
        figure, value = m.group(0), float(m.group(0))
        after = text[m.end() : m.end() + 8].lstrip()
        if value < 1 or figure in NOT_FROM_RECORDS:
            continue
        if value in published or value in measured:
            continue
        if after.startswith("point") and any(
            abs(abs(a - b) - value) <= 0.11
            for a in published
            for b in published
        ):
            continue
        stale.append(figure)
    return stale


def _prose() -> dict[str, str]:
    doc = (ROOT / "docs/study.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- study-table: end -->")
    return {
        "docs/study.md (Agreement with the paper)": doc[
            doc.index("## Agreement with the paper") :
        ],
        "README.md (after the study table)": readme[
            start : readme.index("## Install", start)
        ],
    }


@pytest.mark.parametrize("where", sorted(_prose()))
def test_every_figure_the_prose_quotes_comes_from_the_records(
    where: str, published: set[float], measured: set[float]
) -> None:
    text = _prose()[where]
    assert DECIMAL.search(text), f"{where}: no figures; did a heading move?"
    stale = _stale(text, published, measured)
    assert not stale, (
        f"{where} quotes figures found in no table of records: {stale}"
    )


def test_the_prose_check_catches_a_figure_no_record_backs(
    published: set[float],
) -> None:
    assert 86.0 in published  # dense fine-tuning on Rotten Tomatoes
    assert _stale("dense fine-tuning reached 86.0%", published) == []
    assert _stale("SMP-S reached 99.9% at 10%", published) == ["99.9"]
    assert _stale("120.5 points ahead", published) == ["120.5"]
    assert _stale("MNLI: 83.7 against 78.3, lr 0.02", published) == []
    # A performance figure is an entry, never a difference of entries.
    assert _stale("17.5x faster", published, {17.5}) == []
    assert _stale("123.4 points ahead", published, {10.0, 133.4}) == ["123.4"]


# === The recipe and budget study (issue 17) ===


def _harness(name: str) -> Any:
    """Imports ``benchmarks/study/<name>.py``."""
    path = ROOT / "benchmarks" / "study" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"study_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _assert_made_with(name: str, record: dict, settings: dict) -> None:
    """`record`'s config has every value of the cell's `settings` (paths
    compared by file name: records store them relative)."""
    settings = dict(settings)
    config = record["config"]
    for key in ("teacher", "output_dir"):  # absolute paths
        if settings.get(key) is not None:
            assert os.path.basename(config[key]) == os.path.basename(
                settings.pop(key)
            ), name
    files = settings.pop("data_files", None)
    if files is not None:
        assert {
            split: os.path.basename(path)
            for split, path in config["data_files"].items()
        } == {s: os.path.basename(p) for s, p in files.items()}, name
    differs = {
        k: (config.get(k), v) for k, v in settings.items() if config.get(k) != v
    }
    assert not differs, f"{name}: record config differs {differs}"
    assert record["eval_split"] == "test", name


@pytest.fixture(scope="module")
def recipe() -> Any:
    return _harness("recipe")


def test_recipe_table_is_regenerated_from_the_records(recipe: Any) -> None:
    records = recipe.load_records()
    assert records, "no recipe records found"
    committed = (ROOT / "benchmarks/results/study/recipe/table.md").read_text()
    assert committed == recipe.report(records), (
        "recipe/table.md is stale: run "
        "`python benchmarks/study/recipe.py --table`"
    )


def test_every_recipe_record_was_made_with_its_cells_configuration(
    recipe: Any,
) -> None:
    by_name = {cell.name: cell for cell in recipe.cells()}
    for name, record in recipe.load_records().items():
        _assert_made_with(name, record, by_name[name].settings())
        if record["config"]["select"] == "best":
            chosen = record["selected"]["step"]
            eligible = [p for p in record["curve"] if p["final_density"]]
            best = max(p["metrics"]["accuracy"] for p in eligible)
            assert chosen in [p["step"] for p in eligible], name
            assert record["selected"]["value"] == best, name


def test_reproducing_a_cell_compares_with_its_record_and_keeps_it(
    recipe: Any, tmp_path: Any, capsys: Any
) -> None:
    # `--reproduce` runs a committed cell again (for its run directory);
    # the committed record is compared, never rewritten.
    study = recipe.study
    path = tmp_path / "cell.json"
    study.write_record(str(path), {"metrics": {"accuracy": 0.75}})
    before = path.read_bytes()
    assert study.reproduced("cell", str(path), {"metrics": {"accuracy": 0.75}})
    assert "equal to the record" in capsys.readouterr().out
    assert not study.reproduced(
        "cell", str(path), {"metrics": {"accuracy": 0.5}}
    )
    assert "differs from the record" in capsys.readouterr().out
    assert not study.reproduced("cell", str(path), {"metrics": {}})
    fresh = {"metrics": {"accuracy": 0.5}}
    assert study.keep_record("cell", str(path), fresh, True) is fresh
    assert path.read_bytes() == before
    new = tmp_path / "new.json"
    study.keep_record("new", str(new), fresh, False)
    assert study.read_record(str(new))["metrics"] == {"accuracy": 0.5}
    args = study.harness_parser("doc").parse_args(["--reproduce", "rt-*"])
    assert args.reproduce and args.cells == ["rt-*"]


def test_a_rerun_teacher_is_compared_with_its_committed_record(
    recipe: Any, tmp_path: Any, monkeypatch: Any, capsys: Any
) -> None:
    # A distilled cell needs its teacher's weights, which live under the
    # git-ignored runs/ and are lost with the machine; the teacher is
    # rerun, and its committed record is compared, never rewritten.
    monkeypatch.setattr(recipe, "OUT", str(tmp_path / "records"))
    monkeypatch.setattr(recipe, "RUNS", str(tmp_path / "runs"))
    cell = recipe.Cell("rt", "smp-s-kd", "decay", 300)
    teacher_path = recipe._record_path(cell.teacher())
    recipe.study.write_record(teacher_path, {"metrics": {"accuracy": 0.8}})
    before = open(teacher_path, "rb").read()
    ran = []

    def fake_run(c: Any, overwrite: bool = False) -> dict[str, Any]:
        ran.append(c.name)
        return {"metrics": {"accuracy": 0.75 if c == cell else 0.79}}

    monkeypatch.setattr(recipe, "_run", fake_run)
    record = recipe.run_cell(cell)
    assert ran == [cell.teacher().name, cell.name]
    assert record["metrics"] == {"accuracy": 0.75}
    assert "rt-fine-tune-100-decay-300-s0" in capsys.readouterr().out
    assert open(teacher_path, "rb").read() == before
    assert recipe.study.read_record(recipe._record_path(cell))["metrics"] == {
        "accuracy": 0.75
    }
    # A teacher run for the first time writes its own record.
    fresh = recipe.Cell("rt", "smp-s-kd", "decay", 1000)
    recipe.run_cell(fresh)
    written = recipe.study.read_record(recipe._record_path(fresh.teacher()))
    assert written["metrics"] == {"accuracy": 0.79}


def test_the_second_seed_of_a_distilled_cell_learns_from_the_same_seed():
    recipe = _harness("recipe")
    cell = recipe.Cell("rt", "smp-s-kd", "decay", 1000, 1)
    assert cell.teacher() == recipe.Cell("rt", "fine-tune", "decay", 1000, 1)
    assert cell.settings()["teacher"].endswith("rt-fine-tune-100-decay-1000-s1")
    served = recipe.Cell("rt", "smp-s", "decay", 300, kept=3)
    assert served.name == "rt-smp-s-3-decay-300-s0"
    assert served.settings()["density"] == 0.03


# === The N:M and training-free study (issue 21) ===


@pytest.fixture(scope="module")
def nm_wanda() -> Any:
    return _harness("nm_wanda")


def test_nm_wanda_table_is_regenerated_from_the_records(nm_wanda: Any) -> None:
    records = nm_wanda.load_records()
    assert records, "no N:M / Wanda records found"
    committed = (
        ROOT / "benchmarks/results/study/nm_wanda/table.md"
    ).read_text()
    assert committed == nm_wanda.report(records), (
        "nm_wanda/table.md is stale: run "
        "`python benchmarks/study/nm_wanda.py --table`"
    )


def test_every_nm_wanda_record_was_made_with_its_cells_configuration(
    nm_wanda: Any,
) -> None:
    by_name = {cell.name: cell for cell in nm_wanda.cells()}
    for name, record in nm_wanda.load_records().items():
        cell = by_name[name]
        _assert_made_with(name, record, cell.settings())
        if ":" in cell.sparsity:  # every matrix keeps exactly n of m
            assert all(v == 0.5 for v in record["allocation"].values()), name
        else:
            assert abs(record["density"] - int(cell.sparsity) / 100) < 2e-3


def _strings(value: Any) -> Any:
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def test_committed_records_hold_no_path_of_the_machine_that_made_them():
    # Paths inside the repository are stored relative to its root
    # (benchmarks/record_io.py), so a record reads the same everywhere.
    results = ROOT / "benchmarks" / "results"
    offenders = []
    for path in sorted(results.rglob("*.json")):
        data = json.loads(path.read_text())
        for text in _strings(data):
            if os.path.isabs(text) and os.sep in text[1:]:
                offenders.append(f"{path.relative_to(ROOT)}: {text}")
    assert not offenders, "\n".join(offenders[:10])
