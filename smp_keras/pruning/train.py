"""`prune`: the end-to-end pruning job, resumable, with a run directory.

The job loads the model, tokenizer and data, builds the frozen-head model,
measures the baselines (the unpruned model with the frozen head, magnitude
pruning at the final density without training, the majority class), trains
with `model.fit` and :class:`smp_keras.SparsityScheduler`, and writes the
run directory (see ``smp_keras.pruning.run_dir``).

**Training in chunks.** Training runs as a sequence of `fit` calls, one per
chunk of steps between evaluations and checkpoints. The batches of step `t`
are a pure function of `(seed, t)`, the scheduler reads its step from the
optimiser's `iterations`, and a checkpoint holds the trainable variables,
the optimiser's variables and the bookkeeping: a resumed run computes the
same steps as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from typing import Any

import keras
import numpy as np
from keras import ops

import smpcore
from smp_keras.callbacks import SparsityScheduler, ThresholdScheduler
from smp_keras.model_utils import named_masked_layers, override_masks
from smp_keras.pruning import run_dir as rd
from smp_keras.pruning.calibration import (
    activation_norms,
    calibration_batches,
    set_wanda_masks,
)
from smp_keras.pruning.checkpoint import (
    JobState,
    load_checkpoint,
    save_checkpoint,
    saved_variables,
)
from smp_keras.pruning.config import (
    SOFT_MOVEMENT_THRESHOLD,
    PruneConfig,
)
from smp_keras.pruning.data import (
    TaskData,
    batch_indices,
    bucket_lengths,
    example_lengths,
    grouped_batch_indices,
    load_job_data,
    task_spec,
    training_batches,
)
from smp_keras.pruning.distill import (
    DistillationLoss,
    packed_accuracy,
    teacher_logits,
)
from smp_keras.pruning.distribute import (
    barrier,
    check_global_batch,
    distribution_scope,
    is_chief,
    local_rows,
    process_count,
    process_index,
)
from smp_keras.pruning.metrics import density_of, score_split
from smp_keras.pruning.model import (
    ScoreWeightAdam,
    build_task_model,
    initialize_scores,
    learning_rate_schedule,
    load_job_backbone,
    load_tokenizer,
    resolve_head,
    resolve_model_source,
)
from smp_keras.pruning.report import density_table, plot_sparsity
from smp_keras.pruning.result import PruneResult

__all__ = ["PruneJob", "prune"]


def _say(quiet: bool, message: str) -> None:
    del quiet  # log lines are printed in both modes; bars only when not quiet
    print(message, flush=True)


class PruneJob:
    """One pruning run, in four phases: load, baselines, train, finish.

    :func:`prune` is the entry point; this class is what it runs, public so
    that benchmarks and tests can drive a phase on its own (for example,
    `load` then `fit_chunk` to time training steps).

    1. :meth:`load`: model, tokenizer, data, the task model, compiled.
       Every input error happens here, before anything is written.
    2. :meth:`measure_baselines` (or :meth:`restore` from a checkpoint).
    3. :meth:`train`: `fit` in chunks between evaluations and checkpoints.
    4. :meth:`finish`: select the shipped masks, write the results.

    :meth:`run` does all four on the run directory. The bookkeeping that a
    checkpoint carries is `state` (a
    :class:`~smp_keras.pruning.checkpoint.JobState`).
    """

    def __init__(
        self, config: PruneConfig, quiet: bool, jit_compile: Any = "auto"
    ) -> None:
        self.config = config
        self.quiet = quiet
        self.jit_compile = jit_compile
        # Baselines, curve, log, best model so far, teacher logits: what a
        # checkpoint carries.
        self.state = JobState()
        # Wanda's calibration (`calibrate`): the examples used, the norms.
        self.calibration_examples: int | None = None
        self.input_norms: dict[str, np.ndarray] | None = None

    def run(
        self,
        callbacks: list[keras.callbacks.Callback] | None = None,
        started: float | None = None,
    ) -> PruneResult:
        """Runs the job on its run directory (resuming a checkpoint).

        Args:
            callbacks: Extra Keras callbacks passed to every `fit` call.
            started: `time.perf_counter()` at the start of the job (the
                recorded wall time counts from it); default: now.
        """
        started = time.perf_counter() if started is None else started
        folder, resume = rd.check_run_dir(self.config)
        run_dir = folder
        if not is_chief():
            # Only the chief writes the run directory (and prints); another
            # process works in a private copy of it (its checkpoint to
            # resume).
            folder = _private_copy(folder, resume)
            self.quiet = True
        barrier("smp-prune-start")  # copies made before the chief writes
        try:
            result = self._run(folder, resume, callbacks, started)
        finally:
            if folder != run_dir:
                shutil.rmtree(folder, ignore_errors=True)
        barrier("smp-prune-end")  # the chief's files are complete
        if folder != run_dir:
            result = _in_run_dir(result, folder, run_dir)
        return result

    def _run(
        self,
        folder: str,
        resume: bool,
        callbacks: list[keras.callbacks.Callback] | None,
        started: float,
    ) -> PruneResult:
        self.load()
        rd.start_run_dir(folder, self.config, resume, self.resolved())
        step, resumed = 0, None
        if resume and os.path.isfile(os.path.join(folder, rd.CHECKPOINT)):
            step = resumed = self.restore(folder)
            _say(self.quiet, f"Resuming {folder} from step {step}.")
        else:
            self.measure_baselines()
        self.train(folder, step, list(callbacks or []))
        return self.finish(folder, started, resumed)

    # === Loading (every input error happens here, before any write) ===

    def load(self) -> None:
        config = self.config
        keras.utils.set_random_seed(config.seed)
        self.source = resolve_model_source(config.model)
        self.spec = task_spec(
            config.task,
            label_words=config.label_words,
            label_names=config.label_names,
            template=config.template,
            data_files=config.data_files,
            columns=config.columns,
        )
        if config.teacher is not None and self.spec.kind != "classification":
            raise ValueError(
                "`teacher` (knowledge distillation) needs a classification "
                f"task. Received: task={config.task!r} ({self.spec.kind})"
            )
        self.tokenizer = load_tokenizer(config.model)
        self.data: TaskData = load_job_data(config, self.spec, self.tokenizer)
        self.backbone = load_job_backbone(config.model, config)
        self.head = resolve_head(config.head, self.backbone)
        self.logit_scale = config.resolved_logit_scale(self.head)
        self.model = build_task_model(
            self.backbone,
            self.tokenizer,
            self.spec,
            head=self.head,
            pooling=config.pooling,
            logit_scale=self.logit_scale,
        )
        # Wanda's input norms, measured on the dense model (full masks).
        self.input_norms = self.calibrate() if self.calibrated else None
        initialize_scores(
            self.model,
            config.score_init,
            config.score_init_scale,
            input_norms=self.input_norms,
        )
        self.total = config.total_steps(self.data.train.size)
        self.warmup, self.cooldown = config.schedule_steps(self.total)
        self.eval_every = config.resolved_eval_every(self.total)
        self.hold_eval_every = config.resolved_hold_eval_every(self.total)
        self.checkpoint_every = config.resolved_checkpoint_every(self.total)
        # The first step whose masks are at the final density (fine-tune:
        # every step is at density 1).
        self.hold_start = (
            0 if config.final_density >= 1 else self.total - self.cooldown
        )
        # Span outputs have a sequence axis, and Keras's MirroredStrategy
        # path mishandles batches of varying length: both pad to max_length.
        bucketed = config.padding == "buckets" and self.spec.kind != "span"
        if config.distribute and keras.backend.backend() == "tensorflow":
            bucketed = False
        self.buckets = bucket_lengths(config.max_length) if bucketed else None
        self._compile()

    @property
    def calibrated(self) -> bool:
        """Whether the run needs Wanda's input norms: a method with fixed
        (Wanda) masks, or scores initialised from them."""
        method = self.config.method_spec
        if method.fixed_masks:
            return True
        return self.config.score_init == "wanda" and method.scored

    def calibrate(self) -> dict[str, np.ndarray]:
        """Wanda's input norms of every `MaskedDense`, from
        `calibration_examples` training examples (one eager pass)."""
        config = self.config
        batches = calibration_batches(
            self.data.train,
            config.calibration_examples,
            config.seed,
            config.batch_size,
        )
        self.calibration_examples = sum(
            len(batch["token_ids"]) for batch in batches
        )
        return activation_norms(self.model, batches)

    def resolved(self) -> dict[str, Any]:
        return {
            "model_path": self.source,
            "head": self.head,
            "logit_scale": self.logit_scale,
            "total_steps": self.total,
            "warmup_steps": self.warmup,
            "cooldown_steps": self.cooldown,
            "eval_every": self.eval_every,
            "hold_eval_every": self.hold_eval_every,
            "checkpoint_every": self.checkpoint_every,
            "buckets": list(self.buckets) if self.buckets else None,
            "train_examples": self.data.train.size,
            "calibration_examples": self.calibration_examples,
            "eval_split": self.data.test.name,
            "backend": keras.backend.backend(),
            "keras_version": keras.__version__,
        }

    def _compile(self) -> None:
        spec, config = self.spec, self.config
        optimizer = ScoreWeightAdam(
            learning_rate=learning_rate_schedule(
                # A one-shot run (0 steps) compiles, but never trains.
                config.lr_schedule,
                config.learning_rate,
                max(1, self.total),
            ),
            weight_learning_rate=config.weight_learning_rate,
        )
        if spec.kind == "span":
            ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            loss: Any = {"start_logits": ce, "end_logits": ce}
            metrics: Any = None
        elif spec.kind == "regression":
            loss, metrics = keras.losses.MeanSquaredError(), None
        elif config.teacher is not None:
            loss, metrics = DistillationLoss(), [packed_accuracy]
        else:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            metrics = ["accuracy"]
        self.model.compile(
            optimizer=optimizer,
            loss=loss,
            metrics=metrics,
            jit_compile=self.jit_compile,
            run_eagerly=self.jit_compile is None,
        )
        self.model.optimizer.build(self.model.trainable_variables)

    # === Baselines ===

    def measure_baselines(self) -> None:
        config, data = self.config, self.data
        _say(self.quiet, f"Evaluating the unpruned model on {data.test.name} …")
        zero_shot = self.score(data.test)
        magnitude = None
        if config.final_density < 1.0:
            with override_masks(self.model, config.final_density):
                magnitude = self.score(data.test)
        self.state.baselines = {
            "zero_shot": zero_shot,
            "magnitude": magnitude,
            "majority": data.majority,
        }
        self.state.log.append(
            {"event": "baselines", "step": 0, **self.state.baselines}
        )
        if config.teacher is not None:
            self.state.teacher_logits = teacher_logits(
                config, self.tokenizer, self.spec, self.data.train, self.total
            )

    def score(self, split: Any) -> dict[str, float]:
        return score_split(self.model, self.spec, split, buckets=self.buckets)

    # === Checkpoints ===

    def save(self, folder: str, step: int) -> None:
        path = os.path.join(folder, rd.CHECKPOINT)
        save_checkpoint(path, self.model, step, self.state)

    def restore(self, folder: str) -> int:
        """Resumes from the run's checkpoint; returns its step."""
        teacher_shape = None
        if self.config.teacher is not None:
            teacher_shape = (self.data.train.size, self.spec.num_labels)
        step, self.state = load_checkpoint(
            os.path.join(folder, rd.CHECKPOINT),
            self.model,
            total_steps=self.total,
            teacher_shape=teacher_shape,
        )
        return step

    # === Training ===

    def callbacks(self) -> list[keras.callbacks.Callback]:
        config = self.config
        method = config.method_spec
        if method.allocation is None or method.fixed_masks:
            return []
        density = smpcore.cubic_density_schedule(
            final_density=config.final_density,
            total_steps=self.total,
            warmup_steps=self.warmup,
            cooldown_steps=self.cooldown,
        )
        regularization = None
        if method.scored and config.regularization_weight > 0:
            regularization = smpcore.regularization_schedule(
                final_weight=config.regularization_weight,
                total_steps=self.total,
            )
        callbacks: list[keras.callbacks.Callback] = [
            SparsityScheduler(
                density,
                allocation=method.allocation,
                temperature=config.temperature,
                regularization_schedule=regularization,
            )
        ]
        if method.threshold_ramp:
            threshold = smpcore.threshold_schedule(
                density,
                final_density=config.final_density,
                final_threshold=SOFT_MOVEMENT_THRESHOLD,
            )
            callbacks.append(ThresholdScheduler(threshold))
        return callbacks

    def evaluation_steps(self) -> set[int]:
        """Steps after which the validation split is evaluated.

        Every `eval_every` steps (the learning curve), every
        `hold_eval_every` steps of the hold phase (what ``select="best"``
        chooses from), and the last step; none when both are 0.
        """
        if self.data.curve is None or not (
            self.eval_every or self.hold_eval_every
        ):
            return set()
        steps = {self.total}
        if self.eval_every:
            steps.update(range(self.eval_every, self.total, self.eval_every))
        if self.hold_eval_every:
            steps.update(
                range(
                    self.hold_start + self.hold_eval_every,
                    self.total,
                    self.hold_eval_every,
                )
            )
        return steps

    def boundaries(self, start: int) -> list[tuple[int, int]]:
        marks = {self.total, *self.evaluation_steps()}
        if self.checkpoint_every:
            every = self.checkpoint_every
            marks.update(range(every, self.total, every))
        points = [start, *sorted(m for m in marks if m > start)]
        return list(zip(points[:-1], points[1:], strict=True))

    def batch_rows(self, start: int, stop: int) -> np.ndarray:
        """Training rows of steps `start..stop-1`, `(steps, batch_size)`."""
        config, train = self.config, self.data.train
        if config.group_by_length:
            return grouped_batch_indices(
                config.seed,
                example_lengths(train.inputs),
                config.batch_size,
                start,
                stop,
            )
        return batch_indices(
            config.seed, train.size, config.batch_size, start, stop
        )

    def fit_chunk(
        self, start: int, stop: int, extra: list[keras.callbacks.Callback]
    ) -> dict[str, float]:
        train = self.data.train
        targets = None  # the split's own
        if self.spec.kind == "regression":
            targets = np.asarray(train.targets, "float32").reshape(-1, 1)
        if self.state.teacher_logits is not None:
            labels = np.asarray(train.targets, "float32")[:, None]
            targets = np.concatenate(
                [labels, self.state.teacher_logits], axis=1
            )
        batches = training_batches(
            train, self.batch_rows(start, stop), self.buckets, targets
        )
        batch_size = self.config.batch_size
        if process_count() > 1:
            # Each process feeds its own rows of every global batch.
            rows = local_rows(batch_size)
            batches = keras.tree.map_structure(lambda a: a[rows], batches)
            batch_size = rows.stop - rows.start
        if len({x["token_ids"].shape for x, _ in batches}) == 1:
            # One shape: plain arrays, as `fit` batches them itself.
            x, y = keras.tree.map_structure(
                lambda *parts: np.concatenate(parts), *batches
            )
            data: dict[str, Any] = {"x": x, "y": y}
            data["batch_size"] = batch_size
        else:
            data = {"x": _dataset(batches), "steps_per_epoch": len(batches)}
        history = self.model.fit(
            **data,
            epochs=1,
            shuffle=False,
            verbose=0 if self.quiet else 1,
            callbacks=[*self._callbacks, *extra],
        )
        return {k: float(v[-1]) for k, v in history.history.items()}

    def set_fixed_masks(self, folder: str) -> None:
        """Sets the masks of a fixed-mask method (Wanda) from the input
        norms of the calibration pass, before the first step."""
        began = time.perf_counter()
        kept = set_wanda_masks(
            self.model, self.input_norms, self.config.final_density
        )
        record = {
            "event": "one_shot",
            "step": 0,
            "method": self.config.method,
            "calibration_examples": self.calibration_examples,
            **density_of(self.model),
            "seconds": round(time.perf_counter() - began, 3),
        }
        self.state.log.append(record)
        rd.write_log(os.path.join(folder, rd.LOG), self.state.log)
        _say(
            self.quiet,
            f"{self.config.method}: masks from {self.calibration_examples} "
            f"calibration examples, {kept:,} weights kept "
            f"(density {record['density']:.4g}).",
        )

    def train(self, folder: str, start: int, extra: list[Any]) -> None:
        method = self.config.method_spec
        if method.fixed_masks and start == 0:
            self.set_fixed_masks(folder)
        if method.one_shot:
            return
        self._callbacks = self.callbacks()
        log_path = os.path.join(folder, rd.LOG)
        evaluations = self.evaluation_steps()
        for a, b in self.boundaries(start):
            if not self.quiet:
                _say(self.quiet, f"Steps {a + 1}-{b} of {self.total}")
            began = time.perf_counter()
            logs = self.fit_chunk(a, b, extra)
            record: dict[str, Any] = {"event": "train", "step": b, **logs}
            record["seconds"] = round(time.perf_counter() - began, 3)
            if b in evaluations:
                began = time.perf_counter()
                point = {"step": b, **density_of(self.model)}
                point["metrics"] = self.score(self.data.curve)
                point["final_density"] = b > self.hold_start
                self.state.curve.append(point)
                self._consider(point)
                record["validation"] = point["metrics"]
                record["density"] = point["density"]
                record["eval_seconds"] = round(time.perf_counter() - began, 3)
            self.state.log.append(record)
            rd.write_log(log_path, self.state.log)
            _say(self.quiet, _format_record(record, self.total))
            if b % self.checkpoint_every == 0 and b < self.total:
                self.save(folder, b)

    def _consider(self, point: dict[str, Any]) -> None:
        """Keeps `point`'s model if it is the best at the final density."""
        if self.config.select != "best" or not point["final_density"]:
            return
        metric = self.spec.metrics[0]
        value = float(point["metrics"][metric])
        if self.state.best is not None and not value > self.state.best["value"]:
            return
        self.state.best = {
            "step": point["step"],
            "metric": metric,
            "value": value,
        }
        self.state.best_values = [
            np.array(ops.convert_to_numpy(v))
            for v in saved_variables(self.model)
        ]

    def selection(self) -> dict[str, Any]:
        """Restores the selected model; says which step it is."""
        if self.state.best is None or self.state.best["step"] == self.total:
            chosen = {"select": self.config.select, "step": self.total}
            if self.state.best is not None:
                chosen.update(
                    metric=self.state.best["metric"],
                    value=self.state.best["value"],
                )
            return chosen
        for variable, value in zip(
            saved_variables(self.model),
            self.state.best_values or [],
            strict=True,
        ):
            variable.assign(value)
        return {"select": "best", **self.state.best}

    # === Results ===

    def finish(self, folder: str, started: float, resumed: int | None):
        config, data = self.config, self.data
        selected = self.selection()
        if selected["step"] != self.total:
            _say(
                self.quiet,
                f"Selected the masks of step {selected['step']} (validation "
                f"{selected['metric']} {selected['value']:.4f}).",
            )
        masks_path = os.path.join(folder, rd.MASKS)
        masks = {
            name: layer.mask()
            for name, layer in named_masked_layers(self.model).items()
        }
        smpcore.save_masks_file(masks_path, masks)
        report = smpcore.sparsity_report(masks)
        _say(self.quiet, f"Evaluating the pruned model on {data.test.name} …")
        metrics = self.score(data.test)
        model_dir = None
        if config.trains_weights:
            from smp_keras.bert import export_huggingface

            model_dir = os.path.join(folder, rd.MODEL)
            export_huggingface(self.model, model_dir, tokenizer=self.tokenizer)
        plot_path = plot_sparsity(
            density_table(report),
            os.path.join(folder, rd.PLOT),
            title=f"{config.method}"
            + (f" {config.structure}" if config.structure else "")
            + f" on {self.spec.name}: remaining weights "
            f"{100 * report['total']['density']:.2f}%",
        )
        result = PruneResult(
            config=config,
            run_dir=folder,
            eval_split=data.test.name,
            metrics=metrics,
            zero_shot=self.state.baselines["zero_shot"],
            magnitude=self.state.baselines["magnitude"],
            majority=self.state.baselines["majority"],
            curve=self.state.curve,
            kept=int(report["total"]["kept"]),
            total=int(report["total"]["size"]),
            artifact_path=masks_path,
            artifact_bytes=os.path.getsize(masks_path),
            plot_path=plot_path,
            model_dir=model_dir,
            wall_time=time.perf_counter() - started,
            resumed_from=resumed,
            resolved=self.resolved(),
            selected=selected,
            model=self.model,
        )
        rd.write_json(os.path.join(folder, rd.METRICS), result.to_dict())
        shutil.rmtree(os.path.join(folder, "checkpoint"), ignore_errors=True)
        return result


def _private_copy(folder: str, resume: bool) -> str:
    """A private copy of run directory `folder` for a non-chief process
    (what a resumed run reads: config, log, checkpoint)."""
    import tempfile

    private = tempfile.mkdtemp(prefix=f"smp-process-{process_index()}-")
    if resume:
        shutil.copytree(folder, private, dirs_exist_ok=True)
    return private


def _in_run_dir(result: PruneResult, private: str, run_dir: str) -> Any:
    """`result` of a non-chief process with its paths in the chief's run
    directory (its private copy is gone)."""
    changes = {"run_dir": run_dir}
    for field in ("artifact_path", "plot_path", "model_dir"):
        path = getattr(result, field)
        if path is not None:
            changes[field] = os.path.join(
                run_dir, os.path.relpath(path, private)
            )
    return dataclasses.replace(result, **changes)


def _dataset(batches: list[tuple[Any, Any]]) -> Any:
    """`batches` as what `fit` takes when batches differ in length.

    JAX and PyTorch take a generator (a new length compiles once on JAX).
    TensorFlow gets a `tf.data.Dataset` whose sequence axis is `None`:
    Keras would infer a fixed length from a generator's first batches.
    """

    def generate() -> Any:
        yield from batches

    if keras.backend.backend() != "tensorflow":
        return generate()
    import tensorflow as tf

    def spec(a: np.ndarray) -> Any:  # batch and sequence axes vary
        shape = (None, None, *a.shape[2:])[: a.ndim]
        return tf.TensorSpec(shape, tf.as_dtype(a.dtype))

    signature = keras.tree.map_structure(spec, batches[0])
    return tf.data.Dataset.from_generator(generate, output_signature=signature)


def _format_record(record: dict[str, Any], total: int) -> str:
    parts = [f"step {record['step']}/{total}"]
    for key in (
        "loss",
        "accuracy",
        "packed_accuracy",
        "density",
        "regularization_weight",
    ):
        if key in record:
            parts.append(f"{key} {record[key]:.4g}")
    for name, value in (record.get("validation") or {}).items():
        parts.append(f"val_{name} {value:.4f}")
    parts.append(f"({record['seconds']:.1f} s)")
    return "  ".join(parts)


# === The public entry point ===


def prune(
    config: PruneConfig,
    *,
    quiet: bool = False,
    callbacks: list[keras.callbacks.Callback] | None = None,
    jit_compile: bool | str | None = "auto",
) -> PruneResult:
    """Prunes a pre-trained BERT for a task; writes and returns the results.

    Steps: check the run directory (an existing run with the same config
    and an unfinished checkpoint is resumed; a finished or different run is
    an error unless `config.overwrite`), load model, tokenizer and data,
    build the frozen-head model, measure the baselines (unpruned model,
    magnitude pruning without training, majority class), train, and write
    ``masks.smpmask``, ``sparsity.png``, ``train_log.jsonl`` and
    ``metrics.json`` (see ``smp_keras.pruning.run_dir``). Nothing in the
    run directory is touched before every input has been checked.

    Methods: ``smp-s``/``smp-l`` learn scores of frozen weights (top-k,
    SMP-S or uniform allocation); ``magnitude`` keeps the largest weights
    and fine-tunes them; ``movement`` learns scores while fine-tuning;
    ``soft-movement`` keeps `sigmoid(S) > τ` with `τ` ramped to 0.1 and
    the regulariser (`regularization_weight`) setting the density, which is
    reported as reached rather than forced; ``fine-tune`` trains the dense
    weights; ``wanda`` trains nothing: one calibration pass over
    `calibration_examples` training examples measures each matrix's input
    norms and each output unit keeps its largest `|W_ij| * ||X_j||_2`
    (0 steps); ``wanda-fine-tune`` sets the same masks before the first
    step, keeps them fixed and fine-tunes the kept weights. With an N:M
    `structure` every matrix keeps `n` of every `m` inputs of each unit
    (``smp-l``, ``magnitude``, ``movement``, ``wanda``,
    ``wanda-fine-tune``). All use the frozen task head.

    Args:
        config: The job's :class:`PruneConfig`.
        quiet: Print log lines only (no progress bars).
        callbacks: Extra Keras callbacks passed to every `fit` call.
        jit_compile: Passed to `model.compile` (`"auto"`: Keras's choice);
            None runs eagerly (`run_eagerly=True`), which saves the compile
            time of very short runs (tests).

    With ``config.distribute="data-parallel"`` the whole job runs inside
    ``smp_keras.pruning.distribute.distribution_scope`` (JAX:
    `keras.distribution.DataParallel`; TensorFlow:
    `tf.distribute.MirroredStrategy`); `batch_size` is the global batch.

    Returns:
        A :class:`PruneResult` (also written as ``metrics.json``).

    Raises:
        TypeError: If `config` is not a :class:`PruneConfig`.
        ValueError: For invalid input (task, data, columns, labels, label
            words) or a run directory that would be overwritten
            (:class:`RunDirectoryError`).
        FileNotFoundError: For missing data or model files.
        NotImplementedError: For ``distribute="data-parallel"`` on torch.

    Example:
        >>> result = prune(PruneConfig(steps=300))  # doctest: +SKIP
        >>> result.metrics["accuracy"], result.density  # doctest: +SKIP
    """
    if not isinstance(config, PruneConfig):
        raise TypeError(
            f"`config` must be a PruneConfig. Received: {type(config).__name__}"
        )
    started = time.perf_counter()
    with distribution_scope(config.distribute) as scope:
        check_global_batch(config.batch_size, scope)
        return _run_job(config, quiet, callbacks, jit_compile, started)


def _run_job(
    config: PruneConfig,
    quiet: bool,
    callbacks: list[keras.callbacks.Callback] | None,
    jit_compile: bool | str | None,
    started: float,
) -> PruneResult:
    return PruneJob(config, quiet, jit_compile).run(callbacks, started)
