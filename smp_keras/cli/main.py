"""The `smp` command line (argparse), a thin layer over :mod:`smp_keras.api`.

Keras is imported only after the arguments are parsed, so ``--backend``
can select the backend and ``smp --help`` answers at once. Errors print one
line, ``smp: error: ...``, on stderr and exit with status 1 (2 for usage
errors); ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import json
import os
import re
import sys
import traceback
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

from smp_keras.api import PruneConfig

__all__ = ["build_parser", "main"]

BACKENDS = ("tensorflow", "jax", "torch")
DEMO_TASKS = ("rotten_tomatoes", "snli")

_EPILOG = """\
examples:
  smp demo                                  # the embedded default (~15 min)
  smp demo --task snli --smoke              # a one-minute check
  smp prune --task sst2 --density 0.1 --steps 2000
  smp prune --model ./my-bert --task sst2 \\
      --data-files train=train.csv validation=dev.csv \\
      --columns text=review label=stars --label-words bad,good
  smp evaluate runs/sst2-smp-s-0.1 --split validation
  smp evaluate --masks mnli_0.10_kd_mag.npy --reference-format \\
      --task mnli bert-base-uncased
  smp export runs/sst2-smp-s-0.1 --hf-folder pruned --keras pruned.keras
  smp export runs/sst2-smp-s-0.1 --keras small.keras --compact
  smp report runs/sst2-smp-s-0.1 --plot sparsity.png
  smp --backend jax demo --smoke

Densities are fractions of weights kept ("remaining weights").
"""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(
            2, f"{self.prog}: error: {message} (see {self.prog} --help)\n"
        )


def _global_options(parser: argparse.ArgumentParser, default: Any) -> None:
    group = parser.add_argument_group("global options")
    group.add_argument(
        "--backend",
        choices=BACKENDS,
        default=default,
        help="Keras backend (sets KERAS_BACKEND; default: the environment's "
        "or keras's default)",
    )
    group.add_argument(
        "--quiet",
        action="store_true",
        default=default if default is not None else False,
        help="no progress bars, log lines only",
    )
    group.add_argument(
        "--debug",
        action="store_true",
        default=default if default is not None else False,
        help="show the traceback of errors",
    )


def _pairs(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def _words(text: str) -> list[str]:
    return [w.strip() for w in text.split(",") if w.strip()]


#: Readers of the option values named by the `type` of a field's option.
_TYPES = {"int": int, "float": float, "pairs": _pairs, "words": _words}
#: Fields `smp evaluate` takes as options too.
_EVALUATE_FIELDS = (
    "task",
    "data_files",
    "columns",
    "label_words",
    "template",
    "head",
    "pooling",
    "logit_scale",
    "max_length",
)


def _field_option(
    parser: Any, field: dataclasses.Field, **settings: Any
) -> None:
    """Adds the option of a `PruneConfig` field (see its `cli` metadata)."""
    cli = field.metadata["cli"]
    flags = ["--" + field.name.replace("_", "-"), *cli.get("aliases", ())]
    for key in ("choices", "metavar", "nargs"):
        if key in cli:
            settings[key] = cli[key]
    if "type" in cli:
        settings["type"] = _TYPES[cli["type"]]
    if cli.get("switch"):
        settings["action"] = "store_true"
    parser.add_argument(*flags, **settings)


def _field_help(field: dataclasses.Field) -> str:
    """The help of a field's option, with its default (floats as 2e-5)."""
    shown = field.default
    if isinstance(shown, float):
        shown = re.sub(r"e([+-])0", r"e\1", f"{shown:g}")
    return field.metadata["help"].format(default=shown)


def _add_prune(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "prune",
        parents=[common],
        help="prune a model for a task (writes a run directory)",
        description="Learn which pre-trained weights to keep for a task, "
        "without fine-tuning them (SMP), or run a baseline. Options not "
        "given take the values of --config, else the defaults shown.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fields = dataclasses.fields(PruneConfig)
    groups: dict[str, Any] = {}
    for field in fields:  # the groups, in the order of the fields
        title = field.metadata["cli"]["group"]
        if title not in groups:
            groups[title] = p.add_argument_group(title)
    next(iter(groups.values())).add_argument(  # "model and data"
        "--config",
        metavar="FILE",
        help="JSON config (or a run's config.json) to start from",
    )
    exclusive: dict[str, Any] = {}
    for field in fields:
        cli = field.metadata["cli"]
        group = groups[cli["group"]]
        if "exclusive" in cli:  # e.g. --steps or --epochs
            if cli["exclusive"] not in exclusive:
                exclusive[cli["exclusive"]] = (
                    group.add_mutually_exclusive_group()
                )
            group = exclusive[cli["exclusive"]]
        _field_option(
            group, field, default=argparse.SUPPRESS, help=_field_help(field)
        )
    _eager_option(p)
    p.set_defaults(func=_cmd_prune)


def _add_evaluate(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "evaluate",
        parents=[common],
        help="score a model with a mask artifact on a data split",
        description="Score a model with masks (ours, or the authors' .npy "
        "with --reference-format) on a split of a task. SOURCE is a run "
        "directory (its settings are the defaults) or a model source.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "source",
        nargs="?",
        default=None,
        metavar="SOURCE",
        help="run directory, 'minilm', BERT folder or hub id",
    )
    p.add_argument(
        "--masks",
        help=".smpmask artifact (or .npy with "
        "--reference-format); default: the run's",
    )
    p.add_argument(
        "--reference-format",
        action="store_true",
        help="read --masks in the authors' packbits .npy format",
    )
    p.add_argument(
        "--split", default="validation", choices=("train", "validation", "test")
    )
    fields = {field.name: field for field in dataclasses.fields(PruneConfig)}
    for name in _EVALUATE_FIELDS:  # the run's settings, if not given
        note = "task preset (default: the run's)" if name == "task" else None
        _field_option(p, fields[name], help=note)
    p.add_argument(
        "--max-examples",
        type=int,
        help="score a fixed seeded sample of N examples",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    _eager_option(p)
    p.set_defaults(func=_cmd_evaluate)


def _add_export(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "export",
        parents=[common],
        help="write the masks, a reference .npy, a .keras or a HF folder",
        description="Export a run's masks (or an artifact) as a copy of the "
        "artifact, the authors' .npy format, a .keras model of standard "
        "Keras layers (loads without smp_keras) or a transformers folder "
        "(serves with transformers alone).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "source", metavar="SOURCE", help="run directory or .smpmask artifact"
    )
    p.add_argument(
        "--masks-output", metavar="FILE", help="copy of the artifact"
    )
    p.add_argument(
        "--reference", metavar="FILE.npy", help="masks in the authors' format"
    )
    p.add_argument(
        "--keras",
        metavar="FILE.keras",
        help="pruned classifier of plain Keras layers",
    )
    p.add_argument(
        "--hf-folder",
        metavar="DIR",
        help="pruned model as a transformers folder",
    )
    p.add_argument(
        "--model", help="model source for an artifact (default: minilm)"
    )
    p.add_argument("--task", help="task for --keras with an artifact")
    p.add_argument(
        "--compact",
        action="store_true",
        help="with --keras: drop the feed-forward neurons and attention "
        "heads the masks provably killed (same outputs) and print what is "
        "kept per layer; not with --hf-folder",
    )
    p.add_argument(
        "--sparse",
        action="store_true",
        help="with --keras: --compact, and every matrix sparse enough to "
        "run faster on this backend stored as its kept weights only "
        "(smp_keras.layers.SparseDense; to load it, `import "
        "smp_keras.layers` first)",
    )
    p.set_defaults(func=_cmd_export)


def _add_report(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "report",
        parents=[common],
        help="density by layer and matrix type (table, JSON, PNG plot)",
        description="Per-layer, per-matrix-type remaining weights of a mask "
        "artifact, as a table, JSON and a plot like the paper's figures.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "source", metavar="SOURCE", help=".smpmask artifact or run directory"
    )
    p.add_argument("--plot", metavar="FILE.png", help="write the plot")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_report)


def _add_demo(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "demo",
        parents=[common],
        help="the embedded default: MiniLM on real data, SMP-S to 10%%",
        description="Prune the real all-MiniLM-L6-v2 on embedded real data "
        "(Rotten Tomatoes sentences or SNLI) with SMP-S to 10%% remaining "
        "weights on CPU, and compare with the unpruned model, magnitude "
        "pruning and the majority class. No network needed.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--task", choices=DEMO_TASKS, default="rotten_tomatoes")
    p.add_argument(
        "--smoke",
        action="store_true",
        help="a few steps on small subsets (about a minute)",
    )
    p.add_argument(
        "--output-dir", "-o", help="run directory (default: runs/demo-TASK)"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="run again even if a finished run exists",
    )
    _eager_option(p)
    p.set_defaults(func=_cmd_demo)


def _eager_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--eager",
        action="store_true",
        help="run Keras eagerly, without compiling (for debugging, or runs "
        "of a few steps on tiny models)",
    )


def _jit(args: argparse.Namespace) -> Any:
    return None if args.eager else "auto"


def build_parser() -> argparse.ArgumentParser:
    """The `smp` argument parser."""
    parser = _Parser(
        prog="smp",
        description="Static Model Pruning (Jiang et al., ACL 2023) for "
        "Keras 3: prune a pre-trained BERT for a task by learning which "
        "weights to keep, without fine-tuning them.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _global_options(parser, None)
    parser.add_argument(
        "--version", action="version", version="%(prog)s " + _version()
    )
    common = _Parser(add_help=False)
    _global_options(common, argparse.SUPPRESS)
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_Parser
    )
    sub.required = True
    for add in (_add_prune, _add_evaluate, _add_export, _add_report, _add_demo):
        add(sub, common)
    return parser


def _version() -> str:
    from smp_keras import __version__

    return __version__


# === Commands ===


def _data_files(values: list[str] | None) -> Any:
    if not values:
        return None
    if len(values) == 1 and "=" not in values[0]:
        return {"train": values[0]}
    files: dict[str, list[str]] = {}
    for value in values:
        split, path = _pairs(value) if "=" in value else ("", value)
        if not split:
            raise ValueError(
                "--data-files takes SPLIT=PATH pairs (or one PATH for the "
                f"train split). Received: {value!r}"
            )
        files.setdefault(split, []).append(path)
    return {k: v[0] if len(v) == 1 else v for k, v in files.items()}


def _read_config(path: str) -> dict[str, Any]:
    """The settings of a `--config` file; errors name the file."""
    with open(path, "rb") as handle:
        raw = handle.read()
    try:  # json.loads reads UTF-8/16/32 bytes; anything else is an error
        return PruneConfig.from_json(raw).to_dict()
    except (TypeError, ValueError) as error:
        kind = ValueError if isinstance(error, ValueError) else TypeError
        raise kind(f"--config {path!r}: {error}") from None


def _prune_config(args: argparse.Namespace) -> PruneConfig:
    base: dict[str, Any] = {}
    if args.config:
        base = _read_config(args.config)
    fields = set(PruneConfig.__dataclass_fields__)
    given = {k: v for k, v in vars(args).items() if k in fields}
    if "data_files" in given:
        given["data_files"] = _data_files(given["data_files"])
    if "columns" in given:
        given["columns"] = dict(given["columns"])
    return PruneConfig(**{**base, **given})


def _cmd_prune(args: argparse.Namespace) -> int:
    config = _prune_config(args)
    from smp_keras.pruning.data import task_spec

    task_spec(  # a quick check of the task before Keras is imported
        config.task,
        label_words=config.label_words,
        label_names=config.label_names,
        template=config.template,
        data_files=config.data_files,
        columns=config.columns,
    )
    _import_keras_quietly(args.debug, tensorflow=True)
    from smp_keras.api import prune

    result = prune(config, quiet=args.quiet, jit_compile=_jit(args))
    print(result.summary())
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    _import_keras_quietly(args.debug)
    from smp_keras.api import evaluate

    result = evaluate(
        args.source,
        args.masks,
        args.task,
        split=args.split,
        data_files=_data_files(args.data_files),
        columns=dict(args.columns) if args.columns else None,
        reference_format=args.reference_format,
        label_words=args.label_words,
        template=args.template,
        head=args.head,
        pooling=args.pooling,
        logit_scale=args.logit_scale,
        max_length=args.max_length,
        max_examples=args.max_examples,
        jit_compile=_jit(args),
    )
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"{result['task']}, {result['split']} split, {result['examples']} "
        f"examples, {100 * result['density']:.2f}% remaining weights:"
    )
    for name, value in result["metrics"].items():
        print(f"  {name}: {100 * value:.2f}%")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    _import_keras_quietly(args.debug)
    from smp_keras.api import export

    written = export(
        args.source,
        masks_output=args.masks_output,
        reference_path=args.reference,
        keras_path=args.keras,
        hf_folder=args.hf_folder,
        model=args.model,
        task=args.task,
        compact=args.compact,
        sparse=args.sparse,
    )
    table = written.pop("compaction", None)
    for kind, path in written.items():
        print(f"{kind}: {path}")
    if table is not None:
        print(f"\nCompacted (kept per layer):\n{table}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from smp_keras.api import report

    result = report(args.source, plot_path=args.plot)
    if args.json:
        data = {k: v for k, v in result.items() if k != "text"}
        print(json.dumps(data, indent=2))
    else:
        print(result["text"])
        if result["plot"]:
            print(f"\nPlot: {result['plot']}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    _import_keras_quietly(args.debug, tensorflow=True)
    from smp_keras.api import demo

    demo(
        args.task,
        smoke=args.smoke,
        output_dir=args.output_dir,
        overwrite=args.overwrite,
        quiet=args.quiet,
        jit_compile=_jit(args),
    )
    return 0


# === Entry point ===


def _configure(args: argparse.Namespace) -> None:
    """Environment before Keras is imported: backend, log noise."""
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    quiet_bars = os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] == "1"
    if quiet_bars and "datasets" in sys.modules:  # imported first: too late
        sys.modules["datasets"].disable_progress_bars()  # for the env var
    if not args.debug:
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.showwarning = _show_warning  # restored by catch_warnings


def _show_warning(message: Any, category: Any, *args: Any, **kwargs: Any):
    print(f"smp: warning: {_one_line(str(message))}", file=sys.stderr)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _check_backend_loaded(args: argparse.Namespace) -> None:
    if args.backend and "keras" in sys.modules:
        import keras

        if keras.backend.backend() != args.backend:
            raise RuntimeError(
                f"--backend {args.backend} cannot take effect: Keras was "
                f"already imported with backend {keras.backend.backend()!r}."
            )


def _import_keras_quietly(debug: bool, tensorflow: bool = False) -> None:
    """Imports Keras (and its backend) with C-level stderr silenced.

    TensorFlow prints start-up lines from C++ (oneDNN, CUDA) that no
    environment variable turns off; they are hidden unless `--debug`.
    With `tensorflow`, TensorFlow itself is imported too when installed
    (`keras.utils.set_random_seed` imports it whatever the backend).
    """
    if debug:
        return
    names = ["keras"]
    if tensorflow and importlib.util.find_spec("tensorflow") is not None:
        names.append("tensorflow")
    names = [name for name in names if name not in sys.modules]
    if not names:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            try:
                for name in names:
                    importlib.import_module(name)
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the `smp` command; returns the exit status.

    Args:
        argv: Arguments without the program name (default: `sys.argv[1:]`).

    Returns:
        0 on success, 1 on errors, 2 on usage errors, 130 on Ctrl-C.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    with warnings.catch_warnings():
        _configure(args)
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """Runs the parsed command; errors become one line on stderr."""
    try:
        _check_backend_loaded(args)
        return int(args.func(args))
    except KeyboardInterrupt:
        print(
            "smp: interrupted (an interrupted `smp prune` resumes from its "
            "last checkpoint when run again with the same options)",
            file=sys.stderr,
        )
        return 130
    except Exception as error:  # noqa: BLE001 - one line, no traceback
        if args.debug:
            traceback.print_exc()
        hint = "" if args.debug else " (--debug shows the traceback)"
        kind = (
            ""
            if isinstance(error, ValueError | OSError)
            else (f"{type(error).__name__}: ")
        )
        print(
            f"smp: error: {kind}{_one_line(str(error))}{hint}", file=sys.stderr
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
