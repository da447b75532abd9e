"""What the BERT layers share: activations and the weight initializer.

:data:`ACTIVATIONS` names the supported feed-forward (and MLM transform)
activations and :func:`activation_fn` is the one dispatch from a name to its
`keras.ops` function, used by the encoder layers, the MLM head and the
plain-Keras export. `"gelu"` is the exact (erf) GELU of BERT and of Hugging
Face's PyTorch `BertModel` (the test oracle); `"gelu_approximate"` is the
tanh approximation. Every BERT layer draws its initial weights from
:func:`truncated_normal`.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

__all__ = [
    "ACTIVATIONS",
    "activation_fn",
    "check_activation",
    "truncated_normal",
]

#: Supported feed-forward activations.
ACTIVATIONS = ("gelu", "gelu_approximate", "relu")


def activation_fn(name: str) -> Any:
    """The `keras.ops` function of a feed-forward activation name.

    The one dispatch from `ACTIVATIONS` names to functions (the backbone
    and the plain-Keras export both use it).

    Raises:
        ValueError: For a name not in `ACTIVATIONS`.
    """
    name = check_activation(name)
    if name == "relu":
        return ops.relu
    return lambda x: ops.gelu(x, approximate=name == "gelu_approximate")


def check_activation(activation: str) -> str:
    """Returns `activation` if it is one of `ACTIVATIONS`.

    Raises:
        ValueError: For a name not in `ACTIVATIONS`.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"`activation` must be one of {ACTIVATIONS}. Received: "
            f"activation={activation!r}"
        )
    return activation


def truncated_normal(stddev: float) -> keras.initializers.Initializer:
    """BERT's weight initializer: a normal truncated at two `stddev`.

    `stddev` is the checkpoint's `initializer_range` (0.02 for BERT).
    """
    return keras.initializers.TruncatedNormal(stddev=stddev)
