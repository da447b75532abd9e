"""Run directories: atomic files, protection of finished work.

A run directory holds::

    config.json        the config and resolved values (written first)
    train_log.jsonl    one JSON record per training chunk / evaluation
    checkpoint/        state.npz: the latest resumable state (while running;
                       its format: ``smp_keras.pruning.checkpoint``)
    masks.smpmask      the mask artifact (smpcore format)
    model/             trained weights, for methods that train them
    sparsity.png       remaining weights by layer and matrix type
    metrics.json       final results: written last; marks the run finished

Every file is written to a temporary sibling (``.NAME.XXXXXXXX.tmp``) and
renamed into place (`os.replace`), so no half-written file ever appears
under its final name, and nothing is deleted unless the user asked for
`overwrite`. A run killed mid-write leaves at most such temporary files;
the next start on the folder removes them (only those of the run's own
files). ``config.json`` is validated against the `PruneConfig` schema (every
key, no other, right types) before a run resumes from it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable, Mapping
from typing import IO, Any

import numpy as np

from smp_keras.pruning.config import PruneConfig, migrate_config
from smpcore.artifacts import atomic_write as smpcore_atomic_write

__all__ = [
    "CHECKPOINT",
    "RunDirectoryError",
    "atomic_write",
    "check_run_dir",
    "finite_json",
    "start_run_dir",
    "read_json",
    "read_run_config",
    "run_config_of",
    "remove_stale_temporaries",
    "write_json",
]

CONFIG = "config.json"
METRICS = "metrics.json"
MASKS = "masks.smpmask"
PLOT = "sparsity.png"
LOG = "train_log.jsonl"
MODEL = "model"
CHECKPOINT = os.path.join("checkpoint", "state.npz")
# Files and folders a run writes; `overwrite` removes only these.
RUN_FILES = (CONFIG, METRICS, MASKS, PLOT, LOG, MODEL, "checkpoint")
# The top-level keys of config.json.
_CONFIG_KEYS = ("config", "resolved", "smp_keras_version")


class RunDirectoryError(ValueError):
    """An existing run directory cannot be used as asked."""


# === Atomic files ===


def atomic_write(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """Writes `path` through a temporary sibling, fsync and `os.replace`.

    Args:
        path: Destination file.
        write: Called with the open binary temporary file.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    smpcore_atomic_write(path, write)


def write_text(path: str, text: str) -> None:
    """Writes UTF-8 text atomically."""
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def write_json(path: str, value: Any) -> None:
    """Writes a JSON document atomically (indented, NaN written as null)."""
    write_text(path, json.dumps(finite_json(value), indent=2) + "\n")


def finite_json(value: Any) -> Any:
    """Replaces NaN/inf floats by None so the JSON is standard."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    if isinstance(value, np.generic):
        return finite_json(value.item())
    return value


def read_json(path: str) -> Any:
    """Reads a JSON file; a clear `ValueError` if it is not JSON."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except ValueError as error:
        raise ValueError(f"{path!r} is not valid JSON ({error}).") from None


def write_log(path: str, records: list[dict[str, Any]]) -> None:
    """Rewrites the JSON-lines training log atomically."""
    text = "".join(json.dumps(finite_json(r)) + "\n" for r in records)
    write_text(path, text)


# === The run directory ===


def read_run_config(path: str) -> PruneConfig:
    """Reads and validates a run directory's ``config.json``.

    The file must be a JSON object with the keys ``config`` (every
    `PruneConfig` field, no other), ``resolved`` (an object) and
    ``smp_keras_version`` (a string); field values are checked by
    `PruneConfig`. Nothing in the file is used before it passes. The keys
    of older versions are read as the fields that replaced them
    (``smp_keras.pruning.config.migrate_config``: a run written with
    ``reg_weight`` loads), and the fields added since take the value the
    older version meant (``ADDED_KEYS``: a run without ``structure`` is
    unstructured).

    Args:
        path: The ``config.json`` file.

    Returns:
        The run's `PruneConfig`.

    Raises:
        RunDirectoryError: If the file is not valid JSON or breaks the
            schema; the message names the file and the key.
    """
    try:
        data = read_json(path)
        return _run_config_from(data)
    except (TypeError, ValueError) as error:
        raise RunDirectoryError(
            f"{path!r} is not a valid run config ({error})"
        ) from None


def run_config_of(folder: str | None) -> PruneConfig | None:
    """The config of a run directory, or None if `folder` is not one.

    A folder without ``config.json``, or whose ``config.json`` is not a
    run's (a Hugging Face model folder's), is not a run directory. The one
    reader of a finished run's settings (`evaluate`, `export`, the
    distillation teacher).

    Raises:
        RunDirectoryError: A run's ``config.json`` that breaks the schema.
    """
    if folder is None or not os.path.isdir(folder):
        return None
    path = os.path.join(folder, CONFIG)
    if not os.path.isfile(path):
        return None
    data = read_json(path)
    if not isinstance(data, dict) or "config" not in data:
        return None  # a Hugging Face model folder
    return read_run_config(path)


def _run_config_from(data: Any) -> PruneConfig:
    if not isinstance(data, dict):
        raise TypeError(
            f"it must hold a JSON object. Received: {type(data).__name__}"
        )
    _check_keys(data, _CONFIG_KEYS, "config.json")
    if not isinstance(data["resolved"], dict):
        raise TypeError("`resolved` must be a JSON object")
    if not isinstance(data["smp_keras_version"], str):
        raise TypeError("`smp_keras_version` must be a string")
    config = data["config"]
    if not isinstance(config, dict):
        raise TypeError("`config` must be a JSON object")
    config = migrate_config(config, complete=True)
    fields = [field.name for field in dataclasses.fields(PruneConfig)]
    _check_keys(config, fields, "config")
    return PruneConfig.from_dict(config)


def _check_keys(data: dict[str, Any], keys: Any, where: str) -> None:
    missing = [key for key in keys if key not in data]
    unknown = sorted(str(key) for key in data if key not in keys)
    if missing or unknown:
        raise ValueError(
            f"`{where}` must have exactly the keys {list(keys)}. Missing: "
            f"{missing}; unknown: {unknown}"
        )


def _existing_config(folder: str) -> PruneConfig | None:
    path = os.path.join(folder, CONFIG)
    if not os.path.isfile(path):
        return None
    try:
        return read_run_config(path)
    except RunDirectoryError as error:
        raise RunDirectoryError(
            f"{error}. Pass --overwrite to replace this run, or choose "
            "another --output-dir."
        ) from None


def check_run_dir(config: PruneConfig) -> tuple[str, bool]:
    """Checks the run directory, changing nothing; says whether to resume.

    - missing or empty: a fresh run;
    - the same config, unfinished: resume (from its checkpoint if any);
    - finished, a different config, or not a run directory: an error,
      unless `config.overwrite` (then :func:`start_run_dir` removes the
      previous run's files, and only those a run writes);
    - an invalid ``config.json`` (see :func:`read_run_config`), or a
      ``checkpoint`` or ``model`` entry that is a link or a file: an error
      (a resumed run writes into those folders).

    Args:
        config: The new run's config.

    Returns:
        `(folder, resume)`.

    Raises:
        RunDirectoryError: If the folder holds work that would be lost.
    """
    folder = config.run_dir()
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise RunDirectoryError(
            f"output_dir {folder!r} exists and is not a directory."
        )
    if not os.path.isdir(folder) or not _entries(folder):
        return folder, False
    if config.overwrite:
        return folder, False
    previous = _existing_config(folder)
    if previous is None:
        raise RunDirectoryError(
            f"output_dir {folder!r} is not empty and holds no run "
            f"({CONFIG} missing). Choose another --output-dir, or pass "
            "--overwrite to write this run into it anyway."
        )
    if not previous.same_run(config):
        changed = _changed_fields(previous, config)
        raise RunDirectoryError(
            f"output_dir {folder!r} holds a run with a different config "
            f"(changed: {'; '.join(changed)}). Choose another --output-dir, "
            "or pass --overwrite to replace it."
        )
    if is_finished(folder):
        raise RunDirectoryError(
            f"output_dir {folder!r} holds a finished run with this config "
            f"(see {os.path.join(folder, METRICS)}). Pass --overwrite to "
            "run it again."
        )
    _check_run_folders(folder)
    return folder, True


def _check_run_folders(folder: str) -> None:
    """The folders a run writes into must be real folders inside it (a
    link would send the checkpoint or the weights elsewhere)."""
    for name in ("checkpoint", MODEL):
        path = os.path.join(folder, name)
        if os.path.islink(path) or (
            os.path.lexists(path) and not os.path.isdir(path)
        ):
            raise RunDirectoryError(
                f"{path!r} must be a folder of the run, not a link or a "
                "file: the run writes into it. Pass --overwrite to replace "
                "it, or choose another --output-dir."
            )


def start_run_dir(
    folder: str,
    config: PruneConfig,
    resume: bool,
    resolved: Mapping[str, Any],
) -> None:
    """Creates the run directory (or clears a previous run when
    `config.overwrite`) and writes ``config.json``; on resume, only removes
    the temporary files a killed run left."""
    if os.path.isdir(folder):
        remove_stale_temporaries(folder)
    if resume:
        return
    os.makedirs(folder, exist_ok=True)
    if config.overwrite:
        _remove_run_files(folder)
    from smp_keras import __version__

    write_json(
        os.path.join(folder, CONFIG),
        {
            "config": config.to_dict(),
            "resolved": dict(resolved),
            "smp_keras_version": __version__,
        },
    )


def _changed_fields(old: PruneConfig, new: PruneConfig) -> list[str]:
    a, b = old.to_dict(), new.to_dict()
    return [
        f"{key}: {a[key]!r} -> {b[key]!r}"
        for key in a
        if key not in ("output_dir", "overwrite") and a[key] != b[key]
    ]


def _remove_run_files(folder: str) -> None:
    for name in RUN_FILES:
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.unlink(path)


def _is_temporary(name: str, final_names: Any = None) -> bool:
    """Whether `name` is a temporary of `atomic_write` (``.NAME.*.tmp``),
    for one of `final_names` when given."""
    if not (name.startswith(".") and name.endswith(".tmp")):
        return False
    if final_names is None:
        return True
    return any(name.startswith(f".{final}.") for final in final_names)


def _entries(folder: str) -> list[str]:
    """The names in `folder`, without temporaries of the run's files."""
    return [
        name
        for name in os.listdir(folder)
        if not _is_temporary(name, RUN_FILES)
    ]


def remove_stale_temporaries(folder: str) -> list[str]:
    """Removes the temporary files a killed run left in its directory.

    Only temporaries of the run's own files are removed: ``.NAME.*.tmp``
    for the files of ``RUN_FILES`` in `folder`, and every ``.*.tmp``
    in its ``checkpoint/`` and ``model/`` folders (which only a run
    writes). Nothing else is touched.

    Returns:
        The paths removed.
    """
    removed = []
    places = [
        (folder, RUN_FILES),
        (os.path.join(folder, "checkpoint"), None),
        (os.path.join(folder, MODEL), None),
    ]
    for place, finals in places:
        if not os.path.isdir(place) or os.path.islink(place):
            continue
        for name in os.listdir(place):
            path = os.path.join(place, name)
            if not _is_temporary(name, finals) or os.path.islink(path):
                continue
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
            removed.append(path)
    return removed


def is_finished(folder: str) -> bool:
    """Whether `folder` holds a finished run (`metrics.json` present)."""
    return os.path.isfile(os.path.join(folder, METRICS))
