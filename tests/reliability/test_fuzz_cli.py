"""Bad-input fuzzing of the `smp` command: arguments, config and data files.

Run once per Keras backend. The contract: bad input ends with exit status 2
(a usage error) or 1 and exactly one line on stderr, ``smp...: error:
...``, that names the problem (the option, the field, the split or file);
never a Python traceback (unless ``--debug``), never a hang (every call
runs under an alarm), never a success or a later failure with wrong data
silently accepted, and nothing is written to the run directory.

The "model" is a folder with only a WordPiece ``vocab.txt``: the tokenizer
loads, so every argument and data check runs, but the backbone cannot.
Valid input therefore reaches the backbone and fails there with "not a BERT
checkpoint folder": that message is the oracle that the data (or option)
was accepted, and any data error must come before it.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from contract import CHOICES, F32_MAX, FUZZ
from hypothesis import event, given
from hypothesis import strategies as st

from smp_keras.cli.main import main
from smp_keras.pruning.config import MAX_LENGTH

VOCAB = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "terrible",
    "great",
    "the",
    "film",
    "was",
    "a",
    "plot",
    "good",
    "bad",
]
ACCEPTED = "is not a BERT checkpoint folder"  # input checked, model refused
SECONDS = 120  # per command: far above the slowest valid call (~5 s)
STEPS = "20"  # the prune runs' --steps (never reached: the model fails)


# === Fixtures and helpers ===


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A tokenizer-only model folder and valid data files."""
    folder = tmp_path_factory.mktemp("cli_fuzz")
    model = folder / "vocab_only"
    model.mkdir()
    (model / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    rows = "".join(
        f"the film was {w},{i % 2}\n" for i, w in enumerate(["bad", "good"] * 4)
    )
    (folder / "train.csv").write_text("sentence,label\n" + rows)
    (folder / "dev.csv").write_text("sentence,label\n" + rows)
    return folder


@pytest.fixture(autouse=True)
def _quiet_datasets(tmp_path, monkeypatch):
    """A private datasets cache, offline, without progress bars."""
    import datasets

    datasets.disable_progress_bars()
    monkeypatch.setattr(
        datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf_cache")
    )
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


class Hang(BaseException):
    """Raised by the alarm: the command ran past its time (a BaseException,
    so that `smp`'s error handler cannot turn it into an error line)."""


@contextlib.contextmanager
def alarm(seconds: int) -> Iterator[None]:
    def ring(signum, frame):
        raise Hang(f"the command ran for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def smp(capsys, *argv: str) -> tuple[int, str]:
    """Runs `smp` in-process; returns (status, stderr)."""
    capsys.readouterr()
    with alarm(SECONDS):
        code = main([str(a) for a in argv])
    _, err = capsys.readouterr()
    return code, err


def error_line(code: int, err: str) -> str:
    """The one `error:` line of a failed command (checked)."""
    assert code in (1, 2), (code, err)
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("smp: warning:")]
    assert len(lines) == 1, err
    assert lines[0].startswith("smp") and ": error: " in lines[0], lines[0]
    return lines[0]


def prune_args(workdir: Path, out: Path, *extra: Any, files=None) -> list:
    files = files or {
        "train": workdir / "train.csv",
        "validation": workdir / "dev.csv",
    }
    return [
        "--quiet", "prune", "--eager",
        "--model", workdir / "vocab_only",
        "--task", "sst2",
        "--data-files", *(f"{s}={p}" for s, p in files.items()),
        "--steps", STEPS, "--batch-size", "4",
        "--output-dir", out,
        *extra,
    ]  # fmt: skip


def test_valid_input_reaches_the_model(
    capsys, workdir, tmp_path, reliability_counter
):
    """The oracle: with nothing wrong, the error is the missing weights."""
    reliability_counter.add("cases")
    out = tmp_path / "run"
    code, err = smp(capsys, *prune_args(workdir, out))
    assert ACCEPTED in error_line(code, err)
    assert not out.exists()


# === Options ===

INT_OPTIONS = {
    "--steps": (1, None),
    "--batch-size": (1, None),
    "--max-length": (8, MAX_LENGTH),
    "--warmup-steps": (0, None),
    "--cooldown-steps": (0, None),
    "--seed": (0, 2**32 - 1),  # documented maximum
    "--eval-every": (0, None),
    "--hold-eval-every": (0, None),
    "--eval-max-examples": (1, None),
    "--test-max-examples": (1, None),
    "--checkpoint-every": (1, None),
    "--calibration-examples": (1, None),
}
REAL_OPTIONS = {  # (low, high, low_open)
    "--density": (0.0, 1.0, True),
    "--epochs": (0.0, math.inf, True),
    "--learning-rate": (0.0, math.inf, True),
    "--weight-learning-rate": (0.0, math.inf, True),
    "--cooldown-fraction": (0.0, 0.99, False),
    "--regularization-weight": (0.0, F32_MAX, False),
    "--temperature": (0.0, math.inf, True),
    "--score-init-scale": (0.0, math.inf, True),
    "--logit-scale": (0.0, math.inf, True),
    "--dropout": (0.0, 0.9, False),
}
CHOICE_OPTIONS = {
    "--" + field.replace("_", "-"): choices
    for field, choices in CHOICES.items()
}
VALUES = st.one_of(
    st.integers(-3, 40).map(str),
    st.sampled_from(
        [
            "0",
            "1",
            "0.5",
            "1.5",
            "-0.0",
            "1e-300",
            "1e400",
            "nan",
            "inf",
            "-inf",
            "NaN",
            "0x10",
            "1_000",
            "２",
            "",
            " ",
            "abc",
            "--density",
            "9" * 30,
            "8192",
            "8193",
            "smp-s",
            "mean",
            "zeros",
            "auto",
            "Smp-S",
            "1e3",
            "3.0",
        ]
    ),
    st.text(max_size=6),
)


#: What argparse takes for a negative number rather than an option.
NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")


def _number(text: str, kind: type) -> float | None:
    """What argparse's `type=` makes of `text`, or None if it refuses."""
    try:
        return kind(text)
    except ValueError:
        return None


def option_ok(option: str, text: str) -> tuple[bool, bool]:
    """(argparse accepts `text`, the config accepts the parsed value)."""
    if text.startswith("-") and not NEGATIVE_NUMBER.match(text):
        return False, False  # read as an option: "expected one argument"
    if option in INT_OPTIONS:
        value = _number(text, int)
        low, high = INT_OPTIONS[option]
        return value is not None, value is not None and value >= low and (
            high is None or value <= high
        )
    if option in REAL_OPTIONS:
        value = _number(text, float)
        low, high, low_open = REAL_OPTIONS[option]
        ok = (
            value is not None
            and math.isfinite(value)
            and (value > low if low_open else value >= low)
            and value <= high
        )
        return value is not None, ok
    ok = text in CHOICE_OPTIONS[option]
    return ok, ok


def schedule_ok(option: str, text: str) -> bool:
    """Whether warm-up and cool-down leave steps to decay in (documented
    in `PruneConfig.schedule_steps`; checked early when `steps` is given)."""
    settings = {
        "--steps": STEPS,
        "--warmup-steps": "0",
        "--cooldown-fraction": "0.3",
        "--density": "0.1",
        "--method": "smp-s",
        option: text,
    }
    if option == "--epochs":
        return True  # the step count depends on the data
    total = int(settings["--steps"])
    cooldown = (
        int(text)
        if option == "--cooldown-steps"
        else round(float(settings["--cooldown-fraction"]) * total)
    )
    final = (
        1.0
        if settings["--method"] == "fine-tune"
        else float(settings["--density"])
    )
    return final == 1.0 or total > int(settings["--warmup-steps"]) + cooldown


@FUZZ
@given(
    option=st.sampled_from(
        sorted(INT_OPTIONS) + sorted(REAL_OPTIONS) + sorted(CHOICE_OPTIONS)
    ),
    text=VALUES,
)
def test_option_values(
    option, text, capsys, workdir, tmp_path_factory, reliability_counter
):
    reliability_counter.add("cases")
    out = tmp_path_factory.mktemp("run") / "run"
    parsed, valid = option_ok(option, text)
    event("valid" if valid else "config error" if parsed else "usage error")
    argv = prune_args(workdir, out, option, text)
    if option in ("--steps", "--epochs"):  # mutually exclusive with --steps
        i = argv.index("--steps")
        del argv[i : i + 2]
    code, err = smp(capsys, *argv)
    line = error_line(code, err)
    assert not out.exists(), "a failed run wrote its run directory"
    if not parsed:
        assert code == 2 and option in line or "expected one argument" in line
        return
    if valid and not schedule_ok(option, text):
        assert code == 1 and "`warmup_steps`" in line, line
        return
    if option == "--method" and text == "soft-movement":  # λ is 0
        assert code == 1 and "`regularization_weight`" in line, line
        return
    if valid:  # everything checked, the model is what fails
        assert code == 1 and ACCEPTED in line, line
        return
    field = option[2:].replace("-", "_")
    assert code == 1 and f"`{field}`" in line, line


@pytest.mark.parametrize(
    "argv",
    [
        ["prune", "--densty", "0.5"],
        ["prune", "--density"],
        ["prune", "--steps", "2", "--epochs", "1"],
        ["prune", "--cooldown-steps", "1", "--cooldown-fraction", "0.1"],
        ["bogus"],
        [],
        ["--backend", "theano", "prune"],
        ["evaluate", "--split", "dev"],
        ["report"],
        ["prune", "--columns", "text"],
        ["prune", "--data-files"],
    ],
    ids=repr,
)
def test_usage_errors(argv, capsys, reliability_counter):
    reliability_counter.add("cases")
    code, err = smp(capsys, *argv)
    assert code == 2
    error_line(code, err)


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        (["--columns", "text="], "columns"),
        (["--columns", "txet=review"], "txet"),
        (["--label-words", ",,,"], "label_words"),
        (["--label-words", "great"], "label"),
        (["--label-names", "a,b"], "label_names"),
        (["--template", "no mask here"], "mask"),
        (["--task", "sst3"], "sst3"),
        (["--task", "\udcff"], "Unknown task"),
        (["--warmup-steps", "15", "--cooldown-steps", "5"], "warmup_steps"),
        (["--output-dir", "/dev/null"], "not a directory"),
    ],
    ids=repr,
)
def test_bad_settings(
    extra, names, capsys, workdir, tmp_path, reliability_counter
):
    reliability_counter.add("cases")
    out = tmp_path / "run"
    argv = prune_args(workdir, out, *extra)
    if "--output-dir" in extra:
        i = argv.index("--output-dir")
        del argv[i : i + 2]
    code, err = smp(capsys, *argv)
    line = error_line(code, err)
    assert code == 1 and names.lower() in line.lower(), line
    assert ACCEPTED not in line


@pytest.mark.parametrize(
    ("content", "names"),
    [
        (b"", "not valid JSON"),
        (b"\xff\xfe\x00{", "`text`"),
        (b"[1, 2]", "`config`"),
        (b'{"densty": 0.5}', "densty"),
        (b'{"density": "0.5"}', "`density`"),
        (b'{"density": NaN}', "`density`"),
        (b'{"config": {"steps": -1}}', "`steps`"),
        (b'{"batch_size": 1e400}', "`batch_size`"),
    ],
    ids=repr,
)
def test_bad_config_files(
    content, names, capsys, workdir, tmp_path, reliability_counter
):
    reliability_counter.add("cases")
    path = tmp_path / "config.json"
    path.write_bytes(content)
    out = tmp_path / "run"
    code, err = smp(capsys, *prune_args(workdir, out, "--config", path))
    line = error_line(code, err)
    assert code == 1 and names in line, line
    assert str(path) in line or "config" in line


# === Data files ===

BAD_FILES: dict[str, tuple[str, bytes, str]] = {
    # name: (suffix, content, what the error line must contain)
    "empty": (".csv", b"", "is empty"),
    "blank": (".csv", b" \n\n\t\n", "only whitespace"),
    "header-only": (".csv", b"sentence,label\n", "hold no rows"),
    "latin-1": (
        ".csv",
        "sentence,label\ncafé,1\n".encode("latin-1"),
        "not valid utf-8",
    ),
    "utf-16": (".csv", "sentence,label\nhi,1\n".encode("utf-16"), "UTF-16"),
    "utf-8-cut": (
        ".csv",
        "sentence,label\nhi,1\ncaf\u00e9".encode()[:-1],
        "not valid utf-8",
    ),
    "binary": (".csv", bytes(range(256)) * 4, "not valid utf-8"),
    "missing-column": (".csv", b"text,label\nhi,1\n", "no column 'sentence'"),
    "missing-label": (".csv", b"sentence\nhi\n", "no column 'label'"),
    "label-outside": (".csv", b"sentence,label\nhi,2\nho,0\n", ": 2 (1x)"),
    "label-name-typo": (".csv", b"sentence,label\nhi,postive\n", "postive"),
    "label-superscript": (
        ".csv",
        "sentence,label\nhi,\u00b2\n".encode(),
        "invalid label",
    ),
    "label-float": (".csv", b"sentence,label\nhi,0.5\n", "0.5"),
    "label-empty": (".csv", b"sentence,label\nhi,\nho,1\n", "invalid label"),
    "text-missing": (".csv", b"sentence,label\n,1\nho,0\n", "missing value"),
    "mixed-types": (
        ".jsonl",
        b'{"sentence": "a", "label": 1}\n'
        b'{"sentence": "b", "label": "positive"}\n'
        b'{"sentence": "c", "label": [1]}\n',
        "[1]",
    ),
    "json-broken": (
        ".jsonl",
        b'{"sentence": "a", "label": 1}\n{oops\n',
        "JSON parse error",
    ),
    "json-scalar": (".json", b"42", "Could not read"),
    "nested-text": (
        ".jsonl",
        b'{"sentence": {"a": 1}, "label": 1}\n',
        "must hold text",
    ),
    "quote-open": (
        ".csv",
        b'sentence,label\n"never closed,1\n',
        "EOF inside string",
    ),
    "gzip-garbage": (".csv.gz", b"\x1f\x8b\x08garbage", "decompressed"),
    "parquet-garbage": (".parquet", b"PAR1 not parquet PAR1", "Parquet"),
    "no-extension": ("", b"sentence,label\nhi,1\n", "Cannot tell the format"),
    "huge-line-bad-label": (
        ".csv",
        b"sentence,label\n" + b"w" * 2_000_000 + b",7\n",
        ": 7 (1x)",
    ),
}


ALONE = ("gzip-garbage", "parquet-garbage")  # no valid partner file here


@pytest.mark.parametrize("name", sorted(set(BAD_FILES) - set(ALONE)))
@pytest.mark.parametrize("split", ["train", "validation"])
def test_bad_data_files(
    name, split, capsys, workdir, tmp_path, reliability_counter
):
    reliability_counter.add("cases")
    suffix, content, expected = BAD_FILES[name]
    path = tmp_path / f"data{suffix}"
    path.write_bytes(content)
    files = {"train": workdir / "train.csv", "validation": workdir / "dev.csv"}
    if suffix not in (".csv", ""):  # one format for all files
        other = tmp_path / f"ok{suffix}"
        good = {
            ".jsonl": b'{"sentence": "a good film", "label": 1}\n',
            ".json": b'[{"sentence": "a good film", "label": 1}]',
        }
        other.write_bytes(good[suffix])
        files = {"train": other, "validation": other}
    files[split] = path
    out = tmp_path / "run"
    code, err = smp(capsys, *prune_args(workdir, out, files=files))
    line = error_line(code, err)
    assert code == 1 and ACCEPTED not in line, line
    assert expected in line, line
    assert repr(split) in line or str(path) in line, line
    assert not out.exists()


@pytest.mark.parametrize("name", ALONE)
def test_bad_binary_formats_alone(
    name, capsys, workdir, tmp_path, reliability_counter
):
    reliability_counter.add("cases")
    suffix, content, expected = BAD_FILES[name]
    path = tmp_path / f"data{suffix}"
    path.write_bytes(content)
    out = tmp_path / "run"
    files = {"train": path, "validation": path}
    code, err = smp(capsys, *prune_args(workdir, out, files=files))
    line = error_line(code, err)
    assert expected in line and "'train'" in line, line


# --- Generated CSV files, with an oracle of what must be accepted ---

WORDS = ["good", "bad", "the film", "a plot", "great", "zzz", "x y z"]
LABELS = [
    "0",
    "1",
    "positive",
    "NEGATIVE",
    " 1 ",
    "Positive",
    "2",
    "-1",
    "pos",
    "",
    "\u00b2",
    "1_0",
    "10",
]
VALID_LABELS = {"0", "1", "positive", "NEGATIVE", " 1 ", "Positive"}


GOOD_HEADERS = ["sentence,label", "label,sentence", "sentence,label,extra"]
BAD_HEADERS = ["text,label", "sentence,labels", "sentence"]


@st.composite
def csv_files(draw) -> tuple[bytes, bool, str]:
    """CSV bytes, whether they are valid sst2 data, and why not.

    A defect is drawn first (none in about a third of the files), only to
    spread the cases; validity is then decided from the file itself.
    """
    defect = draw(
        st.sampled_from(
            ["none"] * 4 + ["encoding", "rows", "header", "text", "label"]
        )
    )
    header = draw(
        st.sampled_from(BAD_HEADERS if defect == "header" else GOOD_HEADERS)
    )
    columns = header.split(",")
    texts = st.sampled_from(WORDS + [""] if defect == "text" else WORDS)
    labels = st.sampled_from(
        LABELS if defect == "label" else sorted(VALID_LABELS)
    )
    rows = draw(
        st.lists(
            st.tuples(texts, labels),
            min_size=0 if defect == "rows" else 1,
            max_size=5,
        )
    )
    encoding = draw(
        st.sampled_from(
            ["latin-1", "utf-16"]
            if defect == "encoding"
            else ["utf-8", "utf-8-sig"]
        )
    )
    accent = draw(st.booleans()) or defect == "encoding"
    lines = [header]
    for text, label in rows:
        text = text + ("é" if accent and text else "")
        cells = {
            "sentence": text,
            "label": label,
            "text": text,
            "labels": label,
            "extra": "x",
        }
        lines.append(",".join(cells[c] for c in columns))
    data = ("\n".join(lines) + "\n").encode(encoding)
    why = ""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        why = "not valid utf-8"
    if not why and not rows:
        why = "hold no rows"
    if not why and not {"sentence", "label"} <= set(columns):
        why = "no column"
    if not why and any(text == "" for text, _ in rows):
        why = "missing value"
    if not why and any(label not in VALID_LABELS for _, label in rows):
        why = "invalid label"
    return data, not why, why


@FUZZ
@given(case=csv_files(), split=st.sampled_from(["train", "validation"]))
def test_generated_csv_files(
    case, split, capsys, workdir, tmp_path_factory, reliability_counter
):
    reliability_counter.add("cases")
    data, valid, why = case
    event(why or "valid")
    folder = tmp_path_factory.mktemp("csv")
    path = folder / "data.csv"
    path.write_bytes(data)
    files = {"train": workdir / "train.csv", "validation": workdir / "dev.csv"}
    files[split] = path
    out = folder / "run"
    code, err = smp(capsys, *prune_args(workdir, out, files=files))
    line = error_line(code, err)
    if valid:
        assert ACCEPTED in line, f"valid data refused: {line}"
        return
    assert ACCEPTED not in line, f"bad data ({why}) accepted: {data[:200]!r}"
    assert why in line or (why == "no column" and "has no column" in line), (
        why,
        line,
    )
    assert repr(split) in line, line
    assert not out.exists()


# === --debug and a real process ===


def test_debug_shows_the_traceback(
    capsys, workdir, tmp_path, reliability_counter
):
    reliability_counter.add("cases")
    path = tmp_path / "bad.csv"
    path.write_bytes(b"sentence,label\nhi,7\n")
    files = {"train": path, "validation": workdir / "dev.csv"}
    argv = prune_args(workdir, tmp_path / "run", files=files)
    code, err = smp(capsys, "--debug", *argv)
    assert code == 1 and "Traceback" in err and ": 7 (1x)" in err


def _run_process(*argv: Any) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "smp_keras.cli", *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=SECONDS * 2,
        env=env,
    )


def test_real_process_bad_option_and_bad_data(
    workdir, tmp_path, reliability_counter
):
    """The installed entry point: status, one stderr line, no traceback."""
    reliability_counter.add("cases", 2)
    done = _run_process("prune", "--density", "nan")
    assert done.returncode == 1 and done.stdout == ""
    assert "`density`" in error_line(done.returncode, done.stderr)
    path = tmp_path / "bad.csv"
    path.write_bytes("sentence,label\ncafé,1\n".encode("latin-1"))
    files = {"train": path, "validation": workdir / "dev.csv"}
    done = _run_process(*prune_args(workdir, tmp_path / "run", files=files))
    line = error_line(done.returncode, done.stderr)
    assert "not valid utf-8" in line and "'train'" in line, done.stderr
    assert str(path) in line
