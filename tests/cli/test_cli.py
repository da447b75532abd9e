"""The `smp` command: help, a full round trip, and bad input.

Bad input must end with one line on stderr (``smp: error: ...``), a
non-zero exit status and no traceback; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from job_test_utils import TASKS

import smpcore
from smp_keras.cli.main import main
from smp_keras.pruning import run_dir as rd

COMMANDS = ("prune", "evaluate", "export", "report", "demo")


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("smp"), lines[0]
    assert ": error: " in lines[0]
    return lines[0]


def test_help_reads_well(capsys):
    code, out, _ = _run(capsys, "--help")
    assert code == 0
    assert "examples:" in out and "smp demo" in out
    for command in COMMANDS:
        assert command in out
        code, out, _ = _run(capsys, command, "--help")
        assert code == 0, command
        assert out.startswith(f"usage: smp {command}")
        assert "--backend" in out and "examples:" in out


def test_help_does_not_import_keras():
    code = (
        "import sys; from smp_keras.cli.main import main; "
        "assert main(['prune', '--help']) == 0; "
        "assert 'keras' not in sys.modules, 'keras imported'"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def _prune_args(tiny_model, files, out, *extra) -> list[str]:
    return [
        "--quiet",
        "prune",
        "--eager",
        "--model",
        tiny_model,
        "--task",
        "sst2",
        "--data-files",
        *(f"{split}={path}" for split, path in files.items()),
        "--columns",
        *(f"{k}={v}" for k, v in TASKS["single"]["columns"].items()),
        "--steps",
        "2",
        "--batch-size",
        "8",
        "--max-length",
        "24",
        "--density",
        "0.5",
        "--output-dir",
        str(out),
        *extra,
    ]


def test_prune_runs_on_a_roberta_folder(capsys, data_files, tmp_path):
    # A tiny random RoBERTa with its byte-level BPE tokenizer: the folder's
    # model_type picks the family; the label words are `Ġ` tokens.
    from tiny_bert import save_tiny_roberta

    model = save_tiny_roberta(tmp_path / "roberta")
    files = data_files["single"]
    run = tmp_path / "run"
    code, out, err = _run(capsys, *_prune_args(model, files, run))
    assert code == 0, err
    assert "Kept weights:" in out and "Mask artifact:" in out
    metrics = json.load(open(run / rd.METRICS))
    assert metrics["kept"] == round(0.5 * metrics["total"]) or (
        abs(metrics["kept"] / metrics["total"] - 0.5) < 0.01
    )
    masks = smpcore.load_masks_file(run / rd.MASKS)
    assert len(masks) == 12  # 2 layers x 6 matrices
    code, out, err = _run(capsys, "evaluate", str(run), "--eager", "--json")
    assert code == 0, err
    assert json.loads(out)["metrics"] == pytest.approx(metrics["metrics"])


def test_round_trip(capsys, tiny_model, data_files, tmp_path):
    files = data_files["single"]
    run = tmp_path / "run"
    code, out, err = _run(capsys, *_prune_args(tiny_model, files, run))
    assert code == 0, err
    assert "Kept weights:" in out and "Mask artifact:" in out
    stored = json.load(open(run / rd.METRICS))

    code, out, err = _run(capsys, "evaluate", str(run), "--eager", "--json")
    assert code == 0, err
    assert json.loads(out)["metrics"] == pytest.approx(stored["metrics"])

    npy = tmp_path / "masks.npy"
    copy = tmp_path / "copy.smpmask"
    code, out, err = _run(
        capsys,
        "export",
        str(run),
        "--reference",
        str(npy),
        "--masks-output",
        str(copy),
    )
    assert code == 0, err
    assert npy.is_file() and copy.is_file()

    code, out, err = _run(
        capsys,
        "evaluate",
        tiny_model,
        "--masks",
        str(npy),
        "--reference-format",
        "--task",
        "sst2",
        "--data-files",
        *(f"{s}={p}" for s, p in files.items()),
        "--columns",
        "text=review",
        "label=stars",
        "--max-length",
        "24",
        "--eager",
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["metrics"] == pytest.approx(stored["metrics"])

    plot = tmp_path / "plot.png"
    code, out, err = _run(capsys, "report", str(copy), "--plot", str(plot))
    assert code == 0, err
    assert out.splitlines()[0].split()[:2] == ["layer", "query"]
    assert plot.is_file()
    code, out, _ = _run(capsys, "report", str(run), "--json")
    assert json.loads(out)["sparsity"]["total"]["kept"] == stored["kept"]

    # The same command again: the finished run is protected.
    code, _, err = _run(capsys, *_prune_args(tiny_model, files, run))
    assert code == 1
    assert "finished run" in _one_error_line(err)


def _bad_files(tmp_path, name: str, text: str, splits=("train",)) -> dict:
    files = {}
    for split in splits:
        path = tmp_path / f"{split}_{name}"
        path.write_text(text)
        files[split] = str(path)
    return files


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing_file", "does not exist"),
        ("misnamed_column", "Available columns"),
        ("labels_outside", "invalid label"),
        ("empty_split", "empty"),
        ("multi_token_word", "exactly one known token"),
        ("density", "`density` must be in (0, 1]"),
        ("unknown_task", "Unknown task 'sts'"),
        ("bad_config_file", "not valid JSON"),
    ],
)
def test_bad_input_is_one_line(
    case, expected, capsys, tiny_model, data_files, tmp_path
):
    files = data_files["single"]
    extra: list[str] = []
    if case == "missing_file":
        files = {
            "train": str(tmp_path / "nope.csv"),
            **{"validation": files["validation"]},
        }
    elif case == "misnamed_column":
        files = _bad_files(
            tmp_path, "a.csv", "text,stars\nfine,1\n", data_files
        )
    elif case == "labels_outside":
        files = _bad_files(
            tmp_path,
            "b.csv",
            "review,stars\ngood,1\nbad,7\n",
            ("train", "validation"),
        )
    elif case == "empty_split":
        files = _bad_files(tmp_path, "c.csv", "review,stars\n")
    elif case == "multi_token_word":
        extra = ["--head", "mlm", "--label-words", "xylophone,great"]
    elif case == "density":
        extra = ["--density", "0"]
    elif case == "unknown_task":
        extra = ["--task", "sts"]
    elif case == "bad_config_file":
        config = tmp_path / "config.json"
        config.write_text("{not json")
        extra = ["--config", str(config)]
    out = tmp_path / "run"
    code, _, err = _run(capsys, *_prune_args(tiny_model, files, out, *extra))
    assert code == 1
    assert expected in _one_error_line(err)
    assert not os.path.exists(out / rd.METRICS)


@pytest.mark.parametrize(
    "argv",
    [
        ["prune", "--method", "smp"],
        ["prune", "--steps", "3", "--epochs", "1"],
        ["prune", "--density", "a lot"],
        ["demo", "--task", "mnli"],
        ["frobnicate"],
    ],
)
def test_usage_errors_are_one_line(argv, capsys):
    code, _, err = _run(capsys, *argv)
    assert code == 2
    _one_error_line(err)


def test_missing_and_corrupt_artifacts(capsys, tmp_path):
    code, _, err = _run(capsys, "report", str(tmp_path / "none.smpmask"))
    assert code == 1
    assert "No mask artifact" in _one_error_line(err)
    bad = tmp_path / "bad.smpmask"
    bad.write_bytes(b"\x00" * 64)
    code, _, err = _run(capsys, "report", str(bad))
    assert code == 1
    _one_error_line(err)
    code, _, err = _run(capsys, "evaluate", "--masks", str(bad) + ".x")
    assert code == 1
    assert "No mask file" in _one_error_line(err)


def test_debug_shows_the_traceback(capsys, tmp_path):
    code, _, err = _run(
        capsys, "--debug", "report", str(tmp_path / "none.smpmask")
    )
    assert code == 1
    assert "Traceback" in err
    assert err.strip().splitlines()[-1].startswith("smp: error: ")


def test_prune_options_map_onto_the_config(tmp_path):
    from smp_keras.cli.main import _prune_config, build_parser
    from smp_keras.pruning.config import PruneConfig

    base = PruneConfig(task="snli", density=0.3, seed=4)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({"config": base.to_dict()}))
    args = build_parser().parse_args(
        [
            "prune",
            "--config",
            str(config_file),
            "--data-files",
            "train=a.csv",
            "train=b.csv",
            "test=c.csv",
            "--columns",
            "text=review",
            "--label-words",
            "no, maybe ,yes",
            "--density",
            "0.2",
            "--epochs",
            "2",
            "--overwrite",
        ]
    )
    config = _prune_config(args)
    assert config == PruneConfig(
        task="snli",
        density=0.2,
        seed=4,
        data_files={"train": ["a.csv", "b.csv"], "test": "c.csv"},
        columns={"text": "review"},
        label_words=["no", "maybe", "yes"],
        epochs=2.0,
        overwrite=True,
    )
    single = build_parser().parse_args(
        ["prune", "--data-files", "x.jsonl", "--label-words", "bad,good"]
    )
    assert _prune_config(single).data_files == {"train": "x.jsonl"}


def test_prune_options_are_the_config_fields(capsys):
    """One option per `PruneConfig` field, its help and default from it."""
    import dataclasses

    from smp_keras.cli.main import _prune_config, build_parser
    from smp_keras.pruning.config import DEFAULTS, PruneConfig

    code, out, _ = _run(capsys, "prune", "--help")
    assert code == 0
    text = " ".join(out.split())
    for field in dataclasses.fields(PruneConfig):
        assert "--" + field.name.replace("_", "-") in text, field.name
    for words in (
        "--config FILE",
        "--output-dir OUTPUT_DIR, -o OUTPUT_DIR",
        "--regularization-weight LAMBDA, --reg-weight LAMBDA",
        "final regulariser weight lambda (default: 0; paper: 400; "
        "soft-movement needs > 0)",
        f"final fraction of weights kept (default: {DEFAULTS['density']}; "
        "n/m with --structure)",
        "--structure N:M N:M structure, e.g. 2:4",
        "(density n/m; methods smp-l, magnitude, movement, wanda, "
        "wanda-fine-tune;",
        "--calibration-examples CALIBRATION_EXAMPLES",
        f"training steps (default: {DEFAULTS['steps']}; wanda trains none",
        "--batch-size BATCH_SIZE default: 32",
        "learning rate of the mask scores (default: 0.02)",
        "--method {smp-s,smp-l,magnitude,movement,soft-movement,wanda,"
        "wanda-fine-tune,fine-tune} smp-s (default), smp-l, or a baseline "
        "(wanda: one shot, no training; wanda-fine-tune: its masks fixed, "
        "the kept weights fine-tuned)",
        "fixed logit factor (default: 20 prototype, 1 others)",
        "(default: about 6 over the hold phase; 0: none)",
        "--steps STEPS | --epochs EPOCHS",
        "--cooldown-fraction COOLDOWN_FRACTION | --cooldown-steps",
    ):
        assert words in text, words
    parser = build_parser()
    for flag in ("--regularization-weight", "--reg-weight"):
        args = parser.parse_args(
            ["prune", "--method", "soft-movement", flag, "4"]
        )
        assert _prune_config(args).regularization_weight == 4.0
    args = parser.parse_args(["prune", "-o", "out", "--group-by-length"])
    assert _prune_config(args) == PruneConfig(
        output_dir="out", group_by_length=True
    )


def test_structure_and_wanda_options(capsys):
    from smp_keras.cli.main import _prune_config, build_parser

    parser = build_parser()
    args = parser.parse_args(
        [
            "prune",
            "--structure",
            "2:4",
            "--method",
            "wanda",
            "--calibration-examples",
            "64",
        ]
    )
    config = _prune_config(args)
    assert (config.method, config.structure, config.density) == (
        "wanda",
        "2:4",
        0.5,
    )
    assert config.calibration_examples == 64
    args = parser.parse_args(["prune", "--score-init", "wanda"])
    assert _prune_config(args).score_init == "wanda"
    # Refused combinations are one line naming parameters and values.
    code, _, err = _run(capsys, "prune", "--structure", "2:4")
    assert code == 1
    line = _one_error_line(err)
    assert "structure='2:4'" in line and "method='smp-s'" in line
    code, _, err = _run(
        capsys, "prune", "--method", "smp-l", "--structure", "2:4",
        "--density", "0.1",
    )  # fmt: skip
    assert code == 1
    line = _one_error_line(err)
    assert "density=0.1" in line and "structure='2:4'" in line


def test_an_old_config_file_with_reg_weight_is_read(capsys, tmp_path):
    from smp_keras.cli.main import _prune_config, build_parser

    old = tmp_path / "old.json"
    old.write_text(json.dumps({"method": "soft-movement", "reg_weight": 400}))
    args = build_parser().parse_args(["prune", "--config", str(old)])
    assert _prune_config(args).regularization_weight == 400.0
    args = build_parser().parse_args(
        ["prune", "--config", str(old), "--reg-weight", "2"]
    )
    assert _prune_config(args).regularization_weight == 2.0
    both = tmp_path / "both.json"
    both.write_text(json.dumps({"reg_weight": 400, "regularization_weight": 1}))
    code, _, err = _run(capsys, "prune", "--config", str(both))
    assert code == 1
    line = _one_error_line(err)
    assert "`reg_weight`" in line and "`regularization_weight`" in line
    assert str(both) in line
