"""Label words with RoBERTa's byte-level BPE and XLM-R's SentencePiece.

Both mark a word start (``Ġ``, ``▁``): a label word read at a ``<mask>``
that follows a space must be the marked token, not the bare piece (which
also exists, for words at the start of a text or inside words). The tiny
tokenizers are built here, offline, with the ``tokenizers`` library.
"""

from __future__ import annotations

import numpy as np
import pytest
from bert_test_utils import torch, transformers
from keras import ops

import smpcore
from smp_keras.bert import (
    build_classifier,
    from_pretrained,
    tokenizer_from_pretrained,
)

tokenizers = pytest.importorskip("tokenizers")

import tiny_bert  # noqa: E402

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
TEXTS = [
    "the film was great",
    "great acting and a terrible plot",
    "a terrible film",
    "Great fun, great cast",
    "it was great . it was terrible .",
    "greatness",
] * 4


def byte_level_bpe() -> object:
    """A RoBERTa tokenizer whose BPE is trained on `TEXTS`."""
    return tiny_bert.byte_level_bpe(TEXTS, vocab_size=320)


def sentencepiece_unigram() -> object:
    """An XLM-R tokenizer over a hand-written SentencePiece vocabulary."""
    pieces = [(token, 0.0) for token in SPECIALS]
    pieces += [
        ("▁great", -2.0),
        ("great", -2.5),  # inside a word: "▁un" + "great"
        ("▁un", -2.0),
        ("▁terrible", -2.0),
        ("▁it", -2.0),
        ("▁was", -2.0),
        ("▁film", -2.0),
        ("▁", -3.0),
        (".", -3.0),
    ]
    pieces += [(c, -6.0) for c in "abcdefghijklmnopqrstuvwxyz"]
    return transformers.XLMRobertaTokenizer(vocab=pieces)


@pytest.fixture(scope="module")
def roberta_tokenizer():
    return byte_level_bpe()


def test_byte_level_bpe_label_words_are_word_start_tokens(roberta_tokenizer):
    vocab = roberta_tokenizer.get_vocab()
    assert "great" in vocab and "Ġgreat" in vocab  # both forms exist
    ids = smpcore.label_word_ids(roberta_tokenizer, ["great", "terrible"])
    assert roberta_tokenizer.convert_ids_to_tokens(ids) == [
        "Ġgreat",
        "Ġterrible",
    ]
    # The id the tokenizer gives the word in a prompt after a space.
    prompt = roberta_tokenizer("it was great")["input_ids"]
    assert ids[0] in prompt
    assert vocab["great"] not in prompt


def test_sentencepiece_label_words_are_word_start_tokens():
    tokenizer = sentencepiece_unigram()
    assert tokenizer.tokenize("ungreat") == ["▁un", "great"]
    ids = smpcore.label_word_ids(tokenizer, ["great", "terrible"])
    assert tokenizer.convert_ids_to_tokens(ids) == ["▁great", "▁terrible"]
    assert ids[0] in tokenizer("it was great")["input_ids"]


def test_vocabulary_mappings_need_the_marked_form(roberta_tokenizer):
    """A bare vocabulary cannot know where the word stands: the marked
    form must be passed (smpcore.label_word_ids documents this)."""
    vocab = roberta_tokenizer.get_vocab()
    ids = smpcore.label_word_ids(vocab, ["Ġgreat", "Ġterrible"])
    assert ids == [vocab["Ġgreat"], vocab["Ġterrible"]]
    with pytest.raises(ValueError, match="'terrible'"):
        smpcore.label_word_ids(vocab, ["great", "terrible"])


def test_roberta_classifier_reads_the_mask_logits(roberta_tokenizer, tmp_path):
    """End to end: a RoBERTa folder with its BPE tokenizer; the classifier's
    logits are transformers' MLM logits of the label words at <mask>."""
    tokenizer = roberta_tokenizer
    torch.manual_seed(0)
    config = transformers.RobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=24,
        max_position_embeddings=40,
        type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id,
        initializer_range=0.3,
    )
    model = transformers.RobertaForMaskedLM(config).eval()
    model.save_pretrained(str(tmp_path))
    tokenizer.save_pretrained(str(tmp_path))
    loaded_tokenizer = tokenizer_from_pretrained(tmp_path)
    ids = smpcore.label_word_ids(loaded_tokenizer, ["great", "terrible"])
    assert loaded_tokenizer.convert_ids_to_tokens(ids) == [
        "Ġgreat",
        "Ġterrible",
    ]
    backbone = from_pretrained(tmp_path)
    classifier = build_classifier(backbone, ids, head="mlm")
    encoded = loaded_tokenizer(
        ["the film was great . it was <mask> .", "a terrible <mask> film"],
        padding="max_length",
        max_length=16,
        return_tensors="np",
    )
    token_ids = encoded["input_ids"].astype("int32")
    mask = encoded["attention_mask"].astype("int32")
    positions = np.argmax(token_ids == loaded_tokenizer.mask_token_id, axis=1)
    logits = ops.convert_to_numpy(
        classifier(
            {
                "token_ids": token_ids,
                "segment_ids": np.zeros_like(token_ids),
                "padding_mask": mask,
                "mask_positions": positions.astype("int32"),
            }
        )
    )
    with torch.no_grad():
        expected = model(
            input_ids=torch.tensor(token_ids, dtype=torch.long),
            attention_mask=torch.tensor(mask),
        ).logits.numpy()
    expected = expected[np.arange(2), positions][:, ids]
    np.testing.assert_allclose(logits, expected, atol=1e-5)
