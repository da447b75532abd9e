"""`evaluate` and `export`: use a mask artifact (or a run directory).

A run directory supplies every default (model, task, head, label words,
data files); explicit arguments override it. Prototype heads are always
computed from the original dense model, as during training.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from typing import Any

import smpcore
from smp_keras.pruning import run_dir as rd
from smp_keras.pruning.config import PruneConfig

__all__ = ["evaluate", "export", "load_pruned_model"]

_SPLITS = ("train", "validation", "test")


def _settings(run: PruneConfig | None, **overrides: Any) -> PruneConfig:
    base = run or PruneConfig()
    changes = {k: v for k, v in overrides.items() if v is not None}
    return dataclasses.replace(base, **changes)


def _default_masks(run_folder: str | None, masks_path: Any) -> str | None:
    if masks_path is not None:
        path = os.fspath(masks_path)
        if os.path.isdir(path):
            path = os.path.join(path, rd.MASKS)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No mask file at {path!r}.")
        return path
    if run_folder is None:
        return None
    path = os.path.join(run_folder, rd.MASKS)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"The run {run_folder!r} has no {rd.MASKS}: it has not finished."
        )
    return path


def load_pruned_model(
    model_source: str | os.PathLike | None = None,
    masks_path: str | os.PathLike | None = None,
    task: str | None = None,
    *,
    reference_format: bool = False,
    label_words: Any = None,
    template: str | None = None,
    head: str | None = None,
    pooling: str | None = None,
    logit_scale: float | None = None,
    data_files: Any = None,
    columns: dict[str, str] | None = None,
) -> tuple[Any, Any, Any, PruneConfig]:
    """Builds the frozen-head model of a task and loads masks into it.

    Args:
        model_source: A run directory (its config gives every default and
            its ``model/`` the trained weights, if any), ``"minilm"``, or
            any :func:`smp_keras.bert.from_pretrained` source.
        masks_path: A ``.smpmask`` artifact, or with `reference_format` the
            authors' ``.npy``; None: the run's masks (or none: dense).
        task: The task preset (default: the run's, else the config
            default).
        reference_format: Read `masks_path` as the reference ``.npy``.
        label_words: Override the task's label words.
        template: Override the prompt template.
        head: Override the head (see :class:`PruneConfig`).
        pooling: Override the pooling.
        logit_scale: Override the logit scale.
        data_files: Override the run's data files (they tell whether your
            own data, task ``"custom"``, are sentence pairs).
        columns: Override the run's column mapping.

    Returns:
        `(model, spec, tokenizer, settings)`.

    Raises:
        FileNotFoundError: Missing model or mask files.
        ValueError: Masks that do not match the model, invalid settings.
    """
    from smp_keras.bert import import_reference_masks
    from smp_keras.model_utils import load_masks
    from smp_keras.pruning.data import task_spec
    from smp_keras.pruning.model import build_run_model, load_tokenizer

    folder = None if model_source is None else os.fspath(model_source)
    run = rd.run_config_of(folder)
    settings = _settings(
        run,
        model=None if run is not None else folder,
        task=task,
        label_words=label_words,
        template=template,
        head=head,
        pooling=pooling,
        logit_scale=logit_scale,
        data_files=data_files,
        columns=columns,
    )
    masks = _default_masks(folder if run is not None else None, masks_path)
    spec = task_spec(
        settings.task,
        label_words=settings.label_words,
        label_names=settings.label_names,
        template=settings.template,
        data_files=settings.data_files,
        columns=settings.columns,
    )
    tokenizer = load_tokenizer(settings.model)
    weights = None if run is None else os.path.join(folder, rd.MODEL)
    if weights is not None and not os.path.isdir(weights):
        weights = None
    model = build_run_model(settings, tokenizer, spec, weights)
    if masks is not None:
        if reference_format:
            import_reference_masks(model, masks)
        else:
            load_masks(model, masks)
    return model, spec, tokenizer, settings


def evaluate(
    model_source: str | os.PathLike | None = None,
    masks_path: str | os.PathLike | None = None,
    task: str | None = None,
    *,
    split: str = "validation",
    data_files: Any = None,
    columns: dict[str, str] | None = None,
    reference_format: bool = False,
    label_words: Any = None,
    template: str | None = None,
    head: str | None = None,
    pooling: str | None = None,
    logit_scale: float | None = None,
    max_length: int | None = None,
    max_examples: int | None = None,
    batch_size: int = 64,
    jit_compile: bool | str | None = "auto",
) -> dict[str, Any]:
    """Scores a model with a mask artifact on a split of a task.

    Args:
        model_source: A run directory, ``"minilm"`` or any
            :func:`smp_keras.bert.from_pretrained` source (see
            :func:`load_pruned_model`).
        masks_path: Our ``.smpmask`` artifact, or the authors' ``.npy``
            with `reference_format=True`; None: the run's masks.
        task: Task preset (default: the run's).
        split: ``"train"``, ``"validation"`` or ``"test"``.
        data_files: Local data files (default: the run's).
        columns: Column mapping for `data_files` (default: the run's).
        reference_format: Read `masks_path` as the reference ``.npy``.
        label_words: Override the label words.
        template: Override the prompt template.
        head: Override the head.
        pooling: Override the pooling.
        logit_scale: Override the logit scale.
        max_length: Tokens per example (default: the run's, else 64).
        max_examples: Score only a fixed seeded sample of this many
            examples (the job's `test_max_examples` sample).
        batch_size: Examples per prediction batch.
        jit_compile: Passed to `model.compile`; None predicts eagerly
            (faster for a handful of examples).

    Returns:
        ``{"task", "split", "examples", "metrics": {name: value},
        "kept", "size", "density"}`` (metrics are fractions in [0, 1]).

    Raises:
        FileNotFoundError: Missing model, mask or data files.
        ValueError: Unknown task or split, bad data, or masks that do not
            match the model.

    Example:
        >>> evaluate("runs/rotten_tomatoes-smp-s-0.1",
        ...          split="test")  # doctest: +SKIP
        {'task': 'rotten_tomatoes', 'split': 'test', 'examples': 1008, ...}
    """
    from smp_keras.data import load_task_data
    from smp_keras.pruning.data import (
        bucket_lengths,
        encode_split,
        sample_rows,
    )
    from smp_keras.pruning.metrics import density_of, score_split

    if split not in _SPLITS:
        raise ValueError(
            f"`split` must be one of {_SPLITS}. Received: split={split!r}"
        )
    model, spec, tokenizer, settings = load_pruned_model(
        model_source,
        masks_path,
        task,
        reference_format=reference_format,
        label_words=label_words,
        template=template,
        head=head,
        pooling=pooling,
        logit_scale=logit_scale,
        data_files=data_files,
        columns=columns,
    )
    model.compile(jit_compile=jit_compile, run_eagerly=jit_compile is None)
    settings = _settings(
        settings,
        data_files=data_files,
        columns=columns,
        max_length=max_length,
    )
    rows = load_task_data(
        spec,
        data_files=settings.data_files,
        columns=settings.columns,
        split=split,
    )
    rows = sample_rows(rows, max_examples)
    encoded = encode_split(spec, tokenizer, rows, split, settings.max_length)
    # Examples grouped by length (the same outputs up to float rounding).
    metrics = score_split(
        model,
        spec,
        encoded,
        batch_size=batch_size,
        buckets=bucket_lengths(settings.max_length),
    )
    return {
        "task": spec.name,
        "split": split,
        "examples": len(rows),
        "metrics": metrics,
        **density_of(model),
    }


def export(
    source: str | os.PathLike,
    *,
    masks_output: str | os.PathLike | None = None,
    reference_path: str | os.PathLike | None = None,
    keras_path: str | os.PathLike | None = None,
    hf_folder: str | os.PathLike | None = None,
    model: str | None = None,
    task: str | None = None,
    compact: bool = False,
    sparse: bool | float = False,
) -> dict[str, str]:
    """Writes a run's (or an artifact's) masks in the forms you need.

    Args:
        source: A run directory or a ``.smpmask`` artifact.
        masks_output: Copy of the mask artifact (checked first).
        reference_path: The masks in the authors' ``.npy`` format.
        keras_path: A ``.keras`` file of the pruned classifier built from
            standard Keras layers only (masks baked into the kernels), so
            loading it needs Keras alone, not this library
            (``smp_keras.bert.export.plain_keras_model``).
        hf_folder: A ``transformers`` folder with the masks baked in
            (:func:`smp_keras.bert.export_huggingface`), served by
            ``transformers`` alone.
        model: Model source when `source` is an artifact (default: the
            run's, else ``"minilm"``).
        task: Task for `keras_path` when `source` is an artifact.
        compact: Write `keras_path` without the feed-forward neurons and
            attention heads the masks provably killed, with the same
            outputs (:func:`smp_keras.bert.save_compact_keras`). Needs
            `keras_path` and excludes `hf_folder`: a ``transformers`` BERT
            has one width for all layers.
        sparse: Write `keras_path` compacted (as `compact`) with every
            encoder matrix whose density is at or below the current
            backend's measured sparse crossover stored as a
            :class:`~smp_keras.layers.SparseDense` (its kept weights only,
            multiplied by the backend's sparse kernel); a float is the
            crossover density to use instead. Implies `compact`; loading
            the file needs ``import smp_keras.layers``.

    Returns:
        `{kind: path written}`; with `compact`, also ``"compaction"``: the
        printable table of the heads and neurons kept per layer
        (:meth:`smp_keras.bert.CompactReport.table`).

    Raises:
        FileNotFoundError: If `source` holds no artifact (a run directory
            without masks: the message names the missing file).
        ValueError: If nothing is asked for, `compact` or `sparse` without
            `keras_path` or with `hf_folder`, a `sparse` that is neither a
            bool nor in [0, 1], a backend without a sparse kernel, or masks
            that do not match.
    """
    if sparse is not False:
        from smp_keras.bert.compact import _check_sparse
        from smp_keras.layers import sparse_pays

        sparse = _check_sparse(sparse)
        sparse_pays(0.0)  # the current backend has a sparse kernel
        compact = compact or sparse is not False
    if compact and (keras_path is None or hf_folder is not None):
        raise ValueError(
            "`compact` applies to `keras_path` only: give keras_path, and "
            "export hf_folder in a separate call without compact "
            "(transformers' BERT has one head count and one intermediate "
            "size for all layers, so it cannot hold a compacted model). "
            f"Received: compact=True, sparse={sparse!r}, "
            f"keras_path={keras_path!r}, hf_folder={hf_folder!r}"
        )
    path = os.fspath(source)
    run = rd.run_config_of(path)
    masks = _default_masks(
        path if run is not None else None, None if run else path
    )
    wanted = (masks_output, reference_path, keras_path, hf_folder)
    if all(item is None for item in wanted):
        raise ValueError(
            "Nothing to export: give masks_output, reference_path, "
            "keras_path or hf_folder."
        )
    written: dict[str, str] = {}
    if masks_output is not None:
        smpcore.load_masks_file(masks)  # validates schema and checksum
        out = os.fspath(masks_output)
        with open(masks, "rb") as handle:
            data = handle.read()
        rd.atomic_write(out, lambda h: h.write(data))
        written["masks"] = out
    if reference_path is None and keras_path is None and hf_folder is None:
        return written
    loaded, _, tokenizer, _ = load_pruned_model(
        path if run is not None else model, masks, task
    )
    if reference_path is not None:
        from smp_keras.bert import export_reference_masks

        export_reference_masks(loaded, os.fspath(reference_path))
        written["reference"] = os.fspath(reference_path)
    if hf_folder is not None:
        written["huggingface"] = _export_hf(loaded, tokenizer, hf_folder)
    if keras_path is not None and compact:
        from smp_keras.bert import save_compact_keras

        keras_path = os.fspath(keras_path)
        report = save_compact_keras(loaded, keras_path, sparse=sparse)
        written["keras"] = keras_path
        written["compaction"] = report.table()
    elif keras_path is not None:
        from smp_keras.bert.export import save_plain_keras

        written["keras"] = save_plain_keras(loaded, os.fspath(keras_path))
    return written


def _export_hf(model: Any, tokenizer: Any, folder: Any) -> str:
    from smp_keras.bert import export_huggingface

    folder = os.fspath(folder)
    if os.path.isdir(folder) and os.listdir(folder):
        raise FileExistsError(
            f"hf_folder {folder!r} exists and is not empty: remove it or "
            "choose another folder."
        )
    staging = folder.rstrip("/\\") + ".partial"
    shutil.rmtree(staging, ignore_errors=True)
    export_huggingface(model, staging, tokenizer=tokenizer)
    if os.path.isdir(folder):
        os.rmdir(folder)
    os.replace(staging, folder)
    return folder
