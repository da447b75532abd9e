"""smp_keras: Static Model Pruning (Jiang et al., ACL 2023) for Keras 3.

A frozen pre-trained model is adapted to a task only by learning which of
its weights to keep. The Keras frontend of the method:

* :class:`MaskedDense`: a dense layer with a frozen kernel, trainable
  scores and a top-k (or threshold, or magnitude) mask, and
  :class:`MaskedEinsumDense`, the same for `EinsumDense`;
* :func:`mask_model`: any Keras model (or keras-hub backbone) with its
  `Dense`/`EinsumDense` layers masked, and :func:`bake`, its inverse;
* :class:`SparsityScheduler`: density and regulariser schedules, with the
  SMP-L (uniform), SMP-S and global allocations;
* :class:`ThresholdScheduler`: the threshold methods' step schedule;
* :mod:`smp_keras.objective`: the score regulariser and distillation;
* :mod:`smp_keras.model_utils`: reports and mask artifacts;
* :mod:`smp_keras.api`: the end-to-end job (`prune`, `evaluate`, `export`,
  `report`, `demo`) behind the `smp` command.

Everything is written in `keras.ops` and runs on TensorFlow, JAX and
PyTorch. The NumPy core of the method is :mod:`smpcore`.

The names below are imported lazily, on first use, so that
``import smp_keras.data`` or the `smp` command do not pay for importing
Keras (and its backend) until they need it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> module that defines it (a module name itself for `ops`).
_LAZY = {
    "ALLOCATIONS": "smp_keras.callbacks",
    "SparsityScheduler": "smp_keras.callbacks",
    "ThresholdScheduler": "smp_keras.callbacks",
    "matrix_group": "smp_keras.callbacks",
    "PRUNING_METHODS": "smp_keras.layers",
    "MaskedDense": "smp_keras.layers",
    "MaskedEinsumDense": "smp_keras.layers",
    "einsum_matrix_shape": "smp_keras.layers",
    "bake": "smp_keras.transform",
    "mask_model": "smp_keras.transform",
    "maskable_layers": "smp_keras.transform",
    "format_sparsity_report": "smp_keras.model_utils",
    "load_masks": "smp_keras.model_utils",
    "mask_mismatches": "smp_keras.model_utils",
    "masked_layers": "smp_keras.model_utils",
    "named_masked_layers": "smp_keras.model_utils",
    "override_masks": "smp_keras.model_utils",
    "save_masks": "smp_keras.model_utils",
    "sparsity_report": "smp_keras.model_utils",
    "SMPDistiller": "smp_keras.objective",
    "make_distiller": "smp_keras.objective",
    "regularization_term": "smp_keras.objective",
    "set_regularization_weight": "smp_keras.objective",
    "nm_mask": "smp_keras.ops",
    "order_keys": "smp_keras.ops",
    "straight_through": "smp_keras.ops",
    "topk_mask": "smp_keras.ops",
}
_SUBMODULES = ("ops",)

__all__ = [
    "ALLOCATIONS",
    "PRUNING_METHODS",
    "MaskedDense",
    "MaskedEinsumDense",
    "SMPDistiller",
    "SparsityScheduler",
    "ThresholdScheduler",
    "bake",
    "einsum_matrix_shape",
    "format_sparsity_report",
    "load_masks",
    "make_distiller",
    "mask_mismatches",
    "mask_model",
    "maskable_layers",
    "masked_layers",
    "matrix_group",
    "named_masked_layers",
    "nm_mask",
    "ops",
    "order_keys",
    "override_masks",
    "regularization_term",
    "save_masks",
    "set_regularization_weight",
    "sparsity_report",
    "straight_through",
    "topk_mask",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from smp_keras import ops
    from smp_keras.callbacks import (
        ALLOCATIONS,
        SparsityScheduler,
        ThresholdScheduler,
        matrix_group,
    )
    from smp_keras.layers import (
        PRUNING_METHODS,
        MaskedDense,
        MaskedEinsumDense,
        einsum_matrix_shape,
    )
    from smp_keras.model_utils import (
        format_sparsity_report,
        load_masks,
        mask_mismatches,
        masked_layers,
        named_masked_layers,
        override_masks,
        save_masks,
        sparsity_report,
    )
    from smp_keras.objective import (
        SMPDistiller,
        make_distiller,
        regularization_term,
        set_regularization_weight,
    )
    from smp_keras.ops import (
        nm_mask,
        order_keys,
        straight_through,
        topk_mask,
    )
    from smp_keras.transform import bake, mask_model, maskable_layers


def __getattr__(name: str) -> Any:
    """Imports a public name on first access (PEP 562)."""
    if name in _SUBMODULES:
        value: Any = importlib.import_module(f"{__name__}.{name}")
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
