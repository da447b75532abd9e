"""`PruneResult`: what a pruning run measured and wrote."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from smp_keras.pruning.config import PruneConfig
from smp_keras.pruning.run_dir import METRICS, read_json

__all__ = ["PruneResult", "load_result"]


@dataclasses.dataclass
class PruneResult:
    """The outcome of :func:`smp_keras.api.prune` (also ``metrics.json``).

    Attributes:
        config: The run's config.
        run_dir: The run directory.
        eval_split: The split the metrics were measured on (``test`` when
            the data has a labelled one, else ``validation``).
        metrics: The pruned model's metrics on `eval_split`.
        zero_shot: The unpruned model with the same frozen head.
        magnitude: Magnitude pruning at the final density, no training
            (None for ``fine-tune``).
        majority: The majority class (classification only, else None).
        curve: Learning curve: `{"step", "kept", "size", "density",
            "metrics"}` on the validation split every `eval_every` steps.
        kept: Weights kept in the prunable matrices.
        total: Weights in the prunable matrices.
        artifact_path: The mask artifact (``masks.smpmask``).
        artifact_bytes: Its size in bytes.
        plot_path: The sparsity plot (``sparsity.png``).
        model_dir: Trained weights as a ``transformers`` folder, for the
            methods that train weights (else None).
        wall_time: Seconds this call took (the part after a resume only).
        resumed_from: The step the run resumed from, or None.
        resolved: Values derived at run time (model path, head, steps, ...).
        selected: Which step's masks the run shipped: ``{"select", "step"}``
            and, when chosen on validation, ``"metric"`` and ``"value"``
            (the validation score of that step).
        model: The trained Keras model (None when read from disk).
    """

    config: PruneConfig
    run_dir: str
    eval_split: str
    metrics: dict[str, float]
    zero_shot: dict[str, float]
    magnitude: dict[str, float] | None
    majority: dict[str, float] | None
    curve: list[dict[str, Any]]
    kept: int
    total: int
    artifact_path: str
    artifact_bytes: int
    plot_path: str | None
    model_dir: str | None
    wall_time: float
    resumed_from: int | None = None
    resolved: dict[str, Any] = dataclasses.field(default_factory=dict)
    selected: dict[str, Any] | None = None
    model: Any = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def density(self) -> float:
        """Fraction of the prunable weights kept."""
        return self.kept / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (without the Keras model)."""
        data = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("model", "config")
        }
        data["config"] = self.config.to_dict()
        data["density"] = self.density
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PruneResult:
        """Inverse of :meth:`to_dict` (the model is not restored)."""
        fields = {f.name for f in dataclasses.fields(cls)} - {"model"}
        values = {k: v for k, v in data.items() if k in fields}
        values["config"] = PruneConfig.from_dict(data["config"])
        return cls(**values)

    def summary(self) -> str:
        """The results as the lines the demo prints."""
        headline = next(iter(self.metrics))
        rows = [
            ("unpruned model, frozen head (zero-shot)", self.zero_shot),
            (f"after pruning ({self.config.method})", self.metrics),
        ]
        if self.magnitude is not None:
            rows.append(("magnitude pruning, no training", self.magnitude))
        if self.majority is not None:
            rows.append(("majority class", self.majority))
        width = max(len(label) for label, _ in rows) + 1
        structure = self.config.structure
        lines = [
            f"{self.config.task}: {headline} on the {self.eval_split} split "
            f"at {100 * self.density:.2f}% remaining weights"
            + (f" ({structure} structure)" if structure else ""),
        ]
        lines += [
            f"  {label + ':':<{width}} {_pct(values.get(headline))}"
            for label, values in rows
        ]
        lines += [
            f"Kept weights:  {self.kept:,} of {self.total:,} "
            f"({100 * self.density:.2f}%)",
            f"Mask artifact: {self.artifact_path} "
            f"({_size(self.artifact_bytes)})",
        ]
        selected = self.selected or {}
        if selected.get("step") not in (None, self.resolved.get("total_steps")):
            lines.append(
                f"Selected:      step {selected['step']} of "
                f"{self.resolved.get('total_steps')} (best validation "
                f"{selected.get('metric')} {_pct(selected.get('value'))})"
            )
        if self.plot_path:
            lines.append(f"Sparsity plot: {self.plot_path}")
        if self.model_dir:
            lines.append(f"Weights:       {self.model_dir}")
        lines.append(f"Run directory: {self.run_dir}")
        return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    if count < 1024**2:
        return f"{count / 1024:.1f} KiB"
    return f"{count / 1024**2:.2f} MiB"


def load_result(run_dir: str | os.PathLike) -> PruneResult:
    """Reads the :class:`PruneResult` of a finished run directory.

    Raises:
        FileNotFoundError: If the run has no ``metrics.json`` (unfinished).
    """
    path = os.path.join(os.fspath(run_dir), METRICS)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{os.fspath(run_dir)!r} holds no finished run ({METRICS} missing)."
        )
    return PruneResult.from_dict(read_json(path))
