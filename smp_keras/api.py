"""The Python API of the pruning job; the `smp` command is a thin layer on it.

Prune a pre-trained BERT for a task without fine-tuning it, evaluate the
result, export it, report its sparsity, or run the embedded default:

>>> from smp_keras.api import PruneConfig
>>> config = PruneConfig(task="rotten_tomatoes", density=0.1, steps=600)
>>> config.run_dir()
'runs/rotten_tomatoes-smp-s-0.1'

Then (minutes on a CPU)::

    from smp_keras.api import prune, evaluate, export, report
    result = prune(config)                  # writes runs/<...>/
    print(result.summary())
    evaluate(result.run_dir, split="test")["metrics"]
    export(result.run_dir, hf_folder="pruned-hf", keras_path="pruned.keras")
    print(report(result.artifact_path)["text"])

Names:

- :class:`PruneConfig`, :data:`DEFAULTS`, :data:`METHODS`: settings;
  :data:`METHOD_TABLE` / :class:`Method`: what each method builds;
- :func:`prune` -> :class:`PruneResult`; :func:`load_result` reads one
  back from a run directory;
- :func:`evaluate`, :func:`export`, :func:`report`, :func:`demo`;
- :func:`initialize_scores`: magnitude (or Wanda) score initialisation of
  a model; :func:`activation_norms`: the calibration pass that measures
  Wanda's input norms of every `MaskedDense`;
- :class:`ScoreWeightAdam`: Adam with separate score/weight learning rates.

Like :mod:`smp_keras`, the names are imported on first use: the settings
(`PruneConfig`, `DEFAULTS`, `METHODS`) and `report` need no Keras, so the
`smp` command goes through this module and still parses its arguments
(and picks the backend) before Keras is imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Public name -> module that defines it.
_LAZY = {
    "DEFAULTS": "smp_keras.pruning.config",
    "activation_norms": "smp_keras.pruning.calibration",
    "METHODS": "smp_keras.pruning.config",
    "PruneConfig": "smp_keras.pruning.config",
    "demo": "smp_keras.pruning.demo",
    "evaluate": "smp_keras.pruning.evaluate",
    "export": "smp_keras.pruning.evaluate",
    "load_pruned_model": "smp_keras.pruning.evaluate",
    "METHOD_TABLE": "smp_keras.pruning.methods",
    "Method": "smp_keras.pruning.methods",
    "ScoreWeightAdam": "smp_keras.pruning.model",
    "initialize_scores": "smp_keras.pruning.model",
    "report": "smp_keras.pruning.report",
    "PruneResult": "smp_keras.pruning.result",
    "load_result": "smp_keras.pruning.result",
    "RunDirectoryError": "smp_keras.pruning.run_dir",
    "prune": "smp_keras.pruning.train",
}

__all__ = [
    "DEFAULTS",
    "METHODS",
    "METHOD_TABLE",
    "Method",
    "PruneConfig",
    "PruneResult",
    "RunDirectoryError",
    "ScoreWeightAdam",
    "activation_norms",
    "demo",
    "evaluate",
    "export",
    "initialize_scores",
    "load_pruned_model",
    "load_result",
    "prune",
    "report",
]

if TYPE_CHECKING:  # what type checkers and IDEs see
    from smp_keras.pruning.calibration import activation_norms
    from smp_keras.pruning.config import DEFAULTS, METHODS, PruneConfig
    from smp_keras.pruning.demo import demo
    from smp_keras.pruning.evaluate import (
        evaluate,
        export,
        load_pruned_model,
    )
    from smp_keras.pruning.methods import METHOD_TABLE, Method
    from smp_keras.pruning.model import ScoreWeightAdam, initialize_scores
    from smp_keras.pruning.report import report
    from smp_keras.pruning.result import PruneResult, load_result
    from smp_keras.pruning.run_dir import RunDirectoryError
    from smp_keras.pruning.train import prune


def __getattr__(name: str) -> Any:
    """Imports a public name on first access (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
