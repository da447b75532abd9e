"""The N:M and training-free study (issue 21): does learning masks beat
the one-shot state of the art at the same sparsity?

On all-MiniLM-L6-v2, with the job's default recipe (``decay`` of
`recipe.py`: linear decay of the learning rate, bucketed padding) and the
accuracy study's budget (300 steps of batch 32):

- Wanda (Sun et al., 2024) one shot, no training: 128 calibration
  examples, the largest |W|·‖X‖ per output unit, at 50%, 10% and 3%
  remaining weights and at 2:4. Its record also holds the one-shot
  magnitude baseline of the same structure (``magnitude``: the largest |W|
  per matrix, or per group of 4 at 2:4, evaluated without training);
- at 2:4: SMP-L (frozen weights, scores trained through the N:M mask)
  from magnitude and from Wanda scores, against magnitude pruning with
  fine-tuning (the weights trained under their own 2:4 magnitude mask)
  and Wanda with fine-tuning (``wanda-fine-tune``: Wanda's one-shot 2:4
  masks, fixed, the kept weights trained under them);
- ``score_init="wanda"`` against the default ``"magnitude"`` for SMP-S at
  10% (the magnitude-initialised cells are `recipe.py`'s ``decay`` cells
  at 300 steps), on Rotten Tomatoes, SNLI and the tweets (a task the
  defaults were never tuned on).

Each cell is one run of the job (`smp_keras.api.prune`); its record goes
to ``benchmarks/results/study/nm_wanda/<cell>.json`` (written atomically;
existing records are skipped, so the harness resumes).

Usage::

    KERAS_BACKEND=jax python benchmarks/study/nm_wanda.py --list
    KERAS_BACKEND=jax python benchmarks/study/nm_wanda.py 'rt-wanda-*'
    python benchmarks/study/nm_wanda.py --table
"""

from __future__ import annotations

import os
import sys
from typing import Any, NamedTuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import recipe  # noqa: E402  (the recipe study: tasks, recipes, records)
import run as study  # noqa: E402  (the accuracy study's helpers)

OUT = os.path.join(study.OUT, "nm_wanda")
RUNS = os.path.join(study.ROOT, "runs", "nm_wanda")
STEPS = 300
#: Study method -> overrides of the job's config.
METHODS: dict[str, dict[str, Any]] = {
    "wanda": {"method": "wanda"},
    "smp-l": {"method": "smp-l"},
    "smp-s": {"method": "smp-s"},
    "magnitude": {"method": "magnitude"},
    "wanda-fine-tune": {"method": "wanda-fine-tune"},
}
LABELS = {
    "wanda": "Wanda (one shot)",
    "smp-l": "SMP-L (frozen)",
    "smp-s": "SMP-S (frozen)",
    "magnitude": "magnitude + fine-tuning",
    "wanda-fine-tune": "Wanda + fine-tuning",
}


class Cell(NamedTuple):
    task: str  # key of recipe.TASKS
    method: str  # key of METHODS
    sparsity: str  # percent kept ("10") or an N:M structure ("2:4")
    init: str = "magnitude"  # score_init of a scored, trained method
    seed: int = 0

    @property
    def one_shot(self) -> bool:
        return self.method == "wanda"

    @property
    def steps(self) -> int:
        return 0 if self.one_shot else STEPS

    @property
    def name(self) -> str:
        sparsity = self.sparsity.replace(":", "of")
        unscored = self.one_shot or self.method in (
            "magnitude",
            "wanda-fine-tune",
        )
        init = "" if unscored else f"-{self.init}"
        return (
            f"{self.task}-{self.method}-{sparsity}{init}-{self.steps}"
            f"-s{self.seed}"
        )

    def settings(self) -> dict[str, Any]:
        settings = {
            **recipe.BASE,
            **recipe.TASKS[self.task],
            **METHODS[self.method],
            **recipe.RECIPES["decay"],
            "seed": self.seed,
            "score_init": self.init,
        }
        if not self.one_shot:
            settings["steps"] = self.steps
        if ":" in self.sparsity:
            settings["structure"] = self.sparsity
        else:
            settings["density"] = int(self.sparsity) / 100
        return settings


def cells() -> list[Cell]:
    """Every cell, in the order they are run (cheapest first)."""
    out = []
    for task in ("rt", "snli"):
        out += [Cell(task, "wanda", s) for s in ("50", "10", "3", "2:4")]
    for task in ("rt", "snli"):
        out.append(Cell(task, "smp-l", "2:4"))
        out.append(Cell(task, "magnitude", "2:4"))
        out.append(Cell(task, "smp-l", "2:4", "wanda"))
    for task in ("tweets", "rt", "snli"):
        out.append(Cell(task, "smp-s", "10", "wanda"))
    out += [Cell("tweets", "wanda", s) for s in ("10", "2:4")]
    out += [Cell(t, "wanda-fine-tune", "2:4") for t in ("rt", "snli")]
    return out


def _record_path(cell: Cell) -> str:
    return os.path.join(OUT, f"{cell.name}.json")


def run_cell(cell: Cell, reproduce: bool = False) -> dict[str, Any]:
    """Runs `cell` unless its record exists (or `reproduce`: then the
    record is compared, not rewritten); returns the record."""
    path = _record_path(cell)
    if os.path.exists(path) and not reproduce:
        return study.read_record(path)
    recipe.check_data(cell.task)
    out = os.path.join(RUNS, cell.name)
    record = recipe.job_record(cell.settings(), out, cell.name, True)
    return study.keep_record(cell.name, path, record, os.path.exists(path))


# === Aggregation ===


def load_records() -> dict[str, dict[str, Any]]:
    return recipe.load_cell_records(cells(), _record_path)


def _accuracy(record: dict[str, Any] | None, key: str = "metrics") -> str:
    if record is None or not record.get(key):
        return "–"
    return f"{100 * float(next(iter(record[key].values()))):.1f}"


def _recipe_record(task: str, method: str) -> dict[str, Any] | None:
    """`recipe.py`'s seed-0 ``decay`` record at 300 steps (SMP-S at 10%
    from magnitude scores, or dense fine-tuning)."""
    cell = recipe.Cell(task, method, "decay", STEPS)
    path = recipe._record_path(cell)
    return study.read_record(path) if os.path.exists(path) else None


#: Columns of the summary: (title, how to read the cell's value).
SPARSITIES = ("50", "10", "3", "2:4")


def summary_table(records: dict[str, dict[str, Any]]) -> str:
    """Test accuracy (%) per task and sparsity: the training-free methods
    against the trained ones."""

    def get(task: str, method: str, sparsity: str, init: str = "magnitude"):
        return records.get(Cell(task, method, sparsity, init).name)

    lines = [
        "| task | kept | magnitude, one shot | Wanda, one shot | "
        "magnitude + fine-tuning | Wanda + fine-tuning | "
        "SMP-L (magnitude init) | SMP-L (Wanda init) | "
        "SMP-S (magnitude init) | SMP-S (Wanda init) | dense fine-tuning |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for task in recipe.TASKS:
        dense = _recipe_record(task, "fine-tune")
        for sparsity in SPARSITIES:
            wanda = get(task, "wanda", sparsity)
            row = [
                _accuracy(wanda, "magnitude"),
                _accuracy(wanda),
                _accuracy(get(task, "magnitude", sparsity)),
                _accuracy(get(task, "wanda-fine-tune", sparsity)),
                _accuracy(get(task, "smp-l", sparsity)),
                _accuracy(get(task, "smp-l", sparsity, "wanda")),
                _accuracy(
                    _recipe_record(task, "smp-s") if sparsity == "10" else None
                ),
                _accuracy(get(task, "smp-s", sparsity, "wanda")),
                _accuracy(dense),
            ]
            if all(v == "–" for v in row[:-1]):
                continue
            kept = sparsity if ":" in sparsity else f"{sparsity}%"
            lines.append(
                f"| {recipe.TASK_NAMES[task]} | {kept} | "
                + " | ".join(row)
                + " |"
            )
    return "\n".join(lines) + "\n"


def table(records: dict[str, dict[str, Any]]) -> str:
    """One row per record."""
    lines = [
        "| cell | test accuracy (%) | one-shot magnitude (%) | zero-shot (%) "
        "| majority (%) | density | minutes |",
        "|---|---|---|---|---|---|---|",
    ]
    for cell in cells():
        record = records.get(cell.name)
        if record is None:
            continue
        lines.append(
            f"| {cell.name} | {_accuracy(record)} | "
            f"{_accuracy(record, 'magnitude')} | "
            f"{_accuracy(record, 'zero_shot')} | "
            f"{_accuracy(record, 'majority')} | "
            f"{float(record['density']):.4f} | "
            f"{record['wall_time'] / 60:.1f} |"
        )
    return "\n".join(lines) + "\n"


def report(records: dict[str, dict[str, Any]]) -> str:
    return (
        "Test accuracy (%), all-MiniLM-L6-v2, seed 0; trained cells: 300 "
        "steps, the job's default recipe. SMP-S (magnitude init) and dense "
        "fine-tuning are `recipe.py`'s `decay` cells at 300 steps.\n\n"
        + summary_table(records)
        + "\nEvery run:\n\n"
        + table(records)
    )


def plot(records: dict[str, dict[str, Any]], path: str) -> None:
    """Test accuracy against the fraction kept: one-shot magnitude and
    Wanda (lines), SMP-S and the 2:4 methods (markers), per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = [
        t
        for t in recipe.TASKS
        if any(c.task == t and c.name in records for c in cells())
    ]
    if not tasks:
        return
    fig, axes = plt.subplots(
        1, len(tasks), figsize=(5 * len(tasks), 4), squeeze=False
    )
    for ax, task in zip(axes[0], tasks, strict=True):
        for color, (key, label) in enumerate(
            (
                ("magnitude", "magnitude, one shot"),
                ("metrics", "Wanda, one shot"),
            )
        ):
            points = []
            for sparsity in ("50", "10", "3"):
                record = records.get(Cell(task, "wanda", sparsity).name)
                if record is not None and record.get(key):
                    points.append(
                        (int(sparsity), 100 * next(iter(record[key].values())))
                    )
            if points:
                ax.plot(
                    *zip(*points, strict=True),
                    "--o",
                    color=f"C{color}",
                    label=label,
                )
        smp_s = _recipe_record(task, "smp-s")
        if smp_s is not None:
            ax.plot(
                [10],
                [float(_accuracy(smp_s))],
                "*",
                ms=12,
                color="C2",
                label="SMP-S, 300 steps",
            )
        markers = (
            ("wanda", "magnitude", "Wanda 2:4, one shot", "C1", "s"),
            (
                "magnitude",
                "magnitude",
                "magnitude 2:4 + fine-tuning",
                "C3",
                "^",
            ),
            (
                "wanda-fine-tune",
                "magnitude",
                "Wanda 2:4 + fine-tuning",
                "C6",
                "P",
            ),
            ("smp-l", "magnitude", "SMP-L 2:4, 300 steps", "C4", "D"),
            ("smp-l", "wanda", "SMP-L 2:4 (Wanda init)", "C5", "v"),
        )
        for method, init, label, color, marker in markers:
            record = records.get(Cell(task, method, "2:4", init).name)
            if record is not None:
                ax.plot(
                    [50],
                    [float(_accuracy(record))],
                    marker,
                    ms=8,
                    color=color,
                    label=label,
                )
        dense = _recipe_record(task, "fine-tune")
        if dense is not None:
            ax.axhline(
                float(_accuracy(dense)),
                color="k",
                ls=":",
                label="dense fine-tuning",
            )
        ax.set_xscale("log")
        ax.set_xticks([3, 10, 50])
        ax.set_xticklabels(["3%", "10%", "50% / 2:4"])
        ax.invert_xaxis()
        ax.set_xlabel("weights kept in the encoder")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"all-MiniLM-L6-v2, {recipe.TASK_NAMES[task]}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    study.smpcore.atomic_write(
        path, lambda f: fig.savefig(f, format="png", dpi=100)
    )
    plt.close(fig)


def write_outputs() -> str:
    records = load_records()
    return recipe.write_report(
        OUT, report(records), plot, records, "nm_wanda.png"
    )


def main(argv: list[str] | None = None) -> int:
    return study.run_harness(
        __doc__, argv, cells(), _record_path, run_cell, write_outputs
    )


if __name__ == "__main__":
    sys.exit(main())
