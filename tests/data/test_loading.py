"""Loading local files, column mapping, label checks and error messages."""

from __future__ import annotations

import csv
import gzip
import json

import numpy as np
import pytest

from smp_keras.data import label_ids, load_task_data, prepare_split

ROWS = [
    {"review": "A moving, funny film.", "stars": "positive", "id": 1},
    {
        "review": 'He said "dull", and he was right.',
        "stars": "negative",
        "id": 2,
    },
    {"review": "Great cast; weak script.", "stars": "Negative", "id": 3},
]
EXPECTED_TEXT = [r["review"] for r in ROWS]
EXPECTED_IDS = [1, 0, 0]
MAPPING = {"text": "review", "label": "stars"}


def _write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _write_tsv(path, rows):
    """GLUE style: tab-separated, no quoting (quotes stay literal)."""
    lines = ["\t".join(rows[0])]
    lines += ["\t".join(str(v) for v in row.values()) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _write_jsonl(path, rows):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return path


def _write_parquet(path, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows)
    pq.write_table(table, path)
    return path


@pytest.mark.parametrize(
    "name, writer",
    [
        ("data.csv", _write_csv),
        ("data.tsv", _write_tsv),
        ("data.jsonl", _write_jsonl),
        ("data.jsonl.gz", _write_jsonl),
        ("data.parquet", _write_parquet),
    ],
)
def test_local_formats_with_column_mapping(tmp_path, cache_dir, name, writer):
    path = writer(tmp_path / name, ROWS)
    ds = load_task_data(
        "sst2",
        data_files={"train": path},
        columns=MAPPING,
        split="train",
        cache_dir=cache_dir,
    )
    assert ds.column_names == ["sentence", "label"]
    assert ds["sentence"][:] == EXPECTED_TEXT
    assert ds["label"][:] == EXPECTED_IDS
    assert ds.features["label"].names == ["negative", "positive"]


def test_pairs_splits_and_task_column_names(tmp_path, cache_dir):
    rows = [
        {"p": "A man sleeps.", "h": "A person rests.", "y": 0},
        {"p": "A dog runs.", "h": "A cat runs.", "y": 2},
        {"p": "Kids play.", "h": "Kids play outside.", "y": 1},
    ]
    files = {
        "train": _write_jsonl(tmp_path / "train.jsonl", rows),
        "validation": _write_jsonl(tmp_path / "dev.jsonl", rows[:2]),
    }
    columns = {"premise": "p", "text_b": "h", "label": "y"}
    dd = load_task_data(
        "mnli", data_files=files, columns=columns, cache_dir=cache_dir
    )
    assert set(dd) == {"train", "validation"}
    assert dd["validation"].column_names == ["premise", "hypothesis", "label"]
    assert dd["train"]["hypothesis"][:] == [r["h"] for r in rows]
    assert dd["train"]["label"][:] == [0, 2, 1]
    assert len(dd["validation"]) == 2


def test_single_path_and_regression(tmp_path, cache_dir):
    rows = [
        {"sentence1": "a", "sentence2": "b", "label": 4.5},
        {"sentence1": "c", "sentence2": "d", "label": "0.25"},
    ]
    path = _write_csv(tmp_path / "sts.csv", rows)
    ds = load_task_data(
        "stsb", data_files=path, split="validation", cache_dir=cache_dir
    )
    np.testing.assert_allclose(ds["label"][:], [4.5, 0.25])
    assert ds.features["label"].dtype == "float32"


def test_squad_style_answers(tmp_path, cache_dir):
    rows = [
        {
            "question": "Who?",
            "context": "Ada wrote it.",
            "answers": {"text": ["Ada"], "answer_start": [0]},
        }
    ]
    path = _write_jsonl(tmp_path / "qa.jsonl", rows)
    ds = load_task_data(
        "squad", data_files={"train": path}, split="train", cache_dir=cache_dir
    )
    assert ds[0]["answers"] == {"text": ["Ada"], "answer_start": [0]}
    bad = [dict(rows[0], answers={"text": ["Ada"], "answer_start": []})]
    path = _write_jsonl(tmp_path / "bad.jsonl", bad)
    with pytest.raises(ValueError, match="SQuAD-style dicts"):
        load_task_data("squad", data_files=path, cache_dir=cache_dir)


def test_embedded_single_split(cache_dir):
    ds = load_task_data("rotten_tomatoes", split="test", cache_dir=cache_dir)
    assert ds.column_names == ["sentence", "label"]
    assert len(ds) == 1008


# === Errors ===


def test_missing_column_lists_available(tmp_path, cache_dir):
    path = _write_csv(tmp_path / "data.csv", ROWS)
    with pytest.raises(ValueError) as info:
        load_task_data("sst2", data_files={"train": path}, cache_dir=cache_dir)
    message = str(info.value)
    assert "no column 'sentence'" in message
    assert "['review', 'stars', 'id']" in message
    with pytest.raises(ValueError, match="'revue' \\(for 'sentence'\\)"):
        load_task_data(
            "sst2",
            data_files={"train": path},
            columns={"text": "revue", "label": "stars"},
            cache_dir=cache_dir,
        )


def test_bad_column_mapping_keys(tmp_path, cache_dir):
    path = _write_csv(tmp_path / "data.csv", ROWS)
    with pytest.raises(ValueError, match="Unknown key 'txt'.*Valid keys"):
        load_task_data(
            "sst2",
            data_files=path,
            columns={"txt": "review"},
            cache_dir=cache_dir,
        )
    with pytest.raises(ValueError, match="its own source column"):
        load_task_data(
            "mrpc",
            data_files=path,
            columns={"text_a": "review", "text_b": "review", "label": "stars"},
            cache_dir=cache_dir,
        )


def test_labels_outside_label_set(tmp_path, cache_dir):
    rows = [dict(r) for r in ROWS] + [
        {"review": "x", "stars": "meh", "id": 4},
        {"review": "y", "stars": "3", "id": 5},
    ]
    path = _write_csv(tmp_path / "data.csv", rows)
    with pytest.raises(ValueError) as info:
        load_task_data(
            "sst2", data_files=path, columns=MAPPING, cache_dir=cache_dir
        )
    message = str(info.value)
    assert "'meh'" in message and "'3'" in message
    assert "2 invalid label(s)" in message
    assert "['negative', 'positive']" in message


def test_label_ids_conversions():
    np.testing.assert_array_equal(
        label_ids([True, 1.0, "1", " Positive ", np.int64(0)], "sst2"),
        [1, 1, 1, 1, 0],
    )
    for bad in (2, -1, 0.5, None, "nan", "good"):
        with pytest.raises(ValueError, match="invalid label"):
            label_ids([0, bad], "sst2")
    for bad in (float("nan"), float("inf"), "x", None):
        with pytest.raises(ValueError, match="finite numbers"):
            label_ids([1.0, bad], "stsb")


def test_unknown_task_and_split(tmp_path, cache_dir):
    with pytest.raises(ValueError, match="Available tasks: cola, mnli"):
        load_task_data("imdb")
    with pytest.raises(ValueError, match="Available splits: train, validation"):
        load_task_data("snli", split="dev", cache_dir=cache_dir)
    path = _write_csv(tmp_path / "data.csv", ROWS)
    with pytest.raises(ValueError, match="Available splits: train"):
        load_task_data("sst2", data_files={"train": path}, split="test")


def test_empty_files(tmp_path, cache_dir):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="is empty"):
        load_task_data("sst2", data_files=empty, cache_dir=cache_dir)
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n  \n")
    with pytest.raises(ValueError, match="is empty"):
        load_task_data("sst2", data_files=blank, cache_dir=cache_dir)
    header_only = tmp_path / "header.csv"
    header_only.write_text("sentence,label\n")
    with pytest.raises(ValueError, match="Split 'train' is empty"):
        load_task_data("sst2", data_files=header_only, cache_dir=cache_dir)


def test_bad_encoding_is_reported(tmp_path, cache_dir):
    path = tmp_path / "latin.csv"
    path.write_bytes(
        "sentence,label\nun film tr\xe8s r\xe9ussi,1\n".encode("latin-1")
    )
    with pytest.raises(ValueError, match="not valid utf-8 text.*byte 25"):
        load_task_data("sst2", data_files=path, cache_dir=cache_dir)
    ds = load_task_data(
        "sst2",
        data_files=path,
        encoding="latin-1",
        split="train",
        cache_dir=cache_dir,
    )
    assert ds["sentence"][:] == ["un film très réussi"]


def test_missing_file_and_unknown_extension(tmp_path, cache_dir):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_task_data("sst2", data_files=tmp_path / "nope.csv")
    odd = tmp_path / "data.txt"
    odd.write_text("sentence\tlabel\nfine\t1\n")
    with pytest.raises(ValueError, match="Cannot tell the format"):
        load_task_data("sst2", data_files=odd)
    ds = load_task_data(
        "sst2",
        data_files=odd,
        file_format="tsv",
        split="train",
        cache_dir=cache_dir,
    )
    assert ds["label"][:] == [1]
    with pytest.raises(ValueError, match="one format"):
        load_task_data(
            "sst2",
            data_files={
                "train": tmp_path / "x.csv",
                "validation": tmp_path / "x.jsonl",
            },
        )


def test_missing_text_values(tmp_path, cache_dir):
    path = tmp_path / "holes.csv"
    path.write_text("sentence,label\nfine,1\n,0\n")
    with pytest.raises(ValueError, match="1 missing value.*rows \\[1\\]"):
        load_task_data("sst2", data_files=path, cache_dir=cache_dir)


def test_hub_unreachable_explains_local_files(cache_dir):
    with pytest.raises(RuntimeError) as info:
        load_task_data("rte", split="validation", cache_dir=cache_dir)
    message = str(info.value)
    assert "nyu-mll/glue" in message
    assert "data_files=" in message and "text_a" in message


def test_prepare_split_on_in_memory_data():
    import datasets

    raw = datasets.Dataset.from_dict({"s": ["a", "b"], "y": [0, 1]})
    ds = prepare_split(raw, "cola", {"text": "s", "label": "y"})
    assert ds.features["label"].names == ["unacceptable", "acceptable"]
    with pytest.raises(ValueError, match="is empty"):
        prepare_split(raw.select([]), "cola", {"text": "s", "label": "y"})


def test_text_columns_are_cast_to_strings():
    import datasets

    raw = datasets.Dataset.from_dict({"sentence": [12, 7], "label": [0, 1]})
    ds = prepare_split(raw, "sst2")
    assert ds["sentence"][:] == ["12", "7"]
    nested = datasets.Dataset.from_dict({"sentence": [[1]], "label": [0]})
    with pytest.raises(ValueError, match="must hold text"):
        prepare_split(nested, "sst2", split="train")
