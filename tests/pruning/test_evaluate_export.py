"""`evaluate`, `export` and `report` on a finished run of the tiny BERT.

Oracles: the reference format is unpacked by `smpcore` with names built
here from the Hugging Face layout; the exported folder is read by
`transformers`; the `.keras` file is loaded by Keras alone and compared
with the library's model; densities are counted with NumPy.
"""

from __future__ import annotations

import os
import re

import keras
import numpy as np
import pytest
from job_test_utils import TASKS

import smpcore
from smp_keras.pruning.evaluate import evaluate, export, load_pruned_model
from smp_keras.pruning.report import report

HF_NAMES = {
    "query": "attention.self.query",
    "key": "attention.self.key",
    "value": "attention.self.value",
    "attention_output": "attention.output.dense",
    "intermediate": "intermediate.dense",
    "output": "output.dense",
}


def _hf_name(name: str) -> str:
    layer, kind = re.search(r"transformer_layer_(\d+)/(\w+)$", name).groups()
    return f"bert.encoder.layer.{layer}.{HF_NAMES[kind]}.weight"


def test_reference_format_round_trip(finished_run, data_files, tmp_path):
    npy = str(tmp_path / "sst2_0.50.npy")
    written = export(finished_run.run_dir, reference_path=npy)
    assert written == {"reference": npy}
    ours = smpcore.load_masks_file(finished_run.artifact_path)
    shapes = {_hf_name(n): m.T.shape for n, m in ours.items()}
    theirs = smpcore.load_reference_masks(npy, shapes)
    for name, mask in ours.items():
        np.testing.assert_array_equal(theirs[_hf_name(name)], mask.T)
    result = evaluate(
        finished_run.config.model,
        npy,
        "sst2",
        reference_format=True,
        data_files=data_files["single"],
        columns=TASKS["single"]["columns"],
        max_length=finished_run.config.max_length,
        jit_compile=None,
    )
    assert result["metrics"] == pytest.approx(finished_run.metrics, abs=1e-6)
    assert result["kept"] == finished_run.kept


def test_mismatched_masks_are_rejected_whole(finished_run, tmp_path):
    masks = smpcore.load_masks_file(finished_run.artifact_path)
    name = next(iter(masks))
    masks[name] = np.ones((3, 3), bool)
    bad = str(tmp_path / "bad.smpmask")
    smpcore.save_masks_file(bad, masks)
    with pytest.raises(ValueError, match=r"(?s)do not match the model.*shape"):
        evaluate(finished_run.run_dir, bad)


def test_export_huggingface_folder_has_the_masks_baked_in(
    finished_run, tmp_path
):
    import transformers

    folder = str(tmp_path / "hf")
    export(finished_run.run_dir, hf_folder=folder)
    model = transformers.AutoModelForMaskedLM.from_pretrained(folder)
    original = transformers.AutoModelForMaskedLM.from_pretrained(
        finished_run.config.model
    )
    state, dense = model.state_dict(), original.state_dict()
    for name, mask in smpcore.load_masks_file(
        finished_run.artifact_path
    ).items():
        key = _hf_name(name)
        np.testing.assert_array_equal(
            state[key].numpy(), dense[key].numpy() * mask.T
        )
    transformers.AutoTokenizer.from_pretrained(folder)  # tokenizer beside
    with pytest.raises(FileExistsError, match="not empty"):
        export(finished_run.run_dir, hf_folder=folder)


def _inputs(model: keras.Model, tokenizer, texts, pairs=None) -> dict:
    encoded = tokenizer(
        texts, pairs, padding="max_length", max_length=16, truncation=True
    )
    x = {
        "token_ids": np.asarray(encoded["input_ids"], "int32"),
        "segment_ids": np.asarray(encoded["token_type_ids"], "int32"),
        "padding_mask": np.asarray(encoded["attention_mask"], "int32"),
    }
    if any(t.name.startswith("mask_positions") for t in model.inputs):
        x["mask_positions"] = np.array([0, 3], "int32")[: len(texts)]
    return x


def test_export_keras_loads_without_smp_layers(finished_run, tmp_path):
    path = str(tmp_path / "pruned.keras")
    export(finished_run.run_dir, keras_path=path)
    loaded = keras.saving.load_model(path)
    modules = {type(layer).__module__ for layer in loaded._flatten_layers()}
    assert all(m.startswith("keras.") for m in modules), modules
    model, _, tokenizer, _ = load_pruned_model(finished_run.run_dir)
    x = _inputs(model, tokenizer, ["the film was great", "a dull plot"])
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x, training=False)),
        keras.ops.convert_to_numpy(model(x, training=False)),
        atol=1e-4,
    )


@pytest.mark.parametrize(
    ("task", "head", "pooling", "template"),
    [
        ("sst2", "prototype", "mean", None),
        ("sst2", "mlm", "token", "it was [MASK] ."),
        ("snli", "embeddings", "token", None),
        ("squad", "mlm", "token", None),
        ("squad", "prototype", "mean", None),
    ],
)
def test_plain_keras_model_matches_every_head(
    task, head, pooling, template, tiny_model
):
    from smp_keras.bert.export import plain_keras_model
    from smp_keras.model_utils import masked_layers

    model, spec, tokenizer, _ = load_pruned_model(
        tiny_model, None, task, head=head, pooling=pooling, template=template
    )
    rng = np.random.default_rng(0)
    for layer in masked_layers(model):
        layer.scores.assign(rng.normal(size=layer.scores.shape))
        layer.set_density(0.4)
    pairs = ["who lives in rome ?", "bob"] if spec.is_pair else None
    x = _inputs(model, tokenizer, ["ada lives in rome .", "a dull plot"], pairs)
    plain = plain_keras_model(model)
    expected = model(x, training=False)
    got = plain(x, training=False)
    for key in expected if isinstance(expected, dict) else [None]:
        a = expected if key is None else expected[key]
        b = got if key is None else got[key]
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(b),
            keras.ops.convert_to_numpy(a),
            atol=1e-4,
        )


def test_export_copies_and_checks_the_artifact(finished_run, tmp_path):
    out = str(tmp_path / "copy.smpmask")
    export(finished_run.artifact_path, masks_output=out)
    with open(out, "rb") as a, open(finished_run.artifact_path, "rb") as b:
        assert a.read() == b.read()
    with pytest.raises(ValueError, match="Nothing to export"):
        export(finished_run.run_dir)
    broken = tmp_path / "broken.smpmask"
    broken.write_bytes(b"not an artifact")
    with pytest.raises(ValueError):
        export(str(broken), masks_output=str(tmp_path / "x.smpmask"))
    assert not (tmp_path / "x.smpmask").exists()


def test_report_groups_by_layer_and_type(finished_run, tmp_path):
    plot = str(tmp_path / "plot.png")
    result = report(finished_run.run_dir, plot_path=plot)
    masks = smpcore.load_masks_file(finished_run.artifact_path)
    table = result["table"]
    assert table["layers"] == [0, 1]
    for name, mask in masks.items():
        layer, kind = re.search(r"_(\d+)/(\w+)$", name).groups()
        assert table["density"][kind][int(layer)] == mask.mean()
    for layer in table["layers"]:
        kept = [m for n, m in masks.items() if f"_{layer}/" in n]
        expected = sum(m.sum() for m in kept) / sum(m.size for m in kept)
        assert table["layer_density"][layer] == pytest.approx(expected)
    assert result["sparsity"]["total"]["kept"] == finished_run.kept
    assert "intermediate" in result["text"].splitlines()[0]
    with open(plot, "rb") as handle:
        assert handle.read(4) == b"\x89PNG"
    with pytest.raises(FileNotFoundError, match="No mask artifact"):
        report(os.path.join(str(tmp_path), "nothing.smpmask"))
