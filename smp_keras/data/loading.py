"""Load task data through Hugging Face ``datasets``.

Three sources, one result (a ``datasets.Dataset`` per split whose columns are
exactly the task's text columns and label column, labels validated and
converted to ids):

- the data sets embedded in the package (``rotten_tomatoes``, ``snli``),
  read from ``smp_keras/data/embedded`` and usable offline;
- the Hugging Face Hub for the GLUE and SQuAD presets
  (``datasets.load_dataset("nyu-mll/glue", "sst2")`` etc.);
- local CSV, TSV, JSON/JSONL or Parquet files (``data_files``), for any task,
  with a column mapping from your column names to the task's.

Tokenisation lives in :mod:`smp_keras.data.encoding`.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import itertools
import lzma
import os
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smp_keras.data.labels import check_answers, label_ids
from smp_keras.data.tasks import TaskSpec, get_task

if TYPE_CHECKING:  # pragma: no cover
    import datasets

EMBEDDED_DIR = Path(__file__).resolve().parent / "embedded"
FILE_FORMATS = ("csv", "tsv", "json", "parquet")
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".jsonl": "json",
    ".parquet": "parquet",
}
_OPENERS: dict[str, Callable[..., Any]] = {
    ".gz": gzip.open,
    ".bz2": bz2.open,
    ".xz": lzma.open,
}
_MAX_SHOWN = 10
# How `datasets` reports a split without rows (e.g. a CSV with a header only).
_EMPTY_SPLIT = re.compile(r"Instruction \"([^\"]+)\" corresponds to no data")


def _import_datasets() -> Any:
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "Loading task data needs the `datasets` package: "
            "pip install 'smp-keras[data]'"
        ) from exc
    return datasets


# === Public API ===


def embedded_files(task: str | TaskSpec) -> dict[str, str]:
    """Paths of an embedded task's files, by split.

    Args:
        task: An embedded task (``"rotten_tomatoes"`` or ``"snli"``).

    Returns:
        ``{split: path}`` for ``train``, ``validation`` and ``test``.

    Raises:
        ValueError: If the task does not ship with the package.

    Example:
        >>> sorted(embedded_files("snli"))
        ['test', 'train', 'validation']
    """
    spec = get_task(task)
    if not spec.embedded:
        raise ValueError(
            f"Task {spec.name!r} has no embedded data; embedded tasks are "
            "'rotten_tomatoes' and 'snli'."
        )
    return {
        split: str(EMBEDDED_DIR / f"{spec.name}.{source}.jsonl.gz")
        for split, source in spec.splits.items()
    }


def load_task_data(
    task: str | TaskSpec,
    *,
    data_files: Mapping[str, str | os.PathLike | Sequence[str | os.PathLike]]
    | str
    | os.PathLike
    | None = None,
    columns: Mapping[str, str] | None = None,
    split: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    file_format: str | None = None,
    encoding: str = "utf-8",
    read_options: Mapping[str, Any] | None = None,
) -> datasets.Dataset | datasets.DatasetDict:
    """Load, rename and validate the data of a task.

    With ``data_files`` the files are read locally (never the network). Else
    embedded tasks read the files shipped with the package, and hub presets
    call ``datasets.load_dataset(*task.hub, split=...)``; when the hub cannot
    be reached the error says how to pass local files instead.

    Every split is reduced to the task's text columns and label column (in
    that order), after renaming by ``columns``. Class labels may be ids
    (``0``, ``1``, ...; integral floats accepted) or label names
    (case-insensitive, e.g. ``"entailment"``) and come back as a
    ``datasets.ClassLabel`` column of ids; regression labels come back as
    float32; span labels must be SQuAD-style ``answers`` dicts.

    Args:
        task: Task name or :class:`~smp_keras.data.TaskSpec`.
        data_files: Local files as ``{split: path or list of paths}``; a single
            path means ``{split or "train": path}``. Supported: ``.csv``,
            ``.tsv`` (read with ``quoting=QUOTE_NONE``, as GLUE's files need),
            ``.json``/``.jsonl`` (JSON Lines or a JSON array), ``.parquet``;
            text formats may end in ``.gz``, ``.bz2`` or ``.xz``.
        columns: Mapping from task columns to your columns, e.g.
            ``{"text": "review", "label": "stars"}``. Keys may be the task's
            column names or the aliases ``"text"``/``"text_a"`` (first text
            column), ``"text_b"`` (second) and ``"label"``.
        split: A split name to return one ``datasets.Dataset``; ``None``
            returns a ``datasets.DatasetDict`` with every split.
        cache_dir: ``datasets`` cache folder (default: its own default).
        file_format: ``"csv"``, ``"tsv"``, ``"json"`` or ``"parquet"`` to
            override the format inferred from the file extension.
        encoding: Text encoding of CSV/TSV/JSON files.
        read_options: Extra keyword arguments for the ``datasets`` builder
            (e.g. ``{"quoting": 0}`` to read quoted TSV fields).

    Returns:
        A ``datasets.Dataset`` (``split`` given) or ``datasets.DatasetDict``.

    Raises:
        ValueError: Unknown task or split; unsupported or empty file; a file
            not decodable with ``encoding``; a missing column (the message
            lists the available ones); labels outside the task's label set
            (the message lists the offending values); an empty split.
        FileNotFoundError: If a data file does not exist.
        RuntimeError: If a hub preset cannot be loaded (e.g. offline).

    Example:
        >>> ds = load_task_data("rotten_tomatoes", split="test")
        >>> ds.column_names, len(ds)
        (['sentence', 'label'], 1008)
    """
    spec = get_task(task)
    if data_files is not None:
        files = _normalise_data_files(data_files, split)
        wanted = _wanted_splits(spec, split, list(files))
        raw = _load_local(
            {s: files[s] for s in wanted},
            file_format=file_format,
            encoding=encoding,
            cache_dir=cache_dir,
            read_options=read_options,
        )
    elif spec.embedded:
        wanted = _wanted_splits(spec, split, list(spec.splits))
        paths = embedded_files(spec)
        raw = _load_local(
            {s: [Path(paths[s])] for s in wanted},
            file_format="json",
            encoding="utf-8",
            cache_dir=cache_dir,
            read_options=None,
        )
    else:
        wanted = _wanted_splits(spec, split, list(spec.splits))
        raw = _load_hub(spec, wanted, cache_dir)
    prepared = {
        s: prepare_split(raw[s], spec, columns, split=s) for s in wanted
    }
    if split is not None:
        return prepared[split]
    return _import_datasets().DatasetDict(prepared)


def data_columns(
    data_files: object,
    split: str = "train",
    *,
    file_format: str | None = None,
    encoding: str = "utf-8",
) -> list[str]:
    """The column names of one split of local data files.

    Args:
        data_files: As for :func:`load_task_data`.
        split: The split to read.
        file_format: Override the format inferred from the extension.
        encoding: Text encoding of CSV/TSV/JSON files.

    Raises:
        ValueError: Unknown split, unsupported or unreadable file.
        FileNotFoundError: A missing file.
    """
    files = _normalise_data_files(data_files, None)
    if split not in files:
        raise ValueError(
            f"`data_files` has no {split!r} split. Received splits: "
            f"{', '.join(files)}."
        )
    raw = _load_local(
        {split: files[split]},
        file_format=file_format,
        encoding=encoding,
        cache_dir=None,
        read_options=None,
    )
    return list(raw[split].column_names)


def prepare_split(
    dataset: datasets.Dataset,
    task: str | TaskSpec,
    columns: Mapping[str, str] | None = None,
    *,
    split: str = "data",
) -> datasets.Dataset:
    """Rename, select and validate the columns of one split.

    This is the per-split step of :func:`load_task_data`, usable on any
    ``datasets.Dataset`` (e.g. one built with ``Dataset.from_dict``).

    Args:
        dataset: The raw split.
        task: Task name or :class:`~smp_keras.data.TaskSpec`.
        columns: Column mapping, as in :func:`load_task_data`.
        split: Name used in error messages.

    Returns:
        The split with exactly the task's text and label columns.

    Raises:
        ValueError: Empty split, missing columns, missing text values or
            labels outside the label set.

    Example:
        >>> import datasets
        >>> raw = datasets.Dataset.from_dict(
        ...     {"review": ["fine", "awful"], "stars": ["positive", "NEGATIVE"]}
        ... )
        >>> ds = prepare_split(
        ...     raw, "sst2", {"text": "review", "label": "stars"}
        ... )
        >>> list(ds["label"])
        [1, 0]
    """
    spec = get_task(task)
    if len(dataset) == 0:
        raise ValueError(f"Split {split!r} of task {spec.name!r} is empty.")
    dataset = _select_columns(dataset, spec, columns, split)
    for column in spec.text_columns:
        dataset = _check_text_column(dataset, column, split)
    return _convert_labels(dataset, spec, split)


# === Sources ===


def _normalise_data_files(
    data_files: object, split: str | None
) -> dict[str, list[Path]]:
    if isinstance(data_files, str | os.PathLike):
        data_files = {split or "train": data_files}
    if not isinstance(data_files, Mapping) or not data_files:
        raise TypeError(
            "`data_files` must be a path or a non-empty mapping "
            f"{{split: path}}. Received: data_files={data_files!r}"
        )
    files = {}
    for name, paths in data_files.items():
        if isinstance(paths, str | os.PathLike):
            paths = [paths]
        files[str(name)] = [Path(p) for p in paths]
        if not files[str(name)]:
            raise ValueError(f"`data_files[{name!r}]` lists no file.")
    return files


def _wanted_splits(
    spec: TaskSpec, split: str | None, available: list[str]
) -> list[str]:
    if split is None:
        return available
    if split not in available:
        raise ValueError(
            f"Unknown split {split!r} for task {spec.name!r}. Available "
            f"splits: {', '.join(available)}."
        )
    return [split]


def _file_format(path: Path, file_format: str | None) -> str:
    if file_format is not None:
        if file_format not in FILE_FORMATS:
            raise ValueError(
                f"`file_format` must be one of {FILE_FORMATS}. Received: "
                f"file_format={file_format!r}"
            )
        return file_format
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _OPENERS:
        suffixes = suffixes[:-1]
    fmt = _EXTENSIONS.get(suffixes[-1] if suffixes else "")
    if fmt is None:
        raise ValueError(
            f"Cannot tell the format of {str(path)!r} from its extension; "
            f"use one of {sorted(_EXTENSIONS)} (optionally + .gz/.bz2/.xz) "
            "or pass file_format='csv'|'tsv'|'json'|'parquet'."
        )
    return fmt


def _check_file(path: Path, split: str, fmt: str, encoding: str) -> None:
    """Raise early for missing, empty, corrupt or undecodable files."""
    where = f"`data_files[{split!r}]` ({str(path)!r})"
    if not path.is_file():
        raise FileNotFoundError(f"{where} does not exist.")
    if path.stat().st_size == 0:
        raise ValueError(f"{where} is empty.")
    if fmt == "parquet":
        return
    opener = _OPENERS.get(path.suffix.lower())
    if opener is None:
        blank = _check_text(open, path, where, encoding)
    else:
        blank = _check_compressed(opener, path, where, encoding)
    if blank:
        raise ValueError(f"{where} is empty (only whitespace).")


def _check_compressed(
    opener: Callable[..., Any], path: Path, where: str, encoding: str
) -> bool:
    """`_check_text` through a decompressor; corrupt data is a ValueError."""
    try:
        return _check_text(opener, path, where, encoding)
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
        raise ValueError(
            f"{where} cannot be decompressed as {path.suffix} "
            f"({type(exc).__name__}: {exc})."
        ) from exc


def _check_text(
    opener: Callable[..., Any], path: Path, where: str, encoding: str
) -> bool:
    """Decodes the whole file; returns whether it is blank."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset, blank = 0, True
    with opener(path, "rb") as f:
        # b"" last, with final=True: a truncated multi-byte character
        for chunk in itertools.chain(iter(lambda: f.read(1 << 20), b""), [b""]):
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                raise ValueError(
                    f"{where} is not valid {encoding} text ({exc.reason} at "
                    f"byte {offset + exc.start}){_bom_hint(offset, chunk)}. "
                    "Re-save it as UTF-8 or pass encoding='...' with its "
                    "actual encoding, e.g. encoding='latin-1'."
                ) from exc
            offset += len(chunk)
            blank = blank and not text.strip()
    return blank


def _bom_hint(offset: int, chunk: bytes) -> str:
    """Names the encoding a byte-order mark at the start of a file gives."""
    if offset == 0 and chunk.startswith(
        (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    ):
        return "; it starts with a UTF-16 byte-order mark: it is UTF-16 text"
    return ""


def _load_local(
    files: dict[str, list[Path]],
    *,
    file_format: str | None,
    encoding: str,
    cache_dir: str | os.PathLike | None,
    read_options: Mapping[str, Any] | None,
) -> dict[str, datasets.Dataset]:
    formats = {
        _file_format(p, file_format) for ps in files.values() for p in ps
    }
    if len(formats) != 1:
        raise ValueError(
            "All `data_files` must have one format; received a mix of "
            f"{sorted(formats)}. Convert them or load them separately."
        )
    (fmt,) = formats
    for split, paths in files.items():
        for path in paths:
            _check_file(path, split, fmt, encoding)
    options: dict[str, Any] = {}
    if fmt in ("csv", "tsv", "json"):
        options["encoding"] = encoding
    if fmt == "tsv":
        options.update(sep="\t", quoting=csv.QUOTE_NONE)
    options.update(read_options or {})
    builder = "csv" if fmt == "tsv" else fmt
    # One split at a time: `datasets` would cast every split to the column
    # types inferred from the first (ids in train, names in validation fail).
    return {
        split: _load_split(builder, fmt, split, paths, cache_dir, options)
        for split, paths in files.items()
    }


def _load_split(
    builder: str,
    fmt: str,
    split: str,
    paths: list[Path],
    cache_dir: str | os.PathLike | None,
    options: dict[str, Any],
) -> datasets.Dataset:
    """One split through `datasets`, its errors as one `ValueError`."""
    ds_lib = _import_datasets()
    data_files = {split: [str(p) for p in paths]}
    verbosity = ds_lib.logging.get_verbosity()
    ds_lib.logging.set_verbosity(ds_lib.logging.CRITICAL)  # no error lines
    try:
        return ds_lib.load_dataset(
            builder, data_files=data_files, cache_dir=cache_dir, **options
        )[split]
    except Exception as exc:
        if _EMPTY_SPLIT.search(str(exc)):
            raise ValueError(
                f"Split {split!r} is empty: its data_files "
                f"{data_files[split]} hold no rows."
            ) from exc
        cause = _root_cause(exc)
        raise ValueError(
            f"Could not read the {fmt} data_files of split {split!r} "
            f"{data_files[split]}: {type(cause).__name__}: "
            f"{_first_line(str(cause))}"
        ) from exc
    finally:
        ds_lib.logging.set_verbosity(verbosity)


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception (`datasets` wraps parser errors)."""
    seen = {id(exc)}
    while exc.__cause__ is not None and id(exc.__cause__) not in seen:
        exc = exc.__cause__
        seen.add(id(exc))
    return exc


def _first_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _load_hub(
    spec: TaskSpec, splits: list[str], cache_dir: str | os.PathLike | None
) -> dict[str, datasets.Dataset]:
    if spec.hub is None:
        raise ValueError(
            f"Task {spec.name!r} has no hub source; pass data_files=..."
        )
    path, config = spec.hub
    loaded = {}
    for split in splits:
        try:
            loaded[split] = _import_datasets().load_dataset(
                path, config, split=spec.splits[split], cache_dir=cache_dir
            )
        except (OSError, ValueError, RuntimeError) as exc:
            raise RuntimeError(_hub_help(spec, split, exc)) from exc
    return loaded


def _hub_help(spec: TaskSpec, split: str, exc: Exception) -> str:
    path, config = spec.hub or ("", None)
    source = path if config is None else f"{path}, {config!r}"
    keys = ("text_a", "text_b") if spec.is_pair else ("text",)
    mapping = {key: "<column>" for key in (*keys, "label")}
    return (
        f"Could not load split {split!r} of task {spec.name!r} from the "
        f"Hugging Face Hub ({source}): {type(exc).__name__}: {exc}\n"
        "Without hub access, pass local files instead, e.g.\n"
        f"    load_task_data({spec.name!r}, data_files={{'train': "
        "'train.tsv', 'validation': 'dev.tsv'}, "
        f"columns={mapping})\n"
        f"The task expects text columns {list(spec.text_columns)} and label "
        f"column {spec.label_column!r} (labels: {list(spec.label_names)})."
    )


# === Columns and labels ===


def _column_aliases(spec: TaskSpec) -> dict[str, str]:
    aliases = {"text": spec.text_columns[0], "text_a": spec.text_columns[0]}
    if spec.is_pair:
        aliases["text_b"] = spec.text_columns[1]
    aliases["label"] = spec.label_column
    for column in (*spec.text_columns, spec.label_column):
        aliases[column] = column
    return aliases


def _resolve_columns(
    spec: TaskSpec, columns: Mapping[str, str] | None
) -> dict[str, str]:
    """``{task column: source column}`` from the user's mapping."""
    if columns is not None and not isinstance(columns, Mapping):
        raise TypeError(
            "`columns` must be a mapping {task column: your column}. "
            f"Received: columns={columns!r}"
        )
    aliases = _column_aliases(spec)
    resolved = {c: c for c in (*spec.text_columns, spec.label_column)}
    for key, source in (columns or {}).items():
        if key not in aliases:
            raise ValueError(
                f"Unknown key {key!r} in `columns` for task {spec.name!r}. "
                f"Valid keys: {sorted(aliases)}."
            )
        if not isinstance(source, str):
            raise TypeError(
                f"`columns[{key!r}]` must be a column name. Received: "
                f"{source!r}"
            )
        resolved[aliases[key]] = source
    sources = list(resolved.values())
    if len(set(sources)) != len(sources):
        raise ValueError(
            "Each task column needs its own source column. Received: "
            f"columns={dict(columns or {})!r} (resolved: {resolved})"
        )
    return resolved


def _select_columns(
    dataset: datasets.Dataset,
    spec: TaskSpec,
    columns: Mapping[str, str] | None,
    split: str,
) -> datasets.Dataset:
    resolved = _resolve_columns(spec, columns)
    available = list(dataset.column_names)
    missing = [(t, s) for t, s in resolved.items() if s not in available]
    if missing:
        wanted = ", ".join(
            f"{s!r}" + (f" (for {t!r})" if s != t else "") for t, s in missing
        )
        raise ValueError(
            f"Split {split!r} of task {spec.name!r} has no column {wanted}. "
            f"Available columns: {available}. Map yours with "
            "columns={'<task column>': '<your column>'}, task columns: "
            f"{[*spec.text_columns, spec.label_column]}."
        )
    dataset = dataset.select_columns(list(resolved.values()))
    renames = {s: t for t, s in resolved.items() if s != t}
    if renames:
        dataset = dataset.rename_columns(renames)
    return dataset.select_columns(list(resolved))


def _check_text_column(
    dataset: datasets.Dataset, column: str, split: str
) -> datasets.Dataset:
    values = dataset[column][:]
    bad = [i for i, v in enumerate(values) if v is None]
    if bad:
        raise ValueError(
            f"Split {split!r} column {column!r} has {len(bad)} missing "
            f"value(s), e.g. in rows {bad[:_MAX_SHOWN]}."
        )
    dtype = getattr(dataset.features[column], "dtype", None)
    if dtype in ("string", "large_string"):
        return dataset
    if dtype is None or dtype in ("list", "dict", "struct"):
        raise ValueError(
            f"Split {split!r} column {column!r} must hold text. Received "
            f"feature {dataset.features[column]!r}."
        )
    return dataset.cast_column(column, _import_datasets().Value("string"))


def _convert_labels(
    dataset: datasets.Dataset, spec: TaskSpec, split: str
) -> datasets.Dataset:
    column = spec.label_column
    if spec.kind == "span":
        try:
            check_answers(dataset[column][:], spec)
        except ValueError as exc:
            raise ValueError(f"Split {split!r}: {exc}") from None
        return dataset
    try:
        ids = label_ids(dataset[column][:], spec)
    except ValueError as exc:
        raise ValueError(f"Split {split!r}: {exc}") from None
    ds_lib = _import_datasets()
    if spec.kind == "classification":
        feature = ds_lib.ClassLabel(names=list(spec.label_names))
    else:
        feature = ds_lib.Value("float32")
    dataset = dataset.remove_columns(column)
    return dataset.add_column(column, ids.tolist(), feature=feature)
