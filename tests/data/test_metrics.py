"""Metrics against scikit-learn/SciPy and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from smp_keras.data import (
    compute_metrics,
    majority_class_baseline,
    normalize_answer,
    squad_exact_match,
    squad_f1,
)

LABELS = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 1])
PREDS = np.array([1, 0, 0, 1, 0, 1, 1, 0, 1, 0])


def test_binary_metrics_by_hand():
    # TP = 4, FP = 1, FN = 2, TN = 3.
    got = compute_metrics("mrpc", PREDS, LABELS)
    assert got["accuracy"] == pytest.approx(7 / 10)
    precision, recall = 4 / 5, 4 / 6
    f1 = 2 * precision * recall / (precision + recall)
    assert got["f1"] == pytest.approx(f1)
    mcc = (4 * 3 - 1 * 2) / math.sqrt((4 + 1) * (4 + 2) * (3 + 1) * (3 + 2))
    cola = compute_metrics("cola", PREDS, LABELS)
    assert cola == {"matthews_corrcoef": pytest.approx(mcc)}
    assert list(got) == ["accuracy", "f1"]


def test_multiclass_and_logits_match_sklearn():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=200)
    logits = rng.normal(size=(200, 3))
    got = compute_metrics("mnli", logits, labels)
    expected = skm.accuracy_score(labels, logits.argmax(-1))
    assert got == {"accuracy": pytest.approx(expected)}
    binary = rng.integers(0, 2, size=200)
    assert compute_metrics("qqp", logits[:, :2], binary)["f1"] == pytest.approx(
        skm.f1_score(binary, logits[:, :2].argmax(-1))
    )


def test_regression_matches_scipy():
    rng = np.random.default_rng(1)
    labels = rng.uniform(0, 5, size=50)
    preds = labels + rng.normal(scale=1.0, size=50)
    got = compute_metrics("stsb", preds[:, None], labels)
    assert got["pearson"] == pytest.approx(stats.pearsonr(preds, labels)[0])
    assert got["spearman"] == pytest.approx(stats.spearmanr(preds, labels)[0])
    # Closed form on a tiny case: perfectly monotone but not linear.
    exact = compute_metrics("stsb", [1.0, 2.0, 10.0], [0.0, 1.0, 2.0])
    assert exact["spearman"] == pytest.approx(1.0)
    assert exact["pearson"] < 1.0
    constant = compute_metrics("stsb", [1.0, 1.0, 1.0], [0.0, 1.0, 2.0])
    assert math.isnan(constant["pearson"])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The Eiffel Tower", "eiffel tower"),
        ("  an   apple, a pear!", "apple pear"),
        ("Theatre", "theatre"),  # "the" only as a whole word
        ("U.S.A.", "usa"),
        ("A", ""),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_squad_em_f1_by_hand():
    assert squad_exact_match("the Broncos!", ["Denver", "Broncos"]) == 1.0
    assert squad_exact_match("Denver Broncos", "Broncos") == 0.0
    # prediction "denver broncos team" vs gold "broncos": P = 1/3, R = 1.
    assert squad_f1("Denver Broncos team", ["Broncos"]) == pytest.approx(0.5)
    # Max over gold answers: "denver broncos" matches exactly.
    assert squad_f1("Denver Broncos", ["Broncos", "The Denver Broncos"]) == 1.0
    assert squad_f1("Carolina", ["Denver Broncos"]) == 0.0
    # Repeated tokens count with multiplicity: "a a b" vs "a b b" ->
    # normalisation drops "a", leaving ["b"] vs ["b", "b"]: P = 1, R = 1/2.
    assert squad_f1("a a b", ["a b b"]) == pytest.approx(2 / 3)


def test_compute_metrics_squad_averages_and_accepts_answer_dicts():
    predictions = ["Denver Broncos", "Santa Clara", "1990"]
    labels = [
        {"text": ["Denver Broncos", "Broncos"], "answer_start": [0, 7]},
        ["Levi's Stadium", "Santa Clara, California"],
        "February 7, 2016",
    ]
    got = compute_metrics("squad", predictions, labels)
    f1_second = 2 * 1.0 * (2 / 3) / (1.0 + 2 / 3)
    assert got["exact_match"] == pytest.approx(1 / 3)
    assert got["f1"] == pytest.approx((1.0 + f1_second + 0.0) / 3)


def test_majority_class_baseline():
    train = [0, 1, 1, 2, 1]
    evaluation = [1, 1, 0, 2]
    assert majority_class_baseline(train, evaluation) == {"accuracy": 0.5}
    # Ties go to the smallest label.
    assert majority_class_baseline([1, 0], [0, 0, 1]) == {
        "accuracy": pytest.approx(2 / 3)
    }
    got = majority_class_baseline([0, 0, 1], [1, 0, 1, 0], task="mrpc")
    assert got == {"accuracy": 0.5, "f1": 0.0}
    assert majority_class_baseline([0, 1, 1], [0, 1], task="cola") == {
        "matthews_corrcoef": 0.0
    }


def test_metric_errors():
    with pytest.raises(ValueError, match="equal length"):
        compute_metrics("sst2", [0, 1], [0])
    with pytest.raises(ValueError, match="non-empty"):
        compute_metrics("sst2", [], [])
    with pytest.raises(ValueError, match="shape"):
        compute_metrics("sst2", np.zeros((2, 2, 2)), [0, 1])
    with pytest.raises(ValueError, match="classification task"):
        majority_class_baseline([0.5], [0.5], task="stsb")
    with pytest.raises(ValueError, match="non-empty"):
        majority_class_baseline([], [0])
    with pytest.raises(ValueError, match="SQuAD label"):
        compute_metrics("squad", ["x"], [[]])
