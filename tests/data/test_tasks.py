"""Task presets: reference label words (SMP_METHOD.md section 5), lookup,
overrides and validation."""

from __future__ import annotations

import dataclasses

import pytest

from smp_keras.data import TaskSpec, get_task, list_tasks

# The reference's label words, transcribed from SMP_METHOD.md section 5 and
# the GLUE label order of the hub datasets (independent of tasks.py).
REFERENCE_WORDS = {
    "mnli": ("Yes", "Maybe", "No"),
    "snli": ("Yes", "Maybe", "No"),
    "qqp": ("No", "Yes"),
    "mrpc": ("No", "Yes"),
    "qnli": ("Yes", "No"),
    "rte": ("Yes", "No"),
    "sst2": ("terrible", "great"),
    "rotten_tomatoes": ("terrible", "great"),
    "cola": ("incorrect", "correct"),
    "stsb": ("Yes",),
    "squad": ("Yes", "No"),
}
GLUE_COLUMNS = {
    "sst2": ("sentence",),
    "cola": ("sentence",),
    "mrpc": ("sentence1", "sentence2"),
    "rte": ("sentence1", "sentence2"),
    "stsb": ("sentence1", "sentence2"),
    "qqp": ("question1", "question2"),
    "qnli": ("question", "sentence"),
    "mnli": ("premise", "hypothesis"),
}


def test_list_tasks_has_every_preset():
    assert list_tasks() == sorted(REFERENCE_WORDS)


@pytest.mark.parametrize("name", sorted(REFERENCE_WORDS))
def test_reference_label_words(name):
    spec = get_task(name)
    assert spec.words == REFERENCE_WORDS[name]
    assert list(spec.label_words) == list(range(spec.num_labels))
    assert len(spec.label_names) == spec.num_labels
    assert spec.template is None  # the reference reads [CLS]


@pytest.mark.parametrize("name", sorted(GLUE_COLUMNS))
def test_glue_presets_point_at_the_hub(name):
    spec = get_task(name)
    assert spec.hub == ("nyu-mll/glue", name)
    assert spec.text_columns == GLUE_COLUMNS[name]
    assert spec.label_column == "label"
    assert not spec.embedded


def test_kinds_metrics_and_splits():
    assert get_task("stsb").kind == "regression"
    assert get_task("stsb").metrics == ("pearson", "spearman")
    assert get_task("cola").metrics == ("matthews_corrcoef",)
    assert get_task("qqp").metrics == ("accuracy", "f1")
    squad = get_task("squad")
    assert squad.kind == "span"
    assert squad.text_columns == ("question", "context")
    assert squad.metrics == ("exact_match", "f1")
    assert squad.hub == ("rajpurkar/squad", None)
    mnli = get_task("mnli")
    assert mnli.splits["validation"] == "validation_matched"
    assert mnli.splits["validation_mismatched"] == "validation_mismatched"
    assert mnli.label_names == ("entailment", "neutral", "contradiction")
    for name in ("snli", "rotten_tomatoes"):
        spec = get_task(name)
        assert spec.embedded and spec.hub is None
        assert set(spec.splits) == {"train", "validation", "test"}


def test_name_variants():
    assert get_task("SST-2") is get_task("sst2")
    assert get_task("sts-b") is get_task("stsb")
    assert get_task("Rotten-Tomatoes").name == "rotten_tomatoes"
    spec = get_task("rte")
    assert get_task(spec) is spec


def test_unknown_task_lists_available():
    with pytest.raises(ValueError, match="Unknown task 'imdb'") as info:
        get_task("imdb")
    for name in list_tasks():
        assert name in str(info.value)
    with pytest.raises(TypeError, match="task name or a TaskSpec"):
        get_task(3)


def test_override_label_words_by_id_name_or_sequence():
    assert get_task("sst2", label_words=["bad", "good"]).words == (
        "bad",
        "good",
    )
    with pytest.raises(ValueError, match="same length"):
        get_task("mnli", label_words={0: "Sure"})
    spec = get_task(
        "mnli", label_words={"Entailment": "a", "neutral": "b", "2": "c"}
    )
    assert spec.words == ("a", "b", "c")
    assert get_task("mnli").words == ("Yes", "Maybe", "No")  # unchanged


@pytest.mark.parametrize(
    "words, error",
    [
        (["only", "two", "three"], ValueError),
        (["two words", "x"], ValueError),
        (["", "x"], ValueError),
        ("terrible great", TypeError),
        ({"bogus": "x", 1: "y"}, ValueError),
    ],
)
def test_bad_label_words(words, error):
    with pytest.raises(error, match="label_words|label word"):
        get_task("sst2", label_words=words)


def test_regression_and_span_word_counts():
    stsb, squad = get_task("stsb"), get_task("squad")
    with pytest.raises(ValueError, match="exactly 1 label word"):
        stsb.replace(label_words=["Yes", "No"], label_names=("a", "b"))
    with pytest.raises(ValueError, match="exactly 2 label word"):
        squad.replace(label_words=["Yes"], label_names=("a",))
    with pytest.raises(ValueError, match="at least 2 label words"):
        get_task("sst2").replace(label_words=["x"], label_names=("a",))


def test_template_override_and_validation():
    spec = get_task("sst2", template="It was [MASK].")
    assert spec.template == "It was [MASK]."
    with pytest.raises(ValueError, match=r"\[MASK\] exactly once"):
        get_task("sst2", template="It was great.")
    with pytest.raises(ValueError, match=r"\[MASK\] exactly once"):
        get_task("sst2", template="[MASK] [MASK]")


def test_spec_is_frozen_hashable_and_validated():
    spec = get_task("rte")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.label_words[0] = "x"  # type: ignore[index]
    assert hash(spec) == hash(get_task("rte").replace())
    assert spec.is_pair and not get_task("sst2").is_pair
    with pytest.raises(ValueError, match="`kind` must be one of"):
        spec.replace(kind="ranking")
    with pytest.raises(ValueError, match="`metrics` for a classification"):
        spec.replace(metrics=("pearson",))
    with pytest.raises(ValueError, match="one or two column names"):
        spec.replace(text_columns=("a", "b", "c"))
    with pytest.raises(ValueError, match="same length"):
        spec.replace(label_names=("a",))


def test_custom_task():
    spec = TaskSpec(
        name="reviews",
        kind="classification",
        text_columns=("review",),
        label_column="stars",
        label_words=("bad", "okay", "good"),
        label_names=("low", "mid", "high"),
        metrics=("accuracy",),
    )
    assert spec.words == ("bad", "okay", "good")
    assert dict(spec.splits) == {"train": "train", "validation": "validation"}
