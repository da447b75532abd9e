"""Exact compaction: dead neurons and heads removed, the same outputs."""

from __future__ import annotations

import os
import shutil

import keras
import numpy as np
import pytest
from keras import ops

from smp_keras.bert import (
    BertBackbone,
    compact,
    compaction_plan,
    find_backbone,
    save_compact_keras,
)

SIZES = dict(
    vocabulary_size=40,
    num_layers=3,
    num_heads=4,
    hidden_dim=16,
    intermediate_dim=24,
    max_sequence_length=12,
    initializer_range=0.5,
)


def _backbone(activation="gelu", seed=0):
    """A small backbone with sizeable weights and non-zero biases."""
    keras.utils.set_random_seed(seed)
    backbone = BertBackbone(activation=activation, **SIZES)
    rng = np.random.default_rng(seed)
    for layer in backbone.masked_layers():
        layer.bias.assign(rng.normal(size=layer.bias.shape) * 0.5)
    return backbone


def _kill(backbone, seed=0):
    """Random masks (60% kept) plus dead structure of every kind.

    Layer 0: neuron 1 input-dead (non-zero bias), neurons 2, 5, 7
    output-dead (5 input-dead too), head 1 value-dead (non-zero value
    bias), head 3 output-dead, head 2 key-dead (uniform attention: kept).
    Layer 1: heads 0, 1 value-dead, 2 output-dead, 3 query-dead (kept);
    every neuron input-dead (a zero-width feed-forward). Layer 2: every
    head value-dead (no attention left), every neuron kept.
    """
    rng = np.random.default_rng(seed)
    masks = {}
    for i, block in enumerate(backbone.transformer_layers):
        for layer in block.masked_layers():
            masks[i, layer.name] = rng.random(layer.kernel.shape) < 0.6
    masks[0, "intermediate"][:, [1, 5]] = False
    masks[0, "output"][[2, 5, 7], :] = False
    masks[0, "value"][:, 4:8] = False
    masks[0, "attention_output"][12:16, :] = False
    masks[0, "key"][:, 8:12] = False
    masks[1, "value"][:, 0:8] = False
    masks[1, "attention_output"][8:12, :] = False
    masks[1, "query"][:, 12:16] = False
    masks[1, "intermediate"][:] = False
    masks[2, "value"][:] = False
    for (i, name), mask in masks.items():
        block = backbone.transformer_layers[i]
        getattr(block, f"{name}_dense").set_mask(mask)


def _batch(seed=1, batch=4, length=9):
    """Random tokens; rows unpadded, padded, mostly padded, all padding."""
    rng = np.random.default_rng(seed)
    padding = np.ones((batch, length), "int32")
    padding[1, length - 3 :] = 0
    padding[2, 2:] = 0
    padding[3, :] = 0
    return {
        "token_ids": rng.integers(0, 40, (batch, length)).astype("int32"),
        "segment_ids": rng.integers(0, 2, (batch, length)).astype("int32"),
        "padding_mask": padding,
    }


def _task_batch(model, tokenizer):
    """Two padded sentences as the inputs of task model `model`."""
    enc = tokenizer(["the film was great .", "a dull plot"], padding=True)
    x = {
        "token_ids": np.asarray(enc["input_ids"], "int32"),
        "segment_ids": np.asarray(enc["token_type_ids"], "int32"),
        "padding_mask": np.asarray(enc["attention_mask"], "int32"),
    }
    if any(t.name.startswith("mask_positions") for t in model.inputs):
        x["mask_positions"] = np.array([2, 1], "int32")
    return x


def _numpy(tree):
    return {k: ops.convert_to_numpy(v) for k, v in tree.items()}


def _assert_same(got, expected):
    """Equal within 1e-5 of each output's scale.

    The compacted model computes attention with the backend's fused kernel
    and the backbone with its own softmax: float32 rounding, amplified by
    the test's sizeable weights (outputs up to about 4), differs by up to
    about 4e-6 of the scale, more than 1e-5 absolute on an element near 0.
    """
    assert set(got) == set(expected)
    for key, value in expected.items():
        scale = max(1.0, float(np.abs(value).max()))
        np.testing.assert_allclose(
            got[key], value, atol=1e-5 * scale, rtol=1e-5
        )


@pytest.mark.parametrize("activation", ["gelu", "gelu_approximate", "relu"])
def test_compacted_model_computes_the_masked_outputs(activation):
    backbone = _backbone(activation)
    _kill(backbone)
    small, report = compact(backbone)
    for seed in (1, 2):
        batch = _batch(seed)
        _assert_same(_numpy(small(batch)), _numpy(backbone(batch)))
    assert report.layers == compaction_plan(backbone).layers


def test_dead_structure_is_removed_and_nothing_else():
    backbone = _backbone()
    _kill(backbone)
    small, report = compact(backbone)
    first, second, third = report.layers
    assert first.kept_heads == (0, 2)  # head 2 (key-dead) stays
    assert first.value_dead_heads == (1,)
    assert first.output_dead_heads == (3,)
    assert first.input_dead_neurons == (1,)
    assert first.output_dead_neurons == (2, 5, 7)
    assert first.kept_neurons == tuple(
        j for j in range(24) if j not in (1, 2, 5, 7)
    )
    assert second.kept_heads == (3,)  # query-dead: kept
    assert second.kept_neurons == ()
    assert len(second.input_dead_neurons) == 24
    assert third.kept_heads == ()
    assert third.value_dead_heads == (0, 1, 2, 3)
    assert len(third.kept_neurons) == 24
    assert (report.heads_removed, report.neurons_removed) == (9, 28)
    # The kernels shrink accordingly (4-wide heads, 16 hidden).
    shapes = {w.path: tuple(w.shape) for w in small.weights}
    assert shapes["query_0/kernel"] == (16, 2, 4)
    assert shapes["attention_output_1/kernel"] == (1, 4, 16)
    assert shapes["intermediate_0/kernel"] == (16, 20)
    assert shapes["output_0/kernel"] == (20, 16)
    assert "intermediate_1/kernel" not in shapes
    assert "query_2/kernel" not in shapes
    assert report.parameters_after == small.count_params()
    assert report.parameters_after < report.parameters_before


def test_masks_that_kill_nothing_keep_every_size():
    backbone = _backbone()
    rng = np.random.default_rng(3)
    for layer in backbone.masked_layers():  # sparse, but nothing dies
        layer.set_mask(rng.random(layer.kernel.shape) < 0.8)
    small, report = compact(backbone)
    assert (report.heads_removed, report.neurons_removed) == (0, 0)
    assert report.parameters_before == report.parameters_after
    for layer in report.layers:
        assert layer.kept_heads == (0, 1, 2, 3)
        assert layer.kept_neurons == tuple(range(24))
        assert layer.parameters_before == layer.parameters_after
    _assert_same(_numpy(small(_batch())), _numpy(backbone(_batch())))


def test_parameter_counts_add_up():
    backbone = _backbone()
    full, _ = compact(backbone)  # dense masks: the uncompacted rebuild
    _kill(backbone)
    small, report = compact(backbone)
    outside = full.count_params() - sum(
        x.parameters_before for x in report.layers
    )
    assert small.count_params() - outside == sum(
        x.parameters_after for x in report.layers
    )
    assert report.parameters_before == full.count_params()


def test_report_dict_and_table():
    backbone = _backbone()
    _kill(backbone)
    report = compaction_plan(backbone)
    data = report.to_dict()
    assert data["heads_removed"] == 9
    assert data["layers"][0]["kept_heads"] == [0, 2]
    table = report.table()
    assert table == str(report)
    lines = table.splitlines()
    assert lines[0].split() == [
        "layer",
        "heads",
        "kept",
        "neurons",
        "kept",
        "params",
        "before",
        "after",
    ]
    assert lines[2].split()[:3] == ["0", "2/4", "20/24"]
    assert lines[-1].split()[:3] == ["model", "3/12", "44/72"]


def test_compact_keras_file_round_trips(tmp_path):
    backbone = _backbone()
    _kill(backbone)
    path = str(tmp_path / "small.keras")
    report = save_compact_keras(backbone, path)
    assert report.heads_removed == 9
    loaded = keras.saving.load_model(path)
    modules = {type(layer).__module__ for layer in loaded._flatten_layers()}
    assert all(m.startswith("keras.") for m in modules), modules
    batch = _batch()
    _assert_same(_numpy(loaded(batch)), _numpy(backbone(batch)))
    with pytest.raises(ValueError, match="keras_path"):
        save_compact_keras(backbone, str(tmp_path / "small.h5"))
    assert sorted(os.listdir(tmp_path)) == ["small.keras"]


# === Sparse kernels ===


def test_sparse_compaction_computes_the_masked_outputs(tmp_path):
    from smp_keras.layers import SparseDense

    backbone = _backbone()
    _kill(backbone)
    small, report = compact(backbone, sparse=1.0)  # every matrix sparse
    sparse = [layer for layer in small.layers if isinstance(layer, SparseDense)]
    assert {x.name for x in sparse} == {n for n, _ in report.sparse_matrices}
    # Layer 0: 6 matrices; layer 1: 4 attention ones (no neuron left);
    # layer 2: the feed-forward pair (no head left).
    assert len(sparse) == 12
    densities = {x.name: x.density for x in sparse}
    assert max(densities.values()) < 0.7  # the 60% masks
    assert densities["query_1"] == 0.0  # its one head is query-dead
    assert densities["key_0"] == pytest.approx(0.6 / 2, abs=0.1)
    for seed in (1, 2):
        batch = _batch(seed)
        _assert_same(_numpy(small(batch)), _numpy(backbone(batch)))
    dense, dense_report = compact(backbone)
    assert report.parameters_after == dense_report.parameters_after
    assert dense_report.sparse_matrices == ()
    assert "sparse kernels: 12 matrices" in report.table()
    assert "sparse kernels" not in dense_report.table()
    assert report.to_dict()["sparse_matrices"][0][0] == "query_0"
    path = str(tmp_path / "sparse.keras")
    assert save_compact_keras(backbone, path, sparse=1.0) == report
    loaded = keras.saving.load_model(path)
    _assert_same(_numpy(loaded(_batch())), _numpy(backbone(_batch())))


def test_sparse_follows_the_backend_crossover():
    from smp_keras.layers import SPARSE_MAX_DENSITY

    backbone = _backbone()
    _kill(backbone)  # 60% kept: above every backend's crossover
    _, report = compact(backbone, sparse=True)
    # Only the all-zero query kernel of layer 1 (nothing to multiply).
    assert report.sparse_matrices == (("query_1", 0.0),)
    crossover = SPARSE_MAX_DENSITY[keras.backend.backend()]
    rng = np.random.default_rng(4)
    # Around the crossover (5% kept at least where the crossover is 0, so
    # that no matrix is all zero by chance there).
    floor = crossover / 2 if crossover else 0.05
    for layer in backbone.masked_layers():
        density = rng.choice([crossover / 2, 2 * crossover, 0.5])
        layer.set_mask(rng.random(layer.kernel.shape) < max(density, floor))
    dense, _ = compact(backbone)
    expected = {
        layer.name
        for layer in dense.layers
        if layer.name.split("_")[0]
        in ("query", "key", "value", "attention", "intermediate", "output")
        and not layer.name.startswith(("attention_norm", "output_norm"))
        and layer.kernel is not None
        and np.count_nonzero(ops.convert_to_numpy(layer.kernel))
        <= crossover * np.prod(layer.kernel.shape)
    }
    small, report = compact(backbone, sparse=True)
    assert {name for name, _ in report.sparse_matrices} == expected
    assert all(d <= crossover for _, d in report.sparse_matrices)
    _assert_same(_numpy(small(_batch())), _numpy(backbone(_batch())))


@pytest.mark.parametrize("sparse", [1.5, -0.1, "yes", None])
def test_bad_sparse_is_named(sparse, tmp_path):
    backbone = _backbone()
    with pytest.raises(ValueError, match="sparse"):
        compact(backbone, sparse=sparse)
    with pytest.raises(ValueError, match="sparse"):
        save_compact_keras(backbone, str(tmp_path / "x.keras"), sparse=sparse)
    assert os.listdir(tmp_path) == []


def test_a_task_model_keeps_its_head(tiny_model):
    from smp_keras.api import load_pruned_model

    model, _, tokenizer, _ = load_pruned_model(tiny_model, None, "sst2")
    rng = np.random.default_rng(0)
    for layer in find_backbone(model).masked_layers():
        mask = rng.random(layer.kernel.shape) < 0.5
        if layer.matrix_type == "intermediate":
            mask[:, :5] = False
        if layer.matrix_type == "value":
            mask[:, :8] = False  # head 0 of 2
        layer.set_mask(mask)
    small, report = compact(model)
    assert report.neurons_removed >= 10
    assert report.heads_removed == 2
    x = _task_batch(model, tokenizer)
    np.testing.assert_allclose(
        ops.convert_to_numpy(small(x, training=False)),
        ops.convert_to_numpy(model(x, training=False)),
        atol=1e-5,
    )


# === `smp export --compact` on a run directory ===


def _assert_run_output(path, run):
    """The `.keras` file at `path` computes what the run's pruned model
    does on a task batch; returns the loaded model."""
    from smp_keras.api import load_pruned_model

    loaded = keras.saving.load_model(path)
    model, _, tokenizer, _ = load_pruned_model(run.run_dir)
    x = _task_batch(model, tokenizer)
    np.testing.assert_allclose(
        ops.convert_to_numpy(loaded(x, training=False)),
        ops.convert_to_numpy(model(x, training=False)),
        atol=1e-5,
    )
    return loaded


def test_export_compact_writes_the_compact_keras(
    finished_run, tmp_path, capsys
):
    from smp_keras.api import export
    from smp_keras.cli.main import main

    path = str(tmp_path / "small.keras")
    written = export(finished_run.run_dir, keras_path=path, compact=True)
    assert written["keras"] == path
    assert written["compaction"].splitlines()[-1].startswith("model")
    _assert_run_output(path, finished_run)
    with pytest.raises(ValueError, match="compact"):
        export(finished_run.run_dir, compact=True, masks_output=path)
    with pytest.raises(ValueError, match="hf_folder"):
        export(
            finished_run.run_dir,
            keras_path=path,
            hf_folder=str(tmp_path / "hf"),
            compact=True,
        )
    assert not (tmp_path / "hf").exists()
    out = str(tmp_path / "cli.keras")
    code = main(["export", finished_run.run_dir, "--keras", out, "--compact"])
    assert code == 0
    printed = capsys.readouterr().out
    assert f"keras: {out}" in printed and "heads kept" in printed
    assert os.path.isfile(out)


def test_export_sparse_writes_sparse_kernels(finished_run, tmp_path, capsys):
    from smp_keras.api import export
    from smp_keras.cli.main import main
    from smp_keras.layers import SparseDense

    path = str(tmp_path / "sparse.keras")
    written = export(finished_run.run_dir, keras_path=path, sparse=1.0)
    assert "sparse kernels" in written["compaction"]
    loaded = _assert_run_output(path, finished_run)
    assert any(isinstance(x, SparseDense) for x in loaded.layers)
    for bad in (dict(sparse=2.0), dict(sparse=True, hf_folder="hf")):
        with pytest.raises(ValueError, match="sparse|hf_folder"):
            export(
                finished_run.run_dir,
                keras_path=str(tmp_path / "bad.keras"),
                **bad,
            )
    assert sorted(os.listdir(tmp_path)) == ["sparse.keras"]
    out = str(tmp_path / "cli.keras")
    # A backend without a sparse kernel is named before anything is read.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keras.backend, "backend", lambda: "openvino")
        with pytest.raises(ValueError, match="openvino"):
            export(finished_run.run_dir, keras_path=out, sparse=True)
    assert sorted(os.listdir(tmp_path)) == ["sparse.keras"]
    code = main(["export", finished_run.run_dir, "--keras", out, "--sparse"])
    assert code == 0
    assert f"keras: {out}" in capsys.readouterr().out
    assert os.path.isfile(out)


def test_every_export_scores_the_runs_test_metrics(finished_run, tmp_path):
    """The check `benchmarks/bench_serving.py` makes on real runs: each
    exported file, scored on the run's final split, equals its
    ``metrics.json``."""
    import importlib.util
    import pathlib

    from smp_keras.api import export

    path = pathlib.Path(__file__).parents[2] / "benchmarks/bench_serving.py"
    spec = importlib.util.spec_from_file_location("bench_serving", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    paths = {}
    for name, kwargs in (
        ("dense", {}),
        ("compact", {"compact": True}),
        ("sparse", {"sparse": 1.0}),
    ):
        paths[name] = str(tmp_path / f"{name}.keras")
        export(finished_run.run_dir, keras_path=paths[name], **kwargs)
    check = bench.accuracy_check(finished_run.run_dir, paths)
    assert check["equal"], check
    assert check["examples"] > 0


def test_export_compact_of_a_run_without_masks(finished_run, tmp_path, capsys):
    from smp_keras.cli.main import main

    run = tmp_path / "unfinished"
    shutil.copytree(finished_run.run_dir, run)
    os.remove(run / "masks.smpmask")
    out = tmp_path / "small.keras"
    out.write_bytes(b"an older export")
    code = main(["export", str(run), "--keras", str(out), "--compact"])
    assert code == 1
    err = capsys.readouterr().err
    assert "masks.smpmask" in err and str(run) in err
    assert out.read_bytes() == b"an older export"
    assert sorted(os.listdir(tmp_path)) == ["small.keras", "unfinished"]
