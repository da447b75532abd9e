"""Task metrics: GLUE (accuracy, F1, MCC, Pearson/Spearman) and SQuAD EM/F1.

All metrics are fractions in [0, 1] (multiply by 100 for the paper's
tables), including SQuAD exact match and F1, whose official script reports
percentages. SQuAD answers are compared after the official v1.1
normalisation: lower case, punctuation removed, the articles "a", "an",
"the" removed, whitespace collapsed; each prediction scores the maximum over
its gold answers.
"""

from __future__ import annotations

import collections
import re
import string
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from smp_keras.data.tasks import TaskSpec, get_task

__all__ = [
    "compute_metrics",
    "majority_class_baseline",
    "normalize_answer",
    "squad_exact_match",
    "squad_f1",
]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


# === SQuAD ===


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 answer normalisation.

    Lower-cases, removes punctuation, removes the articles a/an/the and
    collapses whitespace, in the order of the official evaluation script.

    Example:
        >>> normalize_answer("  The Eiffel-Tower!  ")
        'eiffeltower'
    """
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _exact(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def _f1(prediction: str, gold: str) -> float:
    predicted = normalize_answer(prediction).split()
    truth = normalize_answer(gold).split()
    common = collections.Counter(predicted) & collections.Counter(truth)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(predicted)
    recall = overlap / len(truth)
    return 2 * precision * recall / (precision + recall)


def _gold_answers(label: Any) -> list[str]:
    if isinstance(label, str):
        return [label]
    if isinstance(label, Mapping):
        label = label.get("text", ())
    answers = list(label)
    if not answers or not all(isinstance(a, str) for a in answers):
        raise ValueError(
            "Each SQuAD label must be an answer string, a list of them or "
            f"a dict with a 'text' list. Received: {label!r}"
        )
    return answers


def squad_exact_match(prediction: str, gold: Any) -> float:
    """1.0 if the normalised prediction equals any normalised gold answer.

    Example:
        >>> squad_exact_match("the Denver Broncos", ["Denver Broncos"])
        1.0
    """
    return max(_exact(prediction, g) for g in _gold_answers(gold))


def squad_f1(prediction: str, gold: Any) -> float:
    """Token-overlap F1 against the best-matching gold answer.

    Example:
        >>> round(squad_f1("Denver Broncos team", ["Denver Broncos"]), 3)
        0.8
    """
    return max(_f1(prediction, g) for g in _gold_answers(gold))


# === Classification and regression ===


def _class_predictions(predictions: Any) -> np.ndarray:
    """Label ids from ids ``(n,)`` or logits/probabilities ``(n, c)``."""
    predictions = np.asarray(predictions)
    if predictions.ndim == 2:
        return predictions.argmax(axis=-1)
    if predictions.ndim != 1:
        raise ValueError(
            "`predictions` must be label ids (n,) or scores (n, classes). "
            f"Received shape: {predictions.shape}"
        )
    return predictions


def _regression_values(values: Any, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(
            f"`{name}` must have shape (n,) or (n, 1). Received shape: "
            f"{values.shape}"
        )
    return values


def _classification(
    metrics: Sequence[str], predictions: Any, labels: Any
) -> dict[str, float]:
    from sklearn import metrics as skm

    predicted = _class_predictions(predictions)
    truth = np.asarray(labels)
    functions = {
        "accuracy": lambda: skm.accuracy_score(truth, predicted),
        "f1": lambda: skm.f1_score(truth, predicted, zero_division=0.0),
        "matthews_corrcoef": lambda: skm.matthews_corrcoef(truth, predicted),
    }
    return {name: float(functions[name]()) for name in metrics}


def _regression(
    metrics: Sequence[str], predictions: Any, labels: Any
) -> dict[str, float]:
    from scipy import stats

    predicted = _regression_values(predictions, "predictions")
    truth = _regression_values(labels, "labels")
    functions = {
        "pearson": lambda: stats.pearsonr(predicted, truth)[0],
        "spearman": lambda: stats.spearmanr(predicted, truth)[0],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        return {name: float(functions[name]()) for name in metrics}


def _span(
    metrics: Sequence[str], predictions: Any, labels: Any
) -> dict[str, float]:
    functions = {"exact_match": squad_exact_match, "f1": squad_f1}
    pairs = list(zip(predictions, labels, strict=True))
    return {
        name: float(np.mean([functions[name](p, g) for p, g in pairs]))
        for name in metrics
    }


def compute_metrics(
    task: str | TaskSpec, predictions: Any, labels: Any
) -> dict[str, float]:
    """The task's metrics, as fractions in [0, 1].

    Args:
        task: Task name or :class:`~smp_keras.data.TaskSpec`; its ``metrics``
            field selects what is computed.
        predictions: Classification: label ids ``(n,)`` or scores
            ``(n, classes)`` (arg-maxed). Regression: values ``(n,)`` or
            ``(n, 1)``. Span: answer strings.
        labels: Gold label ids, gold values, or (span) per example a gold
            answer string, a list of them, or a SQuAD ``answers`` dict.

    Returns:
        ``{metric name: value}`` in the order of ``task.metrics``. Binary
        ``f1`` treats label 1 as positive; Pearson/Spearman are NaN when
        either input is constant.

    Raises:
        ValueError: If predictions and labels differ in length or are empty.

    Example:
        >>> compute_metrics("mrpc", [1, 0, 1, 1], [1, 0, 0, 1])
        {'accuracy': 0.75, 'f1': 0.8}
        >>> compute_metrics("squad", ["The cat"], [["a cat", "cat"]])
        {'exact_match': 1.0, 'f1': 1.0}
    """
    spec = get_task(task)
    if len(predictions) != len(labels) or len(labels) == 0:
        raise ValueError(
            "`predictions` and `labels` must be non-empty and of equal "
            f"length. Received lengths: {len(predictions)} and {len(labels)}"
        )
    kinds = {
        "classification": _classification,
        "regression": _regression,
        "span": _span,
    }
    return kinds[spec.kind](spec.metrics, predictions, labels)


def majority_class_baseline(
    train_labels: Sequence[int] | np.ndarray,
    eval_labels: Sequence[int] | np.ndarray,
    *,
    task: str | TaskSpec | None = None,
) -> dict[str, float]:
    """Scores of always predicting the most frequent training label.

    Ties go to the smallest label id.

    Args:
        train_labels: Label ids of the training split.
        eval_labels: Label ids of the split to score.
        task: If given, report that task's metrics (classification only);
            else accuracy alone.

    Returns:
        ``{metric name: value}``.

    Raises:
        ValueError: If a label list is empty or the task is not a
            classification task.

    Example:
        >>> majority_class_baseline([0, 1, 1], [1, 0, 0, 0])
        {'accuracy': 0.25}
    """
    train = np.asarray(train_labels).astype(np.int64).ravel()
    evaluated = np.asarray(eval_labels).astype(np.int64).ravel()
    if train.size == 0 or evaluated.size == 0:
        raise ValueError(
            "`train_labels` and `eval_labels` must be non-empty. Received "
            f"sizes: {train.size} and {evaluated.size}"
        )
    values, counts = np.unique(train, return_counts=True)
    majority = values[np.argmax(counts)]
    predictions = np.full_like(evaluated, majority)
    if task is None:
        return {"accuracy": float(np.mean(predictions == evaluated))}
    spec = get_task(task)
    if spec.kind != "classification":
        raise ValueError(
            "`majority_class_baseline` needs a classification task. "
            f"Received: task={spec.name!r} ({spec.kind})"
        )
    return compute_metrics(spec, predictions, evaluated)
