"""The method table (issue 18): each method is one record, and the job
builds exactly what its record says."""

from __future__ import annotations

import dataclasses

import pytest

from smp_keras.callbacks.sparsity_scheduler import ALLOCATIONS
from smp_keras.layers.masked_dense import PRUNING_METHODS
from smp_keras.pruning.config import METHODS, WEIGHT_TRAINING_METHODS
from smp_keras.pruning.methods import METHOD_TABLE, get_method


def test_every_method_has_a_consistent_record():
    assert METHODS == tuple(METHOD_TABLE)
    for name, method in METHOD_TABLE.items():
        assert method.name == name
        assert method.layer_method in PRUNING_METHODS, name
        assert method.allocation is None or method.allocation in ALLOCATIONS
        # Scores exist exactly for the score-based layer masks.
        assert method.scored == (method.layer_method != "magnitude"), name
        assert not method.threshold_ramp or "threshold" in method.layer_method
        # Fixed masks are Wanda's top-k masks; one shot means fixed masks.
        if method.fixed_masks:
            assert method.scored and method.layer_method == "topk", name
        assert method.fixed_masks or not method.one_shot, name
        assert method.summary, name
    assert set(WEIGHT_TRAINING_METHODS) == {
        n for n, m in METHOD_TABLE.items() if m.trains_weights
    }
    # SMP trains no weight: that is the method.
    assert not get_method("smp-s").trains_weights
    assert not get_method("smp-l").trains_weights
    with pytest.raises(ValueError, match="one_shot=True needs fixed_masks"):
        dataclasses.replace(get_method("wanda"), fixed_masks=False)
    assert get_method("fine-tune").dense


def test_unknown_methods_are_named():
    with pytest.raises(ValueError, match="method='prune-harder'"):
        get_method("prune-harder")


@pytest.mark.parametrize("name", sorted(METHOD_TABLE))
def test_the_job_builds_what_the_record_says(name, tiny_config):
    from smp_keras.model_utils import masked_layers
    from smp_keras.pruning.model import load_job_backbone

    settings = (
        {"regularization_weight": 10.0} if name == "soft-movement" else {}
    )
    config = tiny_config(method=name, **settings)
    method = config.method_spec
    backbone = load_job_backbone(config.model, config)
    layers = masked_layers(backbone)
    assert layers
    for layer in layers:
        assert layer.pruning_method == method.layer_method
        assert layer.kernel.trainable == method.trains_weights
        assert (layer.scores is not None) == method.scored
        if method.scored:  # frozen where they only hold fixed masks
            assert layer.scores.trainable == (not method.fixed_masks)
    assert config.final_density == (1.0 if method.dense else config.density)
