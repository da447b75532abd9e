"""`SparsityScheduler`: drives the densities and λ of masked layers."""

from __future__ import annotations

import re
from collections.abc import Callable

import keras
import numpy as np
from keras import ops as kops

import smpcore
from smp_keras.callbacks.step_callback import StepCallback
from smp_keras.layers.masked_dense import MaskedDense
from smp_keras.model_utils import named_masked_layers
from smpcore.validation import FLOAT32_MAX, check_int, check_real

__all__ = ["ALLOCATIONS", "SparsityScheduler", "matrix_group"]

ALLOCATIONS = ("uniform", "smp_s", "global")


def matrix_group(layer: MaskedDense) -> str:
    """The SMP-S group of a layer: its matrix type.

    The layer's `matrix_type` (a constructor argument, saved in its config;
    the BERT backbone sets
    `"query"`, `"key"`, `"value"`, `"attention_output"`, `"intermediate"`,
    `"output"`), else its name with the digits removed (so `dense_0` and
    `dense_1` share the group `dense_`).

    Example:
    >>> matrix_group(MaskedDense(2, name="ffn_3_in"))
    'ffn__in'
    """
    matrix_type = getattr(layer, "matrix_type", None)
    if matrix_type:
        return str(matrix_type)
    return re.sub(r"\d+", "", layer.name)


class SparsityScheduler(StepCallback):
    """Sets the density and λ of every `MaskedDense` before each batch.

    At the start of every `update_every`-th training batch (and of the first
    batch of each `fit`), with `t` the global step:

    1. `v_t = density_schedule(t)` is shared between the masked layers by
       `allocation` (see below) and applied with `layer.set_density`;
    2. if `regularization_schedule` is given, every layer with scores gets
       `set_regularization_weight(λ_t / L)` with `λ_t =
       regularization_schedule(t)` and `L` the number of such layers, so the
       total added loss is `λ_t · R(S)` with `R(S)` the mean over matrices of
       `Σσ(S)/n` (paper, section 3.3).

    Allocations (paper, section 3.2):

    - `"uniform"` (SMP-L): every layer keeps `v_t`.
    - `"smp_s"` (SMP-S): within each matrix group (:func:`matrix_group`), a
      layer keeps a share proportional to `mean(sigmoid(S / temperature))`
      (:func:`smpcore.smp_s_densities`; each group keeps exactly
      `round(v_t · n_group)` weights). Needs scores on every layer.
    - `"global"`: one top-k over all layers' scores
      (:func:`smpcore.global_densities`); layers with
      `pruning_method="magnitude"` contribute `|kernel|`. This copies every
      score matrix to NumPy at each update (about 340 MB for BERT-base),
      so use `update_every` of 10 or more.

    N:M layers (`MaskedDense(..., structure="2:4")`) keep a fixed density
    `n / m` from step 0, so the density schedule does not apply to them:
    with `"uniform"` they are set to `n / m` (in `densities`) and the
    schedule drives the other layers (the logged `"density"` is the
    schedule's value). This is how N:M sparsity is trained in the
    literature (SR-STE, Zhou et al., ICLR 2021: the target N:M from the
    start); the scores still learn *which* `n` of each `m` weights are
    kept, and the regulariser weight is shared among all layers with
    scores as above. `"smp_s"` and `"global"` move budget between layers,
    which an N:M layer cannot take: they raise at the start of training.

    The step counter lives in the callback (`self.step`). With
    `initial_step=None` it starts from the optimizer's `iterations` when
    training begins, so a resumed model (restored with its optimizer)
    continues the schedule; pass `initial_step` to override. It advances by
    the number of steps each batch call covers (`steps_per_execution`).

    The values used are written into `logs` as `"density"` (and
    `"regularization_weight"`): Keras 3 shows batch logs set in
    `on_train_batch_end` in the progress bar, and `History` records the
    epoch-end values.

    On JAX, the callback reads `self.model` before assigning variables,
    which makes Keras copy the in-flight training state back to the model
    so that the assignments reach the next step.

    Args:
        density_schedule: Callable `step -> density in [0, 1]`, e.g.
            :func:`smpcore.cubic_density_schedule`.
        allocation: `"uniform"`, `"smp_s"` or `"global"`.
        temperature: `p > 0` of SMP-S.
        regularization_schedule: Optional callable `step -> λ` in
            `[0, 3.4e38]` (finite in float32), e.g.
            :func:`smpcore.regularization_schedule`.
        update_every: Update every this many steps (int `>= 1`).
        initial_step: Step of the first batch; `None` reads the optimizer.
        verbose: 1 prints the values at the end of each epoch.

    Raises:
        TypeError: If a schedule is not callable or an argument has the
            wrong type.
        ValueError: If `allocation` is unknown or a number is out of range;
            at the start of training, if `allocation` is `"smp_s"` or
            `"global"` and the model has N:M layers; during training, if a
            schedule returns a value out of range (a density outside
            `[0, 1]`, a negative or NaN λ).

    Example:
    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((8,)), MaskedDense(4)])
    >>> model.compile("adam", "mse")
    >>> schedule = smpcore.cubic_density_schedule(
    ...     final_density=0.25, total_steps=4)
    >>> history = model.fit(
    ...     np.ones((16, 8)), np.ones((16, 4)), batch_size=4, verbose=0,
    ...     callbacks=[SparsityScheduler(schedule)])
    >>> round(history.history["density"][-1], 4)  # step 3 of 4
    0.2617
    """

    def __init__(
        self,
        density_schedule: Callable[[int], float],
        allocation: str = "uniform",
        temperature: float = 1.0,
        regularization_schedule: Callable[[int], float] | None = None,
        update_every: int = 1,
        initial_step: int | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(initial_step)
        for name, value in (
            ("density_schedule", density_schedule),
            ("regularization_schedule", regularization_schedule),
        ):
            if value is not None and not callable(value):
                raise TypeError(
                    f"`{name}` must be a callable step -> value. "
                    f"Received: {name}={value!r}"
                )
        if density_schedule is None:
            raise TypeError("`density_schedule` must be a callable.")
        if not isinstance(allocation, str):
            raise TypeError(
                f"`allocation` must be one of {ALLOCATIONS}. "
                f"Received: allocation={allocation!r}"
            )
        if allocation not in ALLOCATIONS:
            raise ValueError(
                f"`allocation` must be one of {ALLOCATIONS}. "
                f"Received: allocation={allocation!r}"
            )
        self.density_schedule = density_schedule
        self.allocation = allocation
        self.temperature = check_real(
            temperature, "temperature", low=0.0, low_open=True
        )
        self.regularization_schedule = regularization_schedule
        self.update_every = check_int(update_every, "update_every", minimum=1)
        self.verbose = verbose
        self.density: float | None = None
        self.regularization_weight: float | None = None
        self.densities: dict[str, float] = {}
        self._layers: dict[str, MaskedDense] = {}
        self._last_update: int | None = None

    # === Training hooks ===

    def on_train_begin(self, logs: dict | None = None) -> None:
        model = self.model
        self._layers = named_masked_layers(model)
        if not self._layers:
            raise ValueError(
                "SparsityScheduler found no MaskedDense layer in the model."
            )
        self._check_structures()
        if self.allocation == "smp_s":
            no_scores = [
                n for n, lay in self._layers.items() if lay.scores is None
            ]
            if no_scores:
                raise ValueError(
                    "allocation='smp_s' needs scores on every masked layer; "
                    f"these use pruning_method='magnitude': {no_scores}"
                )
        super().on_train_begin(logs)
        self._last_update = None

    def on_train_batch_begin(
        self, batch: int, logs: dict | None = None
    ) -> None:
        super().on_train_batch_begin(batch, logs)
        last = self._last_update
        if last is None or self.step - last >= self.update_every:
            self.update(self.step)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        super().on_train_batch_end(batch, logs)
        self._write_logs(logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._write_logs(logs)
        if self.verbose:
            weight = self.regularization_weight
            keras.utils.io_utils.print_msg(
                f"SparsityScheduler: step {self.step}, "
                f"density={self.density:.4f}"
                + (
                    ""
                    if weight is None
                    else f", regularization_weight={weight:.4g}"
                )
            )

    def _write_logs(self, logs: dict | None) -> None:
        if logs is None:
            return
        if self.density is not None:
            logs["density"] = self.density
        if self.regularization_weight is not None:
            logs["regularization_weight"] = self.regularization_weight

    # === Updates ===

    def update(self, step: int) -> dict[str, float]:
        """Applies the schedules at `step` to every masked layer.

        Args:
            step: The global step (int `>= 0`).

        Returns:
            The density given to each layer, by stable layer name.
        """
        model = self.model  # On JAX, this syncs the training state back.
        if not self._layers:
            self._layers = named_masked_layers(model)
            self._check_structures()
        density = check_real(
            self.density_schedule(step), "density_schedule(step)", low=0, high=1
        )
        self.densities = self._allocate(density)
        for name, layer in self._layers.items():
            layer.set_density(self.densities[name])
        self.density = density
        if self.regularization_schedule is not None:
            self.regularization_weight = check_real(
                self.regularization_schedule(step),
                "regularization_schedule(step)",
                low=0.0,
                # Each layer's share is a float32 variable: a λ finite in
                # float64 but not in float32 fails here, naming the schedule.
                high=FLOAT32_MAX,
            )
            scored = [
                lay for lay in self._layers.values() if lay.scores is not None
            ]
            for layer in scored:
                layer.set_regularization_weight(
                    self.regularization_weight / len(scored)
                )
        self._last_update = step
        return self.densities

    def _check_structures(self) -> None:
        structured = [
            name for name, lay in self._layers.items() if lay.structure
        ]
        if structured and self.allocation != "uniform":
            raise ValueError(
                f"allocation={self.allocation!r} shares one density budget "
                "between layers, but N:M layers keep a fixed density n/m: "
                "use allocation='uniform' (or no structure). N:M layers: "
                f"{structured}"
            )

    def _allocate(self, density: float) -> dict[str, float]:
        layers = self._layers
        sizes = {name: layer.kernel_size for name, layer in layers.items()}
        if self.allocation == "uniform":
            densities = smpcore.uniform_densities(sizes, density)
            for name, layer in layers.items():
                if layer.structure:  # fixed at n/m (see the class docstring)
                    densities[name] = layer.structure[0] / layer.structure[1]
            return densities
        if self.allocation == "smp_s":
            statistics = kops.convert_to_numpy(
                kops.stack(
                    [
                        layer.score_statistic(self.temperature)
                        for layer in layers.values()
                    ]
                )
            )
            tiny = np.finfo(np.float64).tiny
            mean_scores = {
                name: max(float(a), tiny)
                for name, a in zip(layers, statistics, strict=True)
            }
            groups = {name: matrix_group(lay) for name, lay in layers.items()}
            return smpcore.smp_s_densities(mean_scores, sizes, groups, density)
        scores = {
            name: kops.convert_to_numpy(
                kops.abs(layer.kernel) if layer.scores is None else layer.scores
            )
            for name, layer in layers.items()
        }
        return smpcore.global_densities(scores, density)
