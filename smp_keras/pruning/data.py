"""Task data for the pruning job: splits, encoding, deterministic batches.

This module imports no Keras. The training order is a pure function of
`(seed, step)` (:func:`batch_indices`), so a resumed run sees exactly the
batches an uninterrupted run would.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from smp_keras.data import (
    custom_task,
    data_columns,
    encode,
    encode_span,
    get_task,
    load_task_data,
)
from smp_keras.data.tasks import is_custom_task
from smp_keras.pruning.config import PruneConfig

__all__ = [
    "TaskData",
    "batch_indices",
    "bucket_lengths",
    "bucket_of",
    "encode_split",
    "example_lengths",
    "grouped_batch_indices",
    "load_job_data",
    "sample_rows",
    "task_spec",
    "training_batches",
    "trim",
]

_INPUTS = ("token_ids", "segment_ids", "padding_mask", "mask_positions")
#: Inputs with a sequence axis (axis 1), cut by :func:`trim`.
_SEQUENCE_INPUTS = ("token_ids", "segment_ids", "padding_mask")
#: Batches per length-sorted group of :func:`grouped_batch_indices`
#: (Hugging Face's `LengthGroupedSampler` uses megabatches of 50).
GROUP_BATCHES = 50


def task_spec(
    task: str,
    *,
    label_words: Any = None,
    label_names: Any = None,
    template: str | None = None,
    data_files: Any = None,
    columns: dict[str, str] | None = None,
) -> Any:
    """The task's :class:`~smp_keras.data.TaskSpec` with the overrides.

    Task ``"custom"`` (your own data, no preset) is a classification task
    with the generic columns ``text`` (and ``text_b``), ``label``: it is a
    sentence-pair task when `columns` maps ``text_b`` or the first data
    file has a ``text_b`` column.

    Raises:
        ValueError: Unknown task or invalid overrides.
    """
    if is_custom_task(task):
        pair = "text_b" in (columns or {})
        if not pair and data_files is not None:
            files = (
                data_files
                if isinstance(data_files, dict)
                else {"train": data_files}
            )
            split = "train" if "train" in files else next(iter(files))
            pair = "text_b" in data_columns(files, split)
        return custom_task(
            label_words, label_names=label_names, pair=pair, template=template
        )
    spec = get_task(task, template=template)
    if label_names is not None:
        return spec.replace(
            label_names=tuple(label_names), label_words=label_words
        )
    if label_words is not None:
        return spec.replace(label_words=label_words)
    return spec


@dataclasses.dataclass
class Split:
    """One encoded split: model inputs, targets and raw rows (for QA)."""

    name: str
    inputs: dict[str, np.ndarray]
    targets: Any
    rows: Any = None  # the datasets.Dataset (span tasks: contexts, answers)
    features: dict[str, np.ndarray] | None = None  # span: offsets, indices

    @property
    def size(self) -> int:
        """Number of encoded examples (span: windows)."""
        return len(self.inputs["token_ids"])


@dataclasses.dataclass
class TaskData:
    """The encoded splits of a job.

    Attributes:
        spec: The task.
        train: The training split.
        curve: The validation split used for the learning curve (or None).
        test: The split the final metrics are reported on.
        majority: Majority-class metrics on `test` (classification only).
    """

    spec: Any
    train: Split
    curve: Split | None
    test: Split
    majority: dict[str, float] | None


def encode_split(
    spec: Any, tokenizer: Any, rows: Any, name: str, length: int
) -> Split:
    """Encodes the rows of one split for `spec` as a :class:`Split`.

    Span tasks (SQuAD) become overlapping windows (stride `length // 2`,
    at most 128) with start/end targets; the others, token ids with their
    labels, padded or cut to `length`.
    """
    if spec.kind == "span":
        stride = min(128, length // 2)
        features = encode_span(
            rows, tokenizer, spec, max_length=length, doc_stride=stride
        )
        inputs = {k: features[k] for k in _INPUTS[:3]}
        targets = {
            "start_logits": features["start_positions"],
            "end_logits": features["end_positions"],
        }
        return Split(name, inputs, targets, rows=rows, features=features)
    encoded = encode(rows, tokenizer, spec, max_length=length)
    inputs = {k: encoded[k] for k in _INPUTS}
    return Split(name, inputs, encoded["labels"])


def sample_rows(rows: Any, limit: int | None) -> Any:
    """A fixed random subset of `limit` rows (seed 0), in file order.

    Data files are often sorted (by label, by source), so the first rows
    are no sample; the subset depends only on the split's size.
    """
    if limit is None or len(rows) <= limit:
        return rows
    chosen = np.random.default_rng(0).choice(len(rows), limit, replace=False)
    return rows.select(np.sort(chosen).tolist())


def load_job_data(config: PruneConfig, spec: Any, tokenizer: Any) -> TaskData:
    """Loads and encodes the train, learning-curve and test splits.

    The final metrics use the ``test`` split when the data has a labelled
    one, else ``validation``; the learning curve uses ``validation``.

    Raises:
        ValueError: Missing splits, columns or invalid labels (from
            :func:`smp_keras.data.load_task_data`).
    """
    splits = load_task_data(
        spec, data_files=config.data_files, columns=config.columns
    )
    if "train" not in splits:
        raise ValueError(
            f"Task {spec.name!r} has no 'train' split in its data (splits: "
            f"{sorted(splits)}). Pass data_files with a 'train' entry."
        )
    final = "test" if "test" in splits else "validation"
    if final not in splits:
        raise ValueError(
            f"Task {spec.name!r} needs a 'validation' or 'test' split to "
            f"report metrics on; its data has only {sorted(splits)}. Pass "
            "data_files={'train': ..., 'validation': ...}."
        )
    length = config.max_length
    train = encode_split(spec, tokenizer, splits["train"], "train", length)
    curve = None
    if "validation" in splits:
        rows = sample_rows(splits["validation"], config.eval_max_examples)
        curve = encode_split(spec, tokenizer, rows, "validation", length)
    rows = sample_rows(splits[final], config.test_max_examples)
    test = encode_split(spec, tokenizer, rows, final, length)
    majority = None
    if spec.kind == "classification":
        from smp_keras.data import majority_class_baseline

        majority = majority_class_baseline(
            train.targets, test.targets, task=spec
        )
    return TaskData(spec, train, curve, test, majority)


def batch_indices(
    seed: int, num_rows: int, batch_size: int, start: int, stop: int
) -> np.ndarray:
    """Row indices of the training batches `start..stop-1`, `(steps, batch)`.

    The rows are a stream of permutations of `range(num_rows)`: epoch `e`
    is `default_rng([seed, e]).permutation(num_rows)`, and step `t` takes
    rows `t * batch_size` to `(t + 1) * batch_size` of the stream. The
    result depends only on the arguments, never on earlier calls.

    Args:
        seed: The run's seed.
        num_rows: Training rows.
        batch_size: Rows per step.
        start: First step.
        stop: One past the last step.

    Returns:
        An int64 array of shape `(stop - start, batch_size)`.

    Example:
        >>> a = batch_indices(0, 10, 4, 0, 5)
        >>> b = batch_indices(0, 10, 4, 3, 5)
        >>> bool((a[3:] == b).all()), sorted(a.ravel()[:10].tolist())
        (True, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    """
    first = start * batch_size
    last = stop * batch_size
    epochs = range(first // num_rows, (last - 1) // num_rows + 1)
    stream = np.concatenate(
        [np.random.default_rng([seed, e]).permutation(num_rows) for e in epochs]
    )
    offset = epochs[0] * num_rows
    flat = stream[first - offset : last - offset]
    return flat.reshape(stop - start, batch_size)


def select(split: Split, rows: np.ndarray) -> tuple[dict, Any]:
    """`(inputs, targets)` of the given rows of a split."""
    inputs = {k: v[rows] for k, v in split.inputs.items()}
    if isinstance(split.targets, dict):
        targets = {k: v[rows] for k, v in split.targets.items()}
    else:
        targets = split.targets[rows]
    return inputs, targets


# === Dynamic padding ===


def bucket_lengths(max_length: int) -> tuple[int, ...]:
    """The padded lengths batches are cut to: a few, so jit compiles few.

    A quarter, half, three-quarters of and the whole `max_length`, each
    rounded up to a multiple of 8 (and at most `max_length`).

    Example:
        >>> bucket_lengths(64), bucket_lengths(128), bucket_lengths(20)
        ((16, 32, 48, 64), (32, 64, 96, 128), (8, 16, 20))
    """
    if isinstance(max_length, bool) or not isinstance(max_length, int):
        raise TypeError(
            f"`max_length` must be an int. Received: max_length={max_length!r}"
        )
    if max_length < 1:
        raise ValueError(
            f"`max_length` must be >= 1. Received: max_length={max_length!r}"
        )
    lengths = {
        min(max_length, -(-(max_length * q) // 32) * 8) for q in (1, 2, 3, 4)
    }
    return tuple(sorted(lengths))


def example_lengths(inputs: dict[str, np.ndarray]) -> np.ndarray:
    """Tokens of each example (its padding mask's true entries), int64.

    Examples are right-padded, so token `i` is real iff `i < length`.
    """
    return np.asarray(inputs["padding_mask"]).astype(bool).sum(-1)


def bucket_of(length: int, buckets: tuple[int, ...]) -> int:
    """The smallest bucket `>= length` (the largest if none is).

    Example:
        >>> bucket_of(17, (16, 32, 48, 64)), bucket_of(64, (16, 32, 48, 64))
        (32, 64)
    """
    for bucket in buckets:
        if bucket >= length:
            return bucket
    return buckets[-1]


def trim(inputs: dict[str, np.ndarray], length: int) -> dict[str, np.ndarray]:
    """The inputs with the sequence axis cut to `length` tokens.

    Exact when no example is longer than `length`: the positions removed
    are padding, which the attention and pooling masks already ignore.
    `mask_positions` (indices of real tokens) is kept as is.
    """
    return {
        k: (v[:, :length] if k in _SEQUENCE_INPUTS else v)
        for k, v in inputs.items()
    }


def grouped_batch_indices(
    seed: int,
    lengths: np.ndarray,
    batch_size: int,
    start: int,
    stop: int,
    group: int = GROUP_BATCHES,
) -> np.ndarray:
    """Like :func:`batch_indices`, with batches of similar lengths.

    The stream of :func:`batch_indices` is cut into groups of `group`
    batches; within each group the rows are sorted by length (longest
    first, stable), cut into `group` batches, and the batches shuffled
    (`default_rng([seed, g, 1])` for group `g`). Every row of the stream
    is used exactly as often as without grouping; the result depends only
    on the arguments (so a resumed run sees the same batches).

    Example:
        >>> lengths = np.arange(40) % 7
        >>> a = grouped_batch_indices(0, lengths, 4, 0, 10, group=5)
        >>> b = batch_indices(0, 40, 4, 0, 10)
        >>> sorted(a.ravel().tolist()) == sorted(b.ravel().tolist())
        True
        >>> bool((grouped_batch_indices(0, lengths, 4, 3, 10, group=5)
        ...       == a[3:]).all())
        True
    """
    lengths = np.asarray(lengths)
    first, last = start // group, (stop - 1) // group + 1
    plain = batch_indices(
        seed, len(lengths), batch_size, first * group, last * group
    )
    out = []
    for g in range(last - first):
        rows = plain[g * group : (g + 1) * group].ravel()
        rows = rows[np.argsort(-lengths[rows], kind="stable")]
        batches = rows.reshape(group, batch_size)
        order = np.random.default_rng([seed, first + g, 1]).permutation(group)
        out.append(batches[order])
    offset = first * group
    return np.concatenate(out)[start - offset : stop - offset]


def training_batches(
    split: Split,
    rows: np.ndarray,
    buckets: tuple[int, ...] | None,
    targets: Any = None,
) -> list[tuple[dict[str, np.ndarray], Any]]:
    """`[(inputs, targets)]`, one per row of `rows` `(steps, batch)`.

    With `buckets`, each batch is cut to the smallest bucket that holds its
    longest example (:func:`trim`); else every batch keeps `max_length`.
    `targets` replaces the split's targets (an array aligned with the
    split's rows, e.g. labels packed with teacher logits).
    """
    lengths = example_lengths(split.inputs) if buckets else None
    out = []
    for batch in rows:
        x, y = select(split, batch)
        if targets is not None:
            y = targets[batch]
        if buckets:
            x = trim(x, bucket_of(int(lengths[batch].max()), buckets))
        out.append((x, y))
    return out
