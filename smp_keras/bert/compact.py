"""Exact compaction: drop the neurons and heads that the masks provably killed.

A masked BERT keeps its dense shapes: a feed-forward neuron or an attention
head whose weights are all masked still costs its full width in every
matrix product. :func:`compact` removes such structure and rebuilds the
model from standard Keras layers with per-layer widths (feed-forward
neurons and attention heads kept per layer), computing the same outputs as
the masked model up to float rounding. Only what is provably exact is
removed; a weight counts as dead when its masked value, ``kernel * mask``,
is zero. Keras kernels are `(in, out)`.

Feed-forward neuron `j` (intermediate width `I`):

- **output-dead**: row `j` of the output kernel is all zero. The neuron
  adds nothing: dropped.
- **input-dead**: column `j` of the intermediate kernel is all zero. The
  neuron outputs the constant ``act(b_j)`` for every token; its
  contribution ``act(b_j) * W_out[j, :]`` is folded into the output bias,
  then the neuron is dropped.

Attention head `h` (its `head_dim` columns of the query, key and value
kernels, its rows of the attention-output kernel):

- **output-dead**: its rows of the attention-output kernel are all zero.
  The head adds nothing: dropped.
- **value-dead**: its value-kernel columns are all zero, so every token's
  value is the head's value bias `b_v`. Attention probabilities sum to 1,
  so the head's context is `b_v` for every example with at least one
  unpadded token (and zero for an example that is all padding, as in
  :class:`~smp_keras.bert.BertTransformerLayer`): the head adds
  ``b_v @ W_o[head rows]`` gated by "has a valid token". That constant is
  kept as one vector per layer (a `Dense` of the gate), the head dropped.

Not removed, because they are not exact: a head whose query kernel is
masked (its logits ``b_q . k`` still vary with the keys), a head whose key
kernel is masked (uniform attention over the unpadded tokens: the mean of
the values, which varies with the input), and partially masked heads or
neurons (narrower heads would need per-head widths that standard layers do
not have).

The compacted model is a functional `keras.Model` of standard layers
(`Embedding`, `EinsumDense`, `Dense`, `LayerNormalization`, a few
`keras.ops` calls): it runs on every backend and its ``.keras`` file
(:func:`save_compact_keras`) loads with ``keras.saving.load_model`` without
`smp_keras`. A Hugging Face folder cannot hold it: ``transformers``' BERT
has one head count and one intermediate size for all layers (and
``transformers`` 5 removed ``pruned_heads``), so
:func:`~smp_keras.bert.export_huggingface` keeps the dense shapes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np
from keras import ops

from smp_keras.bert.backbone import BertBackbone
from smp_keras.bert.export import (
    baked_weights,
    check_keras_path,
    numpy_value,
    plain_embeddings,
    plain_layer_norm,
    save_keras_atomically,
    task_inputs,
    task_outputs,
)
from smp_keras.bert.layer_utils import activation_fn
from smp_keras.bert.reference_masks import find_backbone
from smp_keras.bert.transformer_layer import _MASK_PENALTY
from smp_keras.layers.sparse_dense import SparseDense, sparse_pays

__all__ = [
    "CompactReport",
    "LayerCompaction",
    "compact",
    "compaction_plan",
    "save_compact_keras",
]


@dataclasses.dataclass(frozen=True)
class LayerCompaction:
    """What compaction keeps and removes in one encoder layer.

    Attributes:
        index: the encoder layer's index.
        num_heads: its attention heads before compaction.
        kept_heads: indices of the heads kept.
        value_dead_heads: heads removed because their value kernel is all
            masked (value bias folded into a gated constant).
        output_dead_heads: heads removed because their attention-output
            rows are all masked.
        intermediate_dim: feed-forward width before compaction.
        kept_neurons: indices of the feed-forward neurons kept.
        input_dead_neurons: neurons removed because their intermediate
            column is all masked (``act(bias)`` folded into the output
            bias).
        output_dead_neurons: neurons removed because their output row is
            all masked.
        parameters_before: parameters of the layer before compaction.
        parameters_after: parameters of the compacted layer.
    """

    index: int
    num_heads: int
    kept_heads: tuple[int, ...]
    value_dead_heads: tuple[int, ...]
    output_dead_heads: tuple[int, ...]
    intermediate_dim: int
    kept_neurons: tuple[int, ...]
    input_dead_neurons: tuple[int, ...]
    output_dead_neurons: tuple[int, ...]
    parameters_before: int
    parameters_after: int

    def to_dict(self) -> dict[str, Any]:
        """The layer's record as JSON-ready builtins."""
        data = dataclasses.asdict(self)
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in data.items()
        }


@dataclasses.dataclass(frozen=True)
class CompactReport:
    """The kept structure of a compacted model, layer by layer.

    Attributes:
        layers: one :class:`LayerCompaction` per encoder layer.
        parameters_before: parameters of the whole rebuilt model without
            compaction (the dense shapes).
        parameters_after: parameters of the compacted model.
        sparse_matrices: `(layer name, density)` of every matrix stored as
            a :class:`~smp_keras.layers.SparseDense` (``compact(...,
            sparse=...)``); empty for a dense compacted model.
    """

    layers: tuple[LayerCompaction, ...]
    parameters_before: int
    parameters_after: int
    sparse_matrices: tuple[tuple[str, float], ...] = ()

    @property
    def heads_removed(self) -> int:
        """Attention heads removed, all layers together."""
        return sum(x.num_heads - len(x.kept_heads) for x in self.layers)

    @property
    def neurons_removed(self) -> int:
        """Feed-forward neurons removed, all layers together."""
        return sum(
            x.intermediate_dim - len(x.kept_neurons) for x in self.layers
        )

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready builtins (`layers` as a list of dicts)."""
        return {
            "layers": [layer.to_dict() for layer in self.layers],
            "heads_removed": self.heads_removed,
            "neurons_removed": self.neurons_removed,
            "parameters_before": self.parameters_before,
            "parameters_after": self.parameters_after,
            "sparse_matrices": [list(x) for x in self.sparse_matrices],
        }

    def table(self) -> str:
        """A fixed-width table: heads and neurons kept, parameters."""
        rows = [
            ("layer", "heads kept", "neurons kept", "params before", "after")
        ]
        for x in self.layers:
            rows.append(
                (
                    str(x.index),
                    f"{len(x.kept_heads)}/{x.num_heads}",
                    f"{len(x.kept_neurons)}/{x.intermediate_dim}",
                    f"{x.parameters_before:,}",
                    f"{x.parameters_after:,}",
                )
            )
        heads = sum(x.num_heads for x in self.layers)
        neurons = sum(x.intermediate_dim for x in self.layers)
        rows.append(
            (
                "model",
                f"{heads - self.heads_removed}/{heads}",
                f"{neurons - self.neurons_removed}/{neurons}",
                f"{self.parameters_before:,}",
                f"{self.parameters_after:,}",
            )
        )
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        lines = [
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
            for row in rows
        ]
        lines.insert(1, "-" * len(lines[0]))
        lines.insert(len(lines) - 1, "-" * len(lines[0]))
        if self.sparse_matrices:
            densities = [d for _, d in self.sparse_matrices]
            lines.append(
                f"sparse kernels: {len(densities)} matrices, "
                f"{100 * min(densities):.1f}-{100 * max(densities):.1f}% "
                "kept"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


@dataclasses.dataclass
class _Layer:
    """The compacted weights of one encoder layer (NumPy, Keras layout)."""

    record: LayerCompaction
    head_dim: int
    query: tuple[np.ndarray, np.ndarray]
    key: tuple[np.ndarray, np.ndarray]
    value: tuple[np.ndarray, np.ndarray]
    attention_output: tuple[np.ndarray, np.ndarray]
    attention_constant: np.ndarray  # added when the example has a token
    intermediate: tuple[np.ndarray, np.ndarray]
    output: tuple[np.ndarray, np.ndarray]


def _indices(flags: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.flatnonzero(flags))


def _compact_layer(block: Any, index: int) -> _Layer:
    query, key, value, attention_output, intermediate, output = (
        baked_weights(layer) for layer in block.masked_layers()
    )
    hidden = query[0].shape[0]
    heads, head_dim = block.num_heads, hidden // block.num_heads

    # === Attention heads ===
    v_kernel = value[0].reshape(hidden, heads, head_dim)
    o_kernel = attention_output[0].reshape(heads, head_dim, hidden)
    output_dead = ~o_kernel.any(axis=(1, 2))
    value_dead = ~v_kernel.any(axis=(0, 2)) & ~output_dead
    kept = ~(output_dead | value_dead)
    v_bias = value[1].reshape(heads, head_dim)
    constant = np.einsum(
        "hk,hkd->d",
        v_bias[value_dead].astype(np.float64),
        o_kernel[value_dead].astype(np.float64),
    ).astype(np.float32)
    columns = np.repeat(kept, head_dim)

    # === Feed-forward neurons ===
    out_dead = ~output[0].any(axis=1)
    in_dead = ~intermediate[0].any(axis=0) & ~out_dead
    neurons = ~(out_dead | in_dead)
    out_bias = output[1]
    if in_dead.any():
        act = activation_fn(block.activation)
        level = ops.convert_to_numpy(
            act(ops.convert_to_tensor(intermediate[1][in_dead]))
        ).astype(np.float64)
        folded = level @ output[0][in_dead].astype(np.float64)
        out_bias = (out_bias.astype(np.float64) + folded).astype(np.float32)

    width = int(neurons.sum())
    n_heads = int(kept.sum())
    before = 4 * hidden * hidden + 4 * hidden  # query, key, value, output
    before += 2 * hidden * intermediate[0].shape[1] + intermediate[0].shape[1]
    before += hidden + 4 * hidden  # FFN output bias, two LayerNorms
    after = 4 * n_heads * head_dim * (hidden + 1) - n_heads * head_dim
    after += hidden  # attention-output bias
    after += hidden if constant.any() or not n_heads else 0  # constant
    after += 2 * hidden * width + width + hidden + 4 * hidden
    record = LayerCompaction(
        index=index,
        num_heads=heads,
        kept_heads=_indices(kept),
        value_dead_heads=_indices(value_dead),
        output_dead_heads=_indices(output_dead),
        intermediate_dim=int(intermediate[0].shape[1]),
        kept_neurons=_indices(neurons),
        input_dead_neurons=_indices(in_dead),
        output_dead_neurons=_indices(out_dead),
        parameters_before=before,
        parameters_after=after,
    )
    return _Layer(
        record=record,
        head_dim=head_dim,
        query=(query[0][:, columns], query[1][columns]),
        key=(key[0][:, columns], key[1][columns]),
        value=(value[0][:, columns], value[1][columns]),
        attention_output=(attention_output[0][columns], attention_output[1]),
        attention_constant=constant,
        intermediate=(intermediate[0][:, neurons], intermediate[1][neurons]),
        output=(output[0][neurons], out_bias),
    )


def _plan(backbone: BertBackbone) -> list[_Layer]:
    return [
        _compact_layer(block, i)
        for i, block in enumerate(backbone.transformer_layers)
    ]


def compaction_plan(model: Any) -> CompactReport:
    """What :func:`compact` would keep, without building the model.

    The report's model-wide parameter counts are those of the encoder
    layers only here (:func:`compact` counts the whole rebuilt model).

    Args:
        model: A :class:`~smp_keras.bert.BertBackbone` or a task model built
            on one, with its masks set.

    Returns:
        A :class:`CompactReport`.

    Raises:
        TypeError: If `model` holds no backbone.
    """
    layers = tuple(x.record for x in _plan(find_backbone(model)))
    return CompactReport(
        layers=layers,
        parameters_before=sum(x.parameters_before for x in layers),
        parameters_after=sum(x.parameters_after for x in layers),
    )


# === The compacted model ===


def _built(layer: Any, shape: tuple, weights: list[np.ndarray]) -> Any:
    layer.build(shape)
    layer.set_weights(weights)
    return layer


class _Kernels:
    """Builds the rebuilt matrices: a standard layer, or a
    :class:`~smp_keras.layers.SparseDense` where the sparse product pays
    (:func:`~smp_keras.layers.sparse_pays`); records the sparse ones."""

    def __init__(self, sparse: bool | float) -> None:
        self.enabled = sparse is not False
        self.max_density = None if isinstance(sparse, bool) else sparse
        self.chosen: list[tuple[str, float]] = []

    def sparse(self, kernel: np.ndarray, name: str) -> bool:
        if not self.enabled or kernel.size == 0:
            return False
        density = float(np.count_nonzero(kernel)) / kernel.size
        if not sparse_pays(density, max_density=self.max_density):
            return False
        self.chosen.append((name, round(density, 6)))
        return True

    def dense(self, weights: tuple, name: str) -> Any:
        """`x @ kernel + bias` on `(..., in)` inputs."""
        kernel, bias = weights
        if self.sparse(kernel, name):
            return SparseDense.from_kernel(kernel, bias, name=name)
        layer = keras.layers.Dense(kernel.shape[1], name=name)
        return _built(layer, (None, kernel.shape[0]), [kernel, bias])

    def projection(
        self, weights: tuple, heads: int, head_dim: int, name: str
    ) -> Any:
        """`(b, t, hidden)` -> `(b, t, heads, head_dim)`."""
        kernel, bias = weights
        hidden = kernel.shape[0]
        if self.sparse(kernel, name):
            layer = SparseDense.from_kernel(kernel, bias, name=name)
            reshape = keras.layers.Reshape((-1, heads, head_dim))
            return lambda x: reshape(layer(x))
        layer = keras.layers.EinsumDense(
            "btd,dhk->bthk",
            output_shape=(None, heads, head_dim),
            bias_axes="hk",
            name=name,
        )
        return _built(
            layer,
            (None, None, hidden),
            [
                kernel.reshape(hidden, heads, head_dim),
                bias.reshape(heads, head_dim),
            ],
        )

    def attention_output(self, weights: tuple, heads: int, name: str) -> Any:
        """`(b, t, heads, head_dim)` -> `(b, t, hidden)`."""
        kernel, bias = weights
        dim = kernel.shape[0] // heads
        hidden = kernel.shape[1]
        if self.sparse(kernel, name):
            layer = SparseDense.from_kernel(kernel, bias, name=name)
            reshape = keras.layers.Reshape((-1, heads * dim))
            return lambda x: layer(reshape(x))
        output = keras.layers.EinsumDense(
            "bthk,hkd->btd",
            output_shape=(None, hidden),
            bias_axes="d",
            name=name,
        )
        return _built(
            output,
            (None, None, heads, dim),
            [kernel.reshape(heads, dim, hidden), bias],
        )


def _constant(
    vector: np.ndarray, name: str, bias: np.ndarray | None = None
) -> Any:
    """A `Dense` of a `(batch, 1, 1)` gate: ``gate * vector (+ bias)``."""
    layer = keras.layers.Dense(
        vector.shape[0], use_bias=bias is not None, name=name
    )
    weights = [vector[None, :]] + ([] if bias is None else [bias])
    return _built(layer, (None, 1, 1), weights)


def _attention(
    plan: _Layer,
    x: Any,
    keep: Any,
    has_token: Any,
    index: int,
    kernels: _Kernels,
) -> Any:
    """The layer's attention output, as `BertTransformerLayer._attend`."""
    heads = len(plan.record.kept_heads)
    bias = plan.attention_output[1]
    if heads == 0:  # every head removed: output bias + gated constant
        return _constant(
            plan.attention_constant, f"attention_constant_{index}", bias
        )(has_token)
    dim = plan.head_dim
    query, key, value = (
        kernels.projection(weights, heads, dim, f"{name}_{index}")(x)
        for name, weights in (
            ("query", plan.query),
            ("key", plan.key),
            ("value", plan.value),
        )
    )  # (batch, tokens, heads, head_dim) each
    # The backend's fused attention (PyTorch's scaled_dot_product_attention,
    # JAX's dot_product_attention) with the padding as an additive bias: a
    # finite penalty, as the backbone's, so an all-padding row stays finite
    # (and is then zeroed by `has_token`).
    context = ops.dot_product_attention(
        query,
        key,
        value,
        bias=(1.0 - keep) * _MASK_PENALTY,
        scale=dim**-0.5,
    )
    context = context * ops.cast(ops.expand_dims(has_token, -1), context.dtype)
    output = kernels.attention_output(
        plan.attention_output, heads, f"attention_output_{index}"
    )
    attended = output(context)
    if plan.attention_constant.any():
        constant = _constant(
            plan.attention_constant, f"attention_constant_{index}"
        )
        attended = attended + constant(has_token)
    return attended


def _feed_forward(
    block: Any, plan: _Layer, x: Any, ones: Any, i: int, kernels: _Kernels
) -> Any:
    if not plan.record.kept_neurons:  # the output bias alone
        return _constant(plan.output[1], f"output_constant_{i}")(ones)
    h = kernels.dense(plan.intermediate, f"intermediate_{i}")(x)
    h = activation_fn(block.activation)(h)
    return kernels.dense(plan.output, f"output_{i}")(h)


def _encoder(
    backbone: BertBackbone,
    plans: list[_Layer],
    inputs: dict[str, Any],
    kernels: _Kernels,
) -> Any:
    x = plain_embeddings(backbone, inputs)
    keep = ops.cast(inputs["padding_mask"], "float32")[:, None, None, :]
    has_token = ops.max(keep, axis=-1)  # (batch, 1, 1)
    ones = ops.ones_like(has_token)
    for i, (block, plan) in enumerate(
        zip(backbone.transformer_layers, plans, strict=True)
    ):
        attended = _attention(plan, x, keep, has_token, i, kernels)
        x = plain_layer_norm(block.attention_layer_norm, f"attention_norm_{i}")(
            attended + x
        )
        y = _feed_forward(block, plan, x, ones, i, kernels)
        x = plain_layer_norm(block.output_layer_norm, f"output_norm_{i}")(y + x)
    return x


def _backbone_outputs(backbone: BertBackbone, sequence: Any) -> dict:
    outputs = {"sequence_output": sequence}
    hidden = backbone.hidden_dim
    if backbone.with_pooler:
        source = backbone.get_layer("pooler")
        pooler = keras.layers.Dense(hidden, activation="tanh", name="pooler")
        pooler = _built(
            pooler,
            (None, hidden),
            [numpy_value(source.kernel), numpy_value(source.bias)],
        )
        outputs["pooled_output"] = pooler(sequence[:, 0, :])
    if backbone.with_mlm_head:
        head = backbone.get_layer("mlm_head")
        table = numpy_value(head.token_embedding.embeddings)
        width = table.shape[1]  # the embedding width (ELECTRA: < hidden)
        transform = keras.layers.Dense(width, name="mlm_transform")
        transform = _built(transform, (None, hidden), head.dense.get_weights())
        x = activation_fn(head.activation)(transform(sequence))
        x = plain_layer_norm(head.layer_norm, "mlm_norm")(x)
        decoder = keras.layers.Dense(table.shape[0], name="mlm_decoder")
        decoder = _built(
            decoder, (None, width), [table.T, numpy_value(head.bias)]
        )
        outputs["mlm_logits"] = decoder(x)
    return outputs


def _rebuild(model: Any, plans: list[_Layer], kernels: _Kernels) -> keras.Model:
    backbone = find_backbone(model)
    if model is backbone:
        inputs = {
            name: keras.Input(shape=(None,), dtype="int32", name=name)
            for name in ("token_ids", "segment_ids", "padding_mask")
        }
        sequence = _encoder(backbone, plans, inputs, kernels)
        outputs = _backbone_outputs(backbone, sequence)
    else:
        inputs = task_inputs(model)
        sequence = _encoder(backbone, plans, inputs, kernels)
        outputs = task_outputs(model, sequence, inputs)
    return keras.Model(inputs, outputs, name=f"{model.name}_compact")


def _check_sparse(sparse: Any) -> bool | float:
    if isinstance(sparse, bool | np.bool_):
        return bool(sparse)
    if isinstance(sparse, int | float | np.floating) and 0 <= sparse <= 1:
        return float(sparse)
    raise ValueError(
        "`sparse` must be a bool or a maximum density in [0, 1]. Received: "
        f"sparse={sparse!r}"
    )


def compact(
    model: Any, sparse: bool | float = False
) -> tuple[keras.Model, CompactReport]:
    """Rebuilds a masked model without the structure its masks killed.

    Removed, judged on the masked kernels (``kernel * mask``, Keras
    `(in, out)` layout): a feed-forward neuron whose output row is all
    zero (it adds nothing) or whose intermediate column is all zero (it
    outputs the constant ``act(bias)``, folded into the output bias), and
    an attention head whose attention-output rows are all zero (it adds
    nothing) or whose value columns are all zero (its context is its
    value bias, since attention probabilities sum to 1: the constant
    ``b_v @ W_o`` is kept, added to every example with an unpadded
    token). Heads with a masked query or key kernel are kept: their
    output still depends on the input. Every output equals the masked
    model's up to float rounding (1e-5 in the tests), padded and
    all-padding examples included; the kept structure keeps its masked
    zeros. A ``transformers`` folder cannot hold the result (one width
    for all layers): :func:`~smp_keras.bert.export_huggingface` keeps the
    dense shapes.

    With `sparse`, each encoder matrix (query, key, value, attention
    output, intermediate, output) whose density is at or below the sparse
    crossover of the current backend (:func:`~smp_keras.layers.sparse_pays`)
    becomes a :class:`~smp_keras.layers.SparseDense` storing its nonzero
    weights only and multiplying with the backend's sparse kernel; the
    others stay standard layers. The model then needs `smp_keras` to load
    (``import smp_keras.layers`` registers the layer) and is for the backend it
    was built for (the crossover differs by backend; the layer runs on
    all).

    Args:
        model: A :class:`~smp_keras.bert.BertBackbone` (the result has its
            outputs: `sequence_output`, `pooled_output`, `mlm_logits`, the
            MLM decoder stored untied) or a task model of this library
            built on one (the result has its inputs and outputs, as
            :func:`~smp_keras.bert.plain_keras_model`), masks set.
        sparse: False (dense kernels), True (sparse where the current
            backend's measured crossover says it pays) or a maximum
            density in [0, 1] (sparse at or below it; 1: every matrix).

    Returns:
        `(compacted model, report)`: a functional `keras.Model` of
        standard Keras layers (and `SparseDense` layers with `sparse`)
        with per-layer head counts and feed-forward widths, and the
        :class:`CompactReport` of what was kept (and stored sparse).

    Raises:
        TypeError: If `model` holds no backbone.
        ValueError: If a task model's head is not one of this library's,
            or for a `sparse` that is neither a bool nor in [0, 1].

    Example:
        >>> from smp_keras.bert import BertBackbone, compact
        >>> backbone = BertBackbone(
        ...     vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8,
        ...     intermediate_dim=12, max_sequence_length=16)
        >>> small, report = compact(backbone)  # dense masks: nothing dies
        >>> report.neurons_removed, report.heads_removed
        (0, 0)
    """
    kernels = _Kernels(_check_sparse(sparse))
    backbone = find_backbone(model)
    plans = _plan(backbone)
    compacted = _rebuild(model, plans, kernels)
    # Counted with the compacted shapes, a sparse kernel at its full size.
    after = sum(
        layer.input_dim * layer.units + layer.units * layer.use_bias
        if isinstance(layer, SparseDense)
        else layer.count_params()
        for layer in compacted.layers
    )
    removed = sum(
        x.record.parameters_before - x.record.parameters_after for x in plans
    )
    report = CompactReport(
        layers=tuple(x.record for x in plans),
        parameters_before=after + removed,
        parameters_after=after,
        sparse_matrices=tuple(kernels.chosen),
    )
    return compacted, report


def save_compact_keras(
    model: Any, path: str, sparse: bool | float = False
) -> CompactReport:
    """Writes :func:`compact` of `model` to a ``.keras`` file.

    The file holds standard Keras layers only and loads with
    ``keras.saving.load_model`` on any backend, without `smp_keras`. It
    is written to a temporary file and renamed into place: an existing
    file at `path` is replaced only by a complete one.

    With `sparse` (see :func:`compact`) the file also holds
    :class:`~smp_keras.layers.SparseDense` layers: loading it then needs
    ``import smp_keras.layers``.

    Args:
        model: A backbone or task model of this library, masks set.
        path: Destination, ending in ``.keras``.
        sparse: As :func:`compact`.

    Returns:
        The :class:`CompactReport`.

    Raises:
        ValueError: If `path` does not end in ``.keras``.
    """
    check_keras_path(path)
    compacted, report = compact(model, sparse=sparse)
    save_keras_atomically(compacted, path)
    return report
