"""`MaskedDense`: a dense layer whose frozen kernel is pruned by a mask."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import activations, initializers
from keras import ops as kops
from keras.layers import InputSpec

from smp_keras import ops
from smpcore import check_structure, is_nm_mask
from smpcore.masks import topk_count
from smpcore.validation import FLOAT32_MAX, check_density, check_real

__all__ = ["MaskedDense", "PRUNING_METHODS"]

PRUNING_METHODS = ("topk", "threshold", "sigmoid_threshold", "magnitude")
#: The methods that take an N:M `structure` (a fixed count per group).
_STRUCTURED_METHODS = ("topk", "magnitude")


def _default_threshold(pruning_method: str, threshold: Any) -> Any:
    if threshold is not None:
        return threshold
    return 0.5 if pruning_method == "sigmoid_threshold" else 0.0


def _check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise TypeError(
            f"`{name}` must be one of {choices}. Received: {name}={value!r} "
            f"of type {type(value).__name__}"
        )
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {choices}. Received: {name}={value!r}"
        )
    return value


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(
            f"`{name}` must be a bool. Received: {name}={value!r} of type "
            f"{type(value).__name__}"
        )
    return bool(value)


def _get(getter: Any, value: Any, name: str) -> Any:
    """`activations.get` / `initializers.get`, errors naming `name`."""
    try:
        return getter(value)
    except (ValueError, TypeError) as error:
        raise type(error)(
            f"`{name}` is not a valid identifier: {error} Received: "
            f"{name}={value!r}"
        ) from None


@keras.saving.register_keras_serializable(package="smp_keras")
class MaskedDense(keras.layers.Layer):
    """Densely-connected layer whose kernel is pruned by a learned mask.

    The layer computes `y = activation(x @ (kernel * M) + bias)`, where `M`
    is a binary mask chosen from a trainable score matrix `S` of the kernel's
    shape (Static Model Pruning, Jiang et al., ACL 2023, section 3). The
    kernel and bias stay frozen: only the scores learn. The mask is treated
    as the identity in the backward pass (straight-through estimator), so

    $$\\frac{\\partial L}{\\partial S} = (x^\\top \\delta) \\odot W.$$

    Pruning methods (`pruning_method`):

    - `"topk"` (SMP): keep the `kept = round(density * n)` largest scores;
      ties go to the lowest flat (row-major) index, as in
      :func:`smpcore.topk_mask`. `kept` is computed in Python by
      :meth:`set_density` and stored in an int variable, so a new density
      never recompiles a compiled train step.
    - `"threshold"`: keep `S > threshold`.
    - `"sigmoid_threshold"` (soft movement pruning): keep
      `sigmoid(S) > threshold`, but at least `min_density` of the weights
      (then the top `round(min_density * n)` scores), like
      :func:`smpcore.threshold_mask` with `sigmoid=True`. The sigmoid is
      evaluated in float32 here (float64 in `smpcore`): scores within one
      float32 ulp of the logit of `threshold` may fall differently.
    - `"magnitude"`: keep the `kept` largest `|kernel|` (zero-order
      baseline); the layer has no scores and nothing learns unless
      `kernel_trainable=True`.

    N:M structure (`structure="2:4"` or `(2, 4)`, with `"topk"` or
    `"magnitude"`): the mask keeps the `n` largest scores (or `|kernel|`)
    of every group of `m` consecutive inputs of each output unit,
    :func:`smp_keras.ops.nm_mask` (equal to :func:`smpcore.nm_mask`, ties
    to the lowest index), the layout of 2:4 sparse tensor cores. The
    input dimension must be a multiple of `m`. The straight-through
    gradient is the same, so the scores learn *which* `n` of each `m` to
    keep. The density is fixed at `n / m` from the first step, as in N:M
    training (SR-STE, Zhou et al., ICLR 2021): :meth:`set_density` accepts
    only `n / m` or 1.0 (every weight kept, as for
    :func:`smp_keras.override_masks` with `"dense"`), and
    :class:`smp_keras.SparsityScheduler` leaves such layers at `n / m`.
    The threshold methods take no structure.

    A score that became NaN never keeps its weight unless nothing else is
    left to keep: top-k ranks NaN below every number (see
    :func:`smp_keras.ops.topk_mask`; the count stays exact) and the
    threshold methods compare false. Under a mixed precision policy (e.g.
    `"mixed_bfloat16"`) the kernel and the scores stay float32 variables
    and the mask is computed from them; only the matmul runs in the compute
    dtype.

    With `kernel_trainable=True` the kernel and bias train too: with
    `"topk"` this is movement pruning (Sanh et al., 2020).

    Every layer with scores adds the SMP regulariser
    `regularization_weight * mean(sigmoid(S))` to the model's losses when
    called with `training=True` (see :mod:`smp_keras.objective`); the weight
    is a variable that :class:`smp_keras.SparsityScheduler` updates, and 0
    by default.

    Performance: the mask costs one linear-time pass over the scores per
    call (:func:`smp_keras.ops.topk_mask`), and a new density never
    recompiles. A training step runs at about 1.0-1.15x an ordinary
    fine-tuning step of a `Dense` layer under XLA (JAX; TensorFlow with
    `model.compile(..., jit_compile=True)`), see
    `benchmarks/results/masked_dense_*.json`. On a CPU-only machine Keras
    turns XLA off for TensorFlow by default (`jit_compile="auto"`), where
    the step costs about 1.6x: pass `jit_compile=True`.

    Weights, in creation order: `kernel` `(in, units)`, `bias` `(units,)`
    (if `use_bias`), `scores` `(in, units)` (not for `"magnitude"`), and the
    non-trainable `density` (float32), `kept` (int32), `threshold`
    (float32) and `regularization_weight` (float32).

    Args:
        units: Positive int, the output dimension.
        activation: Activation function (name or callable); default linear.
        use_bias: Whether to add a bias vector.
        pruning_method: One of `"topk"`, `"threshold"`,
            `"sigmoid_threshold"`, `"magnitude"`.
        kernel_trainable: Whether the kernel and bias train as well.
        score_initializer: Initializer of the scores; `"zeros"` as in the
            paper (every mask starts as the lowest-index ties).
        kernel_initializer: Initializer of the kernel.
        bias_initializer: Initializer of the bias.
        density: Initial fraction of weights kept, in `[0, 1]` (`"topk"` and
            `"magnitude"`); `None` means 1.0, or `n / m` with a `structure`
            (which accepts only `n / m` or 1.0).
        threshold: Initial threshold of `"threshold"` (any finite real) and
            `"sigmoid_threshold"` (in `(0, 1)`); `None` means 0.0 and 0.5
            respectively (both keep the entries with positive scores).
        min_density: Smallest kept fraction of `"sigmoid_threshold"`, in
            `[0, 1]`; 0.005 as in the reference.
        matrix_type: Optional non-empty str, the kind of matrix (e.g.
            `"query"`, `"intermediate"`): SMP-S shares one budget among the
            layers of a type (:func:`smp_keras.callbacks.matrix_group`).
            Saved in the config; `None` groups layers by their name.
        structure: Optional N:M structure, an `(n, m)` pair or a string
            `"n:m"` with `1 <= n <= m` (e.g. `"2:4"`); saved in the config
            as `"n:m"`. `None` (the default) is unstructured.
        **kwargs: Base layer arguments (`name`, `dtype`, ...).

    Raises:
        TypeError: If an argument has the wrong type (e.g. `units` not an
            int, `pruning_method` not a str, `use_bias` not a bool).
        ValueError: If an argument is out of range or names no known
            method, activation or initializer; if a `structure` comes with
            a threshold method or a `density` other than `n / m` or 1.0;
            at build, if the input dimension is not a multiple of `m`.

    Input shape:
        Tensor of shape `(..., input_dim)` (rank 1 or more).

    Output shape:
        Tensor of shape `(..., units)`.

    Example:
    >>> import numpy as np
    >>> layer = MaskedDense(4, density=0.25)
    >>> y = layer(np.ones((2, 8), "float32"))
    >>> tuple(y.shape)
    (2, 4)
    >>> int(layer.mask().sum())  # round(0.25 * 32)
    8
    >>> nm = MaskedDense(4, structure="2:4")
    >>> _ = nm(np.ones((2, 8), "float32"))
    >>> nm.density, nm.mask()[:4, 0].tolist()  # zero scores: lowest indices
    (0.5, [True, True, False, False])
    """

    def __init__(
        self,
        units: int,
        activation: Any = None,
        use_bias: bool = True,
        pruning_method: str = "topk",
        kernel_trainable: bool = False,
        score_initializer: Any = "zeros",
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        density: float | None = None,
        threshold: float | None = None,
        min_density: float = 0.005,
        matrix_type: str | None = None,
        structure: Any = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(units, bool) or not isinstance(units, int | np.integer):
            raise TypeError(
                f"`units` must be a positive int. Received: units={units!r}"
            )
        if units <= 0:
            raise ValueError(
                f"`units` must be a positive int. Received: units={units!r}"
            )
        self.units = int(units)
        self._init_masking(
            activation=activation,
            use_bias=use_bias,
            pruning_method=pruning_method,
            kernel_trainable=kernel_trainable,
            score_initializer=score_initializer,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            density=density,
            threshold=threshold,
            min_density=min_density,
            matrix_type=matrix_type,
            structure=structure,
            **kwargs,
        )
        self.input_spec = InputSpec(min_ndim=1)

    def _init_masking(
        self,
        *,
        activation: Any,
        use_bias: bool,
        pruning_method: str,
        kernel_trainable: bool,
        score_initializer: Any,
        kernel_initializer: Any,
        bias_initializer: Any,
        density: float | None,
        threshold: float | None,
        min_density: float,
        matrix_type: str | None,
        structure: Any,
        **kwargs: Any,
    ) -> None:
        """Checks and stores the arguments every masked layer shares (the
        mask's, the activation's and the initializers'); calls the base
        `Layer` constructor with `kwargs`."""
        _check_choice(pruning_method, "pruning_method", PRUNING_METHODS)
        keras.layers.Layer.__init__(self, **kwargs)
        self.activation = _get(activations.get, activation, "activation")
        self.use_bias = _check_bool(use_bias, "use_bias")
        self.pruning_method = pruning_method
        self.kernel_trainable = _check_bool(
            kernel_trainable, "kernel_trainable"
        )
        for name, value in (
            ("score_initializer", score_initializer),
            ("kernel_initializer", kernel_initializer),
            ("bias_initializer", bias_initializer),
        ):
            setattr(self, name, _get(initializers.get, value, name))
        self.min_density = check_density(min_density, "min_density")
        if matrix_type is not None and not isinstance(matrix_type, str):
            raise TypeError(
                "`matrix_type` must be a non-empty str or None. Received: "
                f"matrix_type={matrix_type!r}"
            )
        if matrix_type == "":
            raise ValueError(
                "`matrix_type` must be a non-empty str or None. Received: "
                "matrix_type=''"
            )
        self.matrix_type = matrix_type
        self.structure = self._check_structure(structure)
        self._pending = {
            "density": self._check_density(
                (1.0 if structure is None else self._nm_density)
                if density is None
                else density
            ),
            "threshold": self._check_threshold(
                _default_threshold(pruning_method, threshold)
            ),
            "regularization_weight": 0.0,
        }
        self.kernel: Any = None
        self.bias: Any = None
        self.scores: Any = None
        self.matrix_shape: tuple[int, int] | None = None

    # === Weights ===

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                "The last dimension of the inputs to `MaskedDense` must be "
                f"known. Received: input_shape={input_shape}"
            )
        shape = (int(input_dim), self.units)
        self._build_masking(
            shape, (self.units,) if self.use_bias else None, shape, input_shape
        )
        self.input_spec = InputSpec(min_ndim=1, axes={-1: shape[0]})

    def _build_masking(
        self,
        shape: tuple[int, ...],
        bias_shape: tuple[int, ...] | None,
        matrix_shape: tuple[int, int] | None,
        input_shape: Any,
    ) -> None:
        """Creates the kernel, bias, scores and mask variables.

        `matrix_shape` is the kernel seen as one `(inputs, outputs)` matrix
        (the same entries in the same row-major order), where N:M groups
        run along the inputs; None where the kernel has no such view (the
        unstructured methods do not need one).
        """
        self.matrix_shape = matrix_shape
        if self.structure is not None:
            n, m = self.structure
            if matrix_shape is None or matrix_shape[0] % m:
                raise ValueError(
                    f"{type(self).__name__} layer '{self.name}' with "
                    f"structure='{n}:{m}' needs an input dimension that is a "
                    f"multiple of m={m} (N:M groups run along the kernel's "
                    f"input axis). Received: kernel shape {shape}, as a "
                    f"matrix {matrix_shape} (input_shape={input_shape})"
                )
        self.kernel = self.add_weight(
            name="kernel",
            shape=shape,
            initializer=self.kernel_initializer,
            trainable=self.kernel_trainable,
            autocast=False,  # masks come from float32 values; cast in call
        )
        if bias_shape is not None:
            self.bias = self.add_weight(
                name="bias",
                shape=bias_shape,
                initializer=self.bias_initializer,
                trainable=self.kernel_trainable,
            )
        if self.pruning_method != "magnitude":
            self.scores = self.add_weight(
                name="scores",
                shape=shape,
                initializer=self.score_initializer,
                trainable=True,
                autocast=False,
            )
        # Pending values become initializers, not assignments: `build` may
        # run inside a stateless scope (a subclassed model's first call),
        # where assignments are discarded.
        size = math.prod(shape)
        pending = self._pending
        self._density = self._scalar_weight(
            "density", "float32", pending["density"]
        )
        self._kept = self._scalar_weight(
            "kept", "int32", topk_count(size, pending["density"])
        )
        self._threshold = self._scalar_weight(
            "threshold", "float32", pending["threshold"]
        )
        self._regularization_weight = self._scalar_weight(
            "regularization_weight", "float32", pending["regularization_weight"]
        )
        self._min_kept = topk_count(size, self.min_density)

    def _scalar_weight(
        self, name: str, dtype: str, value: float
    ) -> keras.Variable:
        return self.add_weight(
            name=name,
            shape=(),
            initializer=initializers.Constant(value),
            dtype=dtype,
            trainable=False,
            autocast=False,
        )

    # === Setters and getters ===

    def _check_structure(self, structure: Any) -> tuple[int, int] | None:
        if structure is None:
            return None
        n, m = check_structure(structure, "structure")
        if self.pruning_method not in _STRUCTURED_METHODS:
            raise ValueError(
                f"`structure` applies to pruning_method in "
                f"{_STRUCTURED_METHODS} only: a threshold keeps no fixed "
                f"count per group. Received: structure={structure!r}, "
                f"pruning_method={self.pruning_method!r}"
            )
        return n, m

    def _check_density(self, value: Any) -> float:
        """A density; with a structure, exactly `n / m` or 1.0."""
        value = check_density(value)
        if self.structure is None or value == 1.0:
            return value
        if math.isclose(value, self._nm_density, rel_tol=1e-6):
            return self._nm_density  # exact, also from a float32 variable
        n, m = self.structure
        raise ValueError(
            f"{type(self).__name__} layer '{self.name}' has "
            f"structure='{n}:{m}': its "
            f"density is fixed at n/m={self._nm_density:g} (or 1.0, every "
            f"weight kept). Received: density={value!r}"
        )

    @property
    def _nm_density(self) -> float:
        n, m = self.structure
        return n / m

    def _check_threshold(self, value: Any) -> float:
        if self.pruning_method == "sigmoid_threshold":
            return check_real(
                value, "threshold", low=0, high=1, low_open=True, high_open=True
            )
        return check_real(
            value, "threshold", low=-FLOAT32_MAX, high=FLOAT32_MAX
        )

    @property
    def kernel_size(self) -> int:
        """Number of kernel entries, `input_dim * units` (needs a build)."""
        self._check_built("kernel_size")
        return int(np.prod(self.kernel.shape))

    def set_density(self, value: float) -> None:
        """Sets the fraction of weights kept (`"topk"`, `"magnitude"`).

        Computes `kept = smpcore.topk_count(kernel_size, value)` in Python
        and assigns both variables; a compiled train step picks the new
        values up without recompiling. Before the layer is built, the value
        is stored and applied at build time.

        A layer with an N:M `structure` has a fixed density: it accepts
        `n / m` (its N:M mask) or 1.0 (every weight kept, e.g. the dense
        model of :func:`smp_keras.override_masks`), nothing else.

        Args:
            value: Fraction kept, a real number in `[0, 1]`.

        Raises:
            TypeError: If `value` is not a real number.
            ValueError: If `value` is not in `[0, 1]`, or the layer has a
                structure and `value` is neither `n / m` nor 1.0.
        """
        value = self._check_density(value)
        if not self.built:
            self._pending["density"] = value
            return
        self._density.assign(value)
        self._kept.assign(topk_count(self.kernel_size, value))

    def set_mask(self, mask: Any) -> None:
        """Makes the layer's own mask function give `mask` exactly.

        The scores are set so that the mask method reproduces `mask`: for
        `"topk"` they become 1.0 where kept and 0.0 elsewhere, and `kept`
        becomes the mask's count (`density` = count / size, exact whatever
        the rounding); for the threshold methods they are placed well
        above or below the current threshold. This is how saved masks are
        loaded (:func:`smp_keras.load_masks`).

        A layer with an N:M `structure` takes an exact N:M mask
        (:func:`smpcore.is_nm_mask` along the input axis; density `n / m`)
        or the all-ones mask (density 1.0); any other mask raises, since
        no N:M mask function can give it.

        Args:
            mask: A boolean (or 0/1) array of the kernel's shape.

        Raises:
            ValueError: If the shape differs, the layer uses
                `pruning_method="magnitude"` (its mask follows from the
                kernel), a `"sigmoid_threshold"` mask keeps fewer than
                the `min_density` floor, or a structured layer's mask is
                neither N:M nor all ones.
        """
        self._check_built("set_mask")
        mask = np.asarray(mask).astype(bool)
        shape = tuple(self.kernel.shape)
        if mask.shape != shape:
            raise ValueError(
                f"`mask` must have the kernel's shape {shape}. Received: "
                f"mask of shape {mask.shape}"
            )
        if self.pruning_method == "magnitude":
            raise ValueError(
                "A layer with pruning_method='magnitude' takes no mask: its "
                "mask follows from the kernel. Received: pruning_method="
                f"{self.pruning_method!r}"
            )
        kept = int(np.count_nonzero(mask))
        if self.structure is not None and kept < mask.size:
            n, m = self.structure
            if not is_nm_mask(mask.reshape(self.matrix_shape), n, m):
                raise ValueError(
                    f"{type(self).__name__} layer '{self.name}' has structure="
                    f"'{n}:{m}': `mask` must keep exactly {n} of every {m} "
                    "inputs of each unit (or every weight). Received: a "
                    f"mask keeping {kept} of {mask.size} weights that is "
                    f"not {n}:{m}"
                )
        if self.pruning_method == "topk":
            self.scores.assign(mask.astype("float32"))
            self._density.assign(kept / mask.size)
            self._kept.assign(kept)
            return
        if kept < self._min_kept:
            raise ValueError(
                f"`mask` keeps {kept} weights, fewer than the "
                f"min_density={self.min_density} floor of {self._min_kept}."
            )
        if self.pruning_method == "threshold":
            center = self.threshold
        else:
            t = self.threshold
            center = float(np.log(t) - np.log1p(-t))
        offset = max(4.0, 2.0 * abs(center))
        scores = np.where(mask, center + offset, center - offset)
        self.scores.assign(scores.astype("float32"))

    def mask_state(self) -> dict[str, Any]:
        """A copy of everything that decides the layer's mask.

        The density, kept count, threshold, scores (if any) and
        `min_density`, as NumPy values, for :meth:`restore_mask_state`
        (e.g. to evaluate another mask and come back).
        """
        self._check_built("mask_state")
        state: dict[str, Any] = {
            name: kops.convert_to_numpy(variable)
            for name, variable in (
                ("density", self._density),
                ("kept", self._kept),
                ("threshold", self._threshold),
            )
        }
        if self.scores is not None:
            state["scores"] = kops.convert_to_numpy(self.scores)
        state["min_density"] = self.min_density
        return state

    def restore_mask_state(self, state: dict[str, Any]) -> None:
        """Restores a :meth:`mask_state` of this layer.

        Raises:
            ValueError: If `state` is not one of this layer's states.
        """
        self._check_built("restore_mask_state")
        expected = {"density", "kept", "threshold", "min_density"}
        if self.scores is not None:
            expected.add("scores")
        if not isinstance(state, dict) or set(state) != expected:
            keys = sorted(state) if isinstance(state, dict) else state
            raise ValueError(
                f"`state` must be a mask_state() of this layer, with the "
                f"keys {sorted(expected)}. Received: {keys!r}"
            )
        self._density.assign(state["density"])
        self._kept.assign(state["kept"])
        self._threshold.assign(state["threshold"])
        if self.scores is not None:
            self.scores.assign(state["scores"])
        self.set_min_density(state["min_density"])

    def set_min_density(self, value: float) -> None:
        """Sets the floor of `"sigmoid_threshold"` (kept fraction).

        Args:
            value: A fraction in `[0, 1]`.

        Raises:
            TypeError: If `value` is not a real number.
            ValueError: If `value` is not in `[0, 1]`.
        """
        self.min_density = check_density(value, "min_density")
        if self.built:
            self._min_kept = topk_count(self.kernel_size, self.min_density)

    def set_threshold(self, value: float) -> None:
        """Sets the threshold of the threshold methods.

        Args:
            value: A finite real; in `(0, 1)` for `"sigmoid_threshold"`.

        Raises:
            TypeError: If `value` is not a real number.
            ValueError: If `value` is out of range.
        """
        value = self._check_threshold(value)
        if not self.built:
            self._pending["threshold"] = value
            return
        self._threshold.assign(value)

    def set_regularization_weight(self, value: float) -> None:
        """Sets the weight of this layer's `mean(sigmoid(scores))` loss.

        Args:
            value: A real in `[0, 3.4e38]` (finite in float32).

        Raises:
            TypeError: If `value` is not a real number.
            ValueError: If `value` is negative or not finite in float32.
        """
        value = check_real(
            value, "regularization_weight", low=0.0, high=FLOAT32_MAX
        )
        if not self.built:
            self._pending["regularization_weight"] = value
            return
        self._regularization_weight.assign(value)

    def _current(self, name: str) -> Any:
        if not self.built:
            return self._pending.get(name)
        variable = getattr(self, f"_{name}")
        # The variable itself, not `.value`: under a tf.distribute strategy
        # `.value` of a mirrored variable is not array-convertible.
        return kops.convert_to_numpy(variable).item()

    @property
    def density(self) -> float:
        """The kept fraction last set (a Python float; `n / m` exactly for
        an N:M layer)."""
        value = float(self._current("density"))
        if self.structure is not None and math.isclose(
            value, self._nm_density, rel_tol=1e-6
        ):
            return self._nm_density
        return value

    @property
    def kept(self) -> int:
        """The number of weights `"topk"`/`"magnitude"` keep (needs a build)."""
        self._check_built("kept")
        return int(self._current("kept"))

    @property
    def threshold(self) -> float:
        """The threshold of the threshold methods (a Python float)."""
        return float(self._current("threshold"))

    @property
    def regularization_weight(self) -> float:
        """The weight of this layer's regulariser (a Python float)."""
        return float(self._current("regularization_weight"))

    @property
    def density_variable(self) -> keras.Variable:
        """The non-trainable float32 variable holding the density."""
        self._check_built("density_variable")
        return self._density

    @property
    def kept_variable(self) -> keras.Variable:
        """The non-trainable int32 variable holding the kept count."""
        self._check_built("kept_variable")
        return self._kept

    @property
    def threshold_variable(self) -> keras.Variable:
        """The non-trainable float32 variable holding the threshold."""
        self._check_built("threshold_variable")
        return self._threshold

    @property
    def regularization_weight_variable(self) -> keras.Variable:
        """The non-trainable float32 variable holding the regulariser weight."""
        self._check_built("regularization_weight_variable")
        return self._regularization_weight

    def _check_built(self, what: str) -> None:
        if not self.built:
            raise RuntimeError(
                f"`{what}` of {type(self).__name__} layer '{self.name}' needs "
                "the layer "
                "to be built: call the layer on an input or call "
                "`layer.build(input_shape)` first."
            )

    # === Forward pass ===

    def _hard_mask(self) -> Any:
        """The float 0/1 mask of the current weights (no gradient)."""
        if self.structure is not None:
            return self._nm_hard_mask()
        if self.pruning_method == "magnitude":
            return ops.topk_mask(
                kops.stop_gradient(kops.abs(self.kernel)), self._kept
            )
        scores = kops.stop_gradient(kops.cast(self.scores, "float32"))
        if self.pruning_method == "topk":
            return ops.topk_mask(scores, self._kept)
        if self.pruning_method == "threshold":
            # Compared as order keys (ints): exact even where XLA flushes
            # subnormal floats to zero; NaN scores compare false.
            above = ops.order_keys(scores) > ops.order_keys(self._threshold)
            return kops.cast(above, "float32")
        mask = kops.cast(kops.sigmoid(scores) > self._threshold, "float32")
        if self._min_kept > 0:
            mask = kops.maximum(mask, ops.topk_mask(scores, self._min_kept))
        return mask

    def _nm_hard_mask(self) -> Any:
        """The N:M mask of the scores (`|kernel|`), or all ones at density
        1.0 (`kept` is then the kernel size)."""
        values = self.kernel if self.scores is None else self.scores
        values = kops.stop_gradient(kops.cast(values, "float32"))
        if self.scores is None:
            values = kops.abs(values)
        shape = tuple(values.shape)
        if shape != self.matrix_shape:
            values = kops.reshape(values, self.matrix_shape)
        mask = ops.nm_mask(values, *self.structure)
        if shape != self.matrix_shape:
            mask = kops.reshape(mask, shape)
        dense = kops.cast(self._kept >= self.kernel_size, "float32")
        return kops.maximum(mask, dense)

    def masked_kernel(self) -> Any:
        """Returns `kernel * mask` with the straight-through gradient.

        The mask is computed from the float32 variables (so it equals
        :meth:`mask` under any dtype policy); the product is cast to the
        layer's compute dtype.
        """
        mask = self._hard_mask()
        if self.scores is not None:
            mask = ops.straight_through(mask, self.scores)
        kernel = self.kernel * kops.cast(mask, self.kernel.dtype)
        return kops.cast(kernel, self.compute_dtype)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        outputs = kops.matmul(inputs, self.masked_kernel())
        if self.bias is not None:
            outputs = kops.add(outputs, self.bias)
        if self.activation is not None:
            outputs = self.activation(outputs)
        if training and self.scores is not None:
            self.add_loss(self.regularization_loss())
        return outputs

    def regularization_loss(self) -> Any:
        """`regularization_weight * mean(sigmoid(scores))`, a scalar tensor.

        Raises:
            RuntimeError: If the layer has no scores (`"magnitude"`) or is
                not built.
        """
        return self._regularization_weight * self.score_statistic(1.0)

    def score_statistic(self, temperature: float = 1.0) -> Any:
        """Mean of `sigmoid(scores / temperature)`, a scalar tensor.

        The per-matrix statistic `a` of SMP-S (paper, section 3.2).

        Args:
            temperature: A finite real `> 0`.

        Raises:
            RuntimeError: If the layer has no scores or is not built.
            ValueError: If `temperature` is not positive.
        """
        temperature = check_real(
            temperature, "temperature", low=0.0, low_open=True
        )
        self._check_built("score_statistic")
        if self.scores is None:
            raise RuntimeError(
                f"{type(self).__name__} layer '{self.name}' has no scores "
                f"(pruning_method={self.pruning_method!r})."
            )
        scores = kops.cast(self.scores, "float32")
        return kops.mean(kops.sigmoid(scores / temperature))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], self.units)

    # === Masks and export ===

    def mask(self) -> np.ndarray:
        """Returns the current mask as a bool array of the kernel's shape.

        Raises:
            RuntimeError: If the layer is not built yet.
        """
        self._check_built("mask()")
        return kops.convert_to_numpy(self._hard_mask()) > 0.5

    def bake(self) -> keras.layers.Dense:
        """Returns a built `Dense` layer with kernel `kernel * mask`.

        The `Dense` layer has the same name, activation, bias and dtype
        policy, and computes the same outputs as this layer.

        Raises:
            RuntimeError: If the layer is not built yet.
        """
        self._check_built("bake()")
        dense = keras.layers.Dense(
            self.units,
            activation=self.activation,
            use_bias=self.use_bias,
            name=self.name,
            dtype=self.dtype_policy,
        )
        dense.build((self.kernel.shape[0],))
        kernel = kops.convert_to_numpy(self.kernel) * self.mask()
        dense.kernel.assign(kernel)
        if self.use_bias:
            dense.bias.assign(kops.convert_to_numpy(self.bias))
        return dense

    @classmethod
    def from_dense(
        cls, layer: keras.layers.Dense, **kwargs: Any
    ) -> MaskedDense:
        """Builds a `MaskedDense` carrying the weights of a built `Dense`.

        Units, activation, bias use and name come from `layer`; `kwargs`
        (e.g. `density`, `pruning_method`, or another `name`) are passed to
        the constructor.

        Raises:
            TypeError: If `layer` is not a `keras.layers.Dense`.
            RuntimeError: If `layer` is not built.
        """
        if not isinstance(layer, keras.layers.Dense):
            raise TypeError(
                "`layer` must be a keras.layers.Dense. "
                f"Received: layer={layer!r} of type {type(layer).__name__}"
            )
        if not layer.built:
            raise RuntimeError(
                f"Dense layer '{layer.name}' is not built: call it on an "
                "input or call `layer.build(input_shape)` first."
            )
        bias = kops.convert_to_numpy(layer.bias) if layer.use_bias else None
        kwargs.setdefault("name", layer.name)
        kwargs.setdefault("activation", layer.activation)
        return cls.from_weights(
            kops.convert_to_numpy(layer.kernel), bias, **kwargs
        )

    @classmethod
    def from_weights(
        cls, kernel: Any, bias: Any = None, **kwargs: Any
    ) -> MaskedDense:
        """Builds a `MaskedDense` from a kernel `(in, units)` and a bias.

        `units` and `use_bias` follow from the arrays; `kwargs` go to the
        constructor.

        Raises:
            ValueError: If `kernel` is not 2-D, `bias` is not `(units,)`, or
                `kwargs` contradict the arrays.
        """
        kernel = np.asarray(kernel)
        if kernel.ndim != 2 or 0 in kernel.shape:
            raise ValueError(
                "`kernel` must be a non-empty 2-D array (in, units). "
                f"Received: kernel.shape={kernel.shape}"
            )
        units = kernel.shape[1]
        if bias is not None:
            bias = np.asarray(bias)
            if bias.shape != (units,):
                raise ValueError(
                    f"`bias` must have shape ({units},) to match `kernel` "
                    f"{kernel.shape}. Received: bias.shape={bias.shape}"
                )
        for key, value in (("units", units), ("use_bias", bias is not None)):
            if kwargs.setdefault(key, value) != value:
                raise ValueError(
                    f"`{key}` contradicts the given arrays: expected {value}. "
                    f"Received: {key}={kwargs[key]!r}"
                )
        layer = cls(**kwargs)
        layer.build((kernel.shape[0],))
        layer.kernel.assign(kernel)
        if bias is not None:
            layer.bias.assign(bias)
        return layer

    # === Config ===

    def get_config(self) -> dict[str, Any]:
        config = {"units": self.units, "use_bias": self.use_bias}
        return {**super().get_config(), **config, **self._masking_config()}

    def _masking_config(self) -> dict[str, Any]:
        """The config entries every masked layer shares."""
        config = {
            "activation": activations.serialize(self.activation),
            "pruning_method": self.pruning_method,
            "kernel_trainable": self.kernel_trainable,
            "score_initializer": initializers.serialize(self.score_initializer),
            "kernel_initializer": initializers.serialize(
                self.kernel_initializer
            ),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "density": self.density,
            "threshold": self.threshold,
            "min_density": self.min_density,
        }
        if self.matrix_type is not None:  # configs of 0.1 stay loadable
            config["matrix_type"] = self.matrix_type
        if self.structure is not None:
            config["structure"] = "{}:{}".format(*self.structure)
        return config
