"""Task presets: columns, label words, metrics and data sources.

A :class:`TaskSpec` says everything the data pipeline and the label-word head
need to know about a task: which columns hold the text, which holds the label,
which vocabulary word stands for each label (SMP reads the frozen MLM head at
those rows, Jiang et al. 2023, section 3), which metrics to report and where
the data comes from.

Presets follow the reference implementation's label words
(``SMP_METHOD.md`` section 5): MNLI/SNLI {entailment: Yes, neutral: Maybe,
contradiction: No}; QQP, MRPC {0: No, 1: Yes}; QNLI, RTE {entailment: Yes,
not_entailment: No}; SST-2 and Rotten Tomatoes {0: terrible, 1: great}; CoLA
{0: incorrect, 1: correct}; STS-B regresses on the logit of "Yes"; SQuAD
reads start logits from "Yes" and end logits from "No" (the reference's
``--label_map "{'0':'Yes','1':'No'}"`` in ``run_squad.sh``).

Note on MNLI: the reference remaps MNLI labels to its teacher's order after
choosing the label words, so its runs read contradiction from "Yes",
entailment from "Maybe" and neutral from "No". The presets here use the
semantic mapping above; keep this in mind when comparing with the paper.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping, Sequence

TASK_KINDS = ("classification", "regression", "span")
MASK_SLOT = "[MASK]"
METRICS_BY_KIND = {
    "classification": ("accuracy", "f1", "matthews_corrcoef"),
    "regression": ("pearson", "spearman"),
    "span": ("exact_match", "f1"),
}
GLUE_HUB = "nyu-mll/glue"
SQUAD_HUB = "rajpurkar/squad"
_TRAIN_VALIDATION = {"train": "train", "validation": "validation"}
_EMBEDDED_SPLITS = {
    "train": "train",
    "validation": "validation",
    "test": "test",
}


def _frozen_mapping(mapping: Mapping) -> Mapping:
    return types.MappingProxyType(dict(mapping))


def _check_str(value: object, name: str) -> None:
    if not isinstance(value, str) or not value:
        raise TypeError(
            f"`{name}` must be a non-empty string. Received: {name}={value!r}"
        )


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """Description of a downstream task.

    Args:
        name: Task name, e.g. ``"sst2"``.
        kind: ``"classification"``, ``"regression"`` or ``"span"``
            (extractive question answering).
        text_columns: One or two column names holding the input text; two
            columns are encoded as a sentence pair (span tasks: question,
            context).
        label_column: Column holding the label (span tasks: the SQuAD-style
            ``answers`` dict with ``text`` and ``answer_start`` lists).
        label_words: One vocabulary word per label id, as a mapping
            ``{label id: word}`` (or a sequence of words in id order).
            Regression tasks have one word (its logit is the prediction);
            span tasks have two (start, end).
        label_names: Human-readable name of each label id; string labels in
            data files are matched against these (case-insensitive).
        metrics: Metric names reported by
            :func:`smp_keras.data.compute_metrics`; the first is the headline
            metric.
        template: Optional prompt appended after the (last) text segment; it
            must contain the ``[MASK]`` slot exactly once, e.g.
            ``"It was [MASK]."``. With ``None`` (the default, as in the
            reference) the head reads the ``[CLS]`` position.
        hub: ``(path, config name)`` for ``datasets.load_dataset``, or
            ``None`` when the task has no hub source.
        splits: Mapping from the canonical split names used by this package
            (``"train"``, ``"validation"``, ...) to the source's split names.
        embedded: Whether the data ships inside the package
            (``smp_keras/data/embedded``).

    Raises:
        TypeError: If a field has the wrong type.
        ValueError: If a field violates a constraint (unknown kind, wrong
            number of label words, template without exactly one ``[MASK]``).

    Example:
        >>> spec = get_task("rte")
        >>> spec.words, spec.num_labels, spec.is_pair
        (('Yes', 'No'), 2, True)
    """

    name: str
    kind: str
    text_columns: tuple[str, ...]
    label_column: str
    label_words: Mapping[int, str] = dataclasses.field(hash=False)
    label_names: tuple[str, ...]
    metrics: tuple[str, ...]
    template: str | None = None
    hub: tuple[str, str | None] | None = None
    splits: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: _frozen_mapping(_TRAIN_VALIDATION), hash=False
    )
    embedded: bool = False

    def __post_init__(self) -> None:
        _check_str(self.name, "name")
        if self.kind not in TASK_KINDS:
            raise ValueError(
                f"`kind` must be one of {TASK_KINDS}. Received: "
                f"kind={self.kind!r}"
            )
        self._set("text_columns", _check_columns(self.text_columns))
        _check_str(self.label_column, "label_column")
        words = _normalise_label_words(self.label_words, self.label_names)
        self._set("label_words", _frozen_mapping(words))
        self._set("label_names", tuple(self.label_names))
        self._check_counts()
        self._set("metrics", _check_metrics(self.metrics, self.kind))
        _check_template(self.template)
        self._set("splits", _check_splits(self.splits))

    def _set(self, field: str, value: object) -> None:
        object.__setattr__(self, field, value)

    def _check_counts(self) -> None:
        n = len(self.label_words)
        if len(self.label_names) != n:
            raise ValueError(
                "`label_words` and `label_names` must have the same length "
                f"(one word per label). Received: label_words="
                f"{dict(self.label_words)!r}, label_names={self.label_names!r}"
            )
        expected = {"regression": 1, "span": 2}.get(self.kind)
        if expected is not None and n != expected:
            raise ValueError(
                f"A {self.kind} task needs exactly {expected} label word(s). "
                f"Received: label_words={dict(self.label_words)!r}"
            )
        if self.kind == "classification" and n < 2:
            raise ValueError(
                "A classification task needs at least 2 label words. "
                f"Received: label_words={dict(self.label_words)!r}"
            )
        if self.kind == "span" and len(self.text_columns) != 2:
            raise ValueError(
                "A span task needs two text columns (question, context). "
                f"Received: text_columns={self.text_columns!r}"
            )

    @property
    def words(self) -> tuple[str, ...]:
        """The label words in label-id order."""
        return tuple(self.label_words[i] for i in range(len(self.label_words)))

    @property
    def num_labels(self) -> int:
        """Number of head outputs: classes, 1 (regression) or 2 (span)."""
        return len(self.label_words)

    @property
    def is_pair(self) -> bool:
        """Whether inputs are sentence pairs."""
        return len(self.text_columns) == 2

    def replace(self, **changes: object) -> TaskSpec:
        """A copy with some fields changed (validated again).

        Example:
            >>> get_task("sst2").replace(label_words=["bad", "good"]).words
            ('bad', 'good')
        """
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def _check_columns(columns: object) -> tuple[str, ...]:
    if isinstance(columns, str):
        columns = (columns,)
    if not isinstance(columns, Sequence) or not 1 <= len(columns) <= 2:
        raise ValueError(
            "`text_columns` must be one or two column names. "
            f"Received: text_columns={columns!r}"
        )
    for column in columns:
        _check_str(column, "text_columns")
    return tuple(columns)


def _normalise_label_words(
    label_words: object, label_names: Sequence[str]
) -> dict[int, str]:
    """``{id: word}`` from a mapping (ids or names as keys) or a sequence."""
    if isinstance(label_words, str):
        raise TypeError(
            "`label_words` must be a mapping {label: word} or a sequence of "
            f"words, not a string. Received: label_words={label_words!r}"
        )
    if isinstance(label_words, Mapping):
        names = {str(name).lower(): i for i, name in enumerate(label_names)}
        words = {}
        for key, word in label_words.items():
            if isinstance(key, str) and key.lower() in names:
                key = names[key.lower()]
            elif isinstance(key, str) and key.isdigit():
                key = int(key)
            if not isinstance(key, int) or isinstance(key, bool):
                raise ValueError(
                    "`label_words` keys must be label ids or label names "
                    f"{tuple(label_names)}. Received key: {key!r}"
                )
            words[key] = word
    elif isinstance(label_words, Sequence):
        words = dict(enumerate(label_words))
    else:
        raise TypeError(
            "`label_words` must be a mapping {label: word} or a sequence of "
            f"words. Received: label_words={label_words!r}"
        )
    if sorted(words) != list(range(len(words))):
        raise ValueError(
            "`label_words` must give one word for each label id 0..n-1. "
            f"Received: label_words={label_words!r}"
        )
    for word in words.values():
        if not isinstance(word, str) or not word.strip() or " " in word:
            raise ValueError(
                "Each label word must be one non-empty word without spaces. "
                f"Received: label_words={label_words!r}"
            )
    return {i: words[i] for i in range(len(words))}


def _check_metrics(metrics: object, kind: str) -> tuple[str, ...]:
    if isinstance(metrics, str) or not isinstance(metrics, Sequence):
        raise TypeError(
            f"`metrics` must be a sequence of names. Received: {metrics!r}"
        )
    allowed = METRICS_BY_KIND[kind]
    unknown = [m for m in metrics if m not in allowed]
    if not metrics or unknown:
        raise ValueError(
            f"`metrics` for a {kind} task must be a non-empty subset of "
            f"{allowed}. Received: metrics={metrics!r}"
        )
    return tuple(metrics)


def _check_template(template: object) -> None:
    if template is None:
        return
    if not isinstance(template, str):
        raise TypeError(
            f"`template` must be a string or None. Received: {template!r}"
        )
    if template.count(MASK_SLOT) != 1:
        raise ValueError(
            f"`template` must contain {MASK_SLOT} exactly once. "
            f"Received: template={template!r}"
        )


def _check_splits(splits: object) -> Mapping[str, str]:
    if not isinstance(splits, Mapping) or not splits:
        raise ValueError(
            "`splits` must be a non-empty mapping {split: source split}. "
            f"Received: splits={splits!r}"
        )
    for key, value in splits.items():
        _check_str(key, "splits")
        _check_str(value, "splits")
    return _frozen_mapping(splits)


# === Presets ===


def _glue(
    name: str, text_columns: tuple[str, ...], **fields: object
) -> TaskSpec:
    fields.setdefault("hub", (GLUE_HUB, name))
    fields.setdefault("metrics", ("accuracy",))
    return TaskSpec(
        name=name,
        kind=fields.pop("kind", "classification"),  # type: ignore[arg-type]
        text_columns=text_columns,
        label_column="label",
        **fields,  # type: ignore[arg-type]
    )


_PRESETS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        _glue(
            "sst2",
            ("sentence",),
            label_words={0: "terrible", 1: "great"},
            label_names=("negative", "positive"),
        ),
        _glue(
            "mrpc",
            ("sentence1", "sentence2"),
            label_words={0: "No", 1: "Yes"},
            label_names=("not_equivalent", "equivalent"),
            metrics=("accuracy", "f1"),
        ),
        _glue(
            "qqp",
            ("question1", "question2"),
            label_words={0: "No", 1: "Yes"},
            label_names=("not_duplicate", "duplicate"),
            metrics=("accuracy", "f1"),
        ),
        _glue(
            "mnli",
            ("premise", "hypothesis"),
            label_words={0: "Yes", 1: "Maybe", 2: "No"},
            label_names=("entailment", "neutral", "contradiction"),
            splits={
                "train": "train",
                "validation": "validation_matched",
                "validation_matched": "validation_matched",
                "validation_mismatched": "validation_mismatched",
            },
        ),
        _glue(
            "qnli",
            ("question", "sentence"),
            label_words={0: "Yes", 1: "No"},
            label_names=("entailment", "not_entailment"),
        ),
        _glue(
            "rte",
            ("sentence1", "sentence2"),
            label_words={0: "Yes", 1: "No"},
            label_names=("entailment", "not_entailment"),
        ),
        _glue(
            "cola",
            ("sentence",),
            label_words={0: "incorrect", 1: "correct"},
            label_names=("unacceptable", "acceptable"),
            metrics=("matthews_corrcoef",),
        ),
        _glue(
            "stsb",
            ("sentence1", "sentence2"),
            kind="regression",
            label_words={0: "Yes"},
            label_names=("similarity",),
            metrics=("pearson", "spearman"),
        ),
        TaskSpec(
            name="squad",
            kind="span",
            text_columns=("question", "context"),
            label_column="answers",
            label_words={0: "Yes", 1: "No"},
            label_names=("start", "end"),
            metrics=("exact_match", "f1"),
            hub=(SQUAD_HUB, None),
        ),
        TaskSpec(
            name="rotten_tomatoes",
            kind="classification",
            text_columns=("sentence",),
            label_column="label",
            label_words={0: "terrible", 1: "great"},
            label_names=("negative", "positive"),
            metrics=("accuracy",),
            splits=_EMBEDDED_SPLITS,
            embedded=True,
        ),
        TaskSpec(
            name="snli",
            kind="classification",
            text_columns=("premise", "hypothesis"),
            label_column="label",
            label_words={0: "Yes", 1: "Maybe", 2: "No"},
            label_names=("entailment", "neutral", "contradiction"),
            metrics=("accuracy",),
            splits=_EMBEDDED_SPLITS,
            embedded=True,
        ),
    )
}


#: The task name of your own classification data (no preset).
CUSTOM_TASK = "custom"


def is_custom_task(name: object) -> bool:
    """Whether `name` names :data:`CUSTOM_TASK` (spelled as `get_task`
    reads names: case and hyphens ignored)."""
    return isinstance(name, str) and _task_key(name) == CUSTOM_TASK


def _task_key(name: str) -> str:
    key = name.strip().lower().replace("-", "")
    return "rotten_tomatoes" if key == "rottentomatoes" else key


def custom_task(
    label_words: Mapping[object, str] | Sequence[str],
    *,
    label_names: Sequence[str] | None = None,
    pair: bool = False,
    template: str | None = None,
) -> TaskSpec:
    """A classification task on your own data, with generic column names.

    The text is in column ``text`` (and ``text_b`` for sentence pairs), the
    label in ``label``: ids ``0 .. n-1`` or label names. Map other columns
    with `columns` (keys ``text``, ``text_b``, ``label``).

    Args:
        label_words: One word per class: a sequence in label-id order, or
            a mapping ``{label name or id: word}`` (its keys, in order,
            name the labels when `label_names` is None).
        label_names: The label names (default: the mapping's keys, else
            ``"0" .. "n-1"``).
        pair: Sentence pairs (``text``, ``text_b``).
        template: A prompt with one ``[MASK]`` (see :class:`TaskSpec`).

    Returns:
        The :class:`TaskSpec`, named :data:`CUSTOM_TASK`.

    Raises:
        ValueError: Fewer than two label words, names that do not match.

    Example:
        >>> spec = custom_task({"sports": "sport", "tech": "computer"})
        >>> spec.name, spec.text_columns, spec.label_names, spec.words
        ('custom', ('text',), ('sports', 'tech'), ('sport', 'computer'))
    """
    if label_words is None or isinstance(label_words, str):
        raise ValueError(
            "Your own data (no task preset) needs `label_words`: one word "
            "per class, e.g. label_words=['bad', 'good']. Received: "
            f"label_words={label_words!r}"
        )
    if label_names is None:
        if isinstance(label_words, Mapping):
            keys = list(label_words)
            if all(isinstance(k, int) for k in keys):
                label_names = [str(k) for k in sorted(keys)]
            else:
                label_names = [str(k) for k in keys]
        else:
            label_names = [str(i) for i in range(len(list(label_words)))]
    if len(label_names) < 2:
        raise ValueError(
            "A classification task needs at least two labels. Received: "
            f"label_words={label_words!r}"
        )
    return TaskSpec(
        name=CUSTOM_TASK,
        kind="classification",
        text_columns=("text", "text_b") if pair else ("text",),
        label_column="label",
        label_words=label_words,
        label_names=tuple(label_names),
        metrics=("accuracy",),
        template=template,
        splits=_EMBEDDED_SPLITS,
    )


def list_tasks() -> list[str]:
    """Names of the preset tasks, sorted.

    Example:
        >>> list_tasks()[:3]
        ['cola', 'mnli', 'mrpc']
    """
    return sorted(_PRESETS)


def get_task(
    name: str | TaskSpec,
    *,
    label_words: Mapping[object, str] | Sequence[str] | None = None,
    template: str | None = None,
) -> TaskSpec:
    """The preset :class:`TaskSpec` called ``name``, optionally modified.

    Args:
        name: A preset name (case-insensitive; ``"sst-2"`` and ``"sst2"``
            both work) or a :class:`TaskSpec`, returned as is unless
            overridden.
        label_words: Replacement label words, ``{label id or name: word}``
            or a sequence of words in label-id order.
        template: A prompt with one ``[MASK]`` slot appended after the text
            (see :class:`TaskSpec`); ``None`` keeps the preset's.

    Returns:
        The task specification.

    Raises:
        ValueError: If ``name`` is not a preset (the message lists them) or
            an override is invalid.
        TypeError: If ``name`` is neither a string nor a :class:`TaskSpec`.

    Example:
        >>> get_task("mnli").words
        ('Yes', 'Maybe', 'No')
        >>> get_task("sst2", label_words={"negative": "bad", 1: "good"}).words
        ('bad', 'good')
    """
    if isinstance(name, TaskSpec):
        spec = name
    elif isinstance(name, str):
        key = _task_key(name)
        if key == CUSTOM_TASK:
            return custom_task(label_words, template=template)  # type: ignore[arg-type]
        if key not in _PRESETS:
            raise ValueError(
                f"Unknown task {name!r}. Available tasks: "
                f"{', '.join(list_tasks())}."
            )
        spec = _PRESETS[key]
    else:
        raise TypeError(
            f"`name` must be a task name or a TaskSpec. Received: {name!r}"
        )
    changes: dict[str, object] = {}
    if label_words is not None:
        changes["label_words"] = label_words
    if template is not None:
        changes["template"] = template
    return spec.replace(**changes) if changes else spec
