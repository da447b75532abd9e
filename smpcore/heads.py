"""Label-word heads: a classifier read off the pre-trained MLM head.

SMP trains no task head (Jiang et al., ACL 2023, arXiv:2210.06210,
section 3.1): the classifier is the pre-trained masked-language-model head,
restricted to the vocabulary rows of one label word per class (e.g. SST-2:
``terrible`` / ``great``). This module finds the label-word ids and slices
the decoder into a ``(hidden, num_labels)`` kernel and a bias.

Tokenizers are duck-typed; nothing here imports ``transformers``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from smpcore.validation import as_array, check_int

__all__ = [
    "embedding_label_head",
    "label_word_ids",
    "mlm_label_head",
]


def _checked_words(words: Any) -> list[str]:
    """Checks a non-empty sequence of non-empty strings."""
    if isinstance(words, str | bytes) or not isinstance(words, Sequence):
        raise TypeError(
            "`words` must be a sequence of str (e.g. a list). "
            f"Received: words={words!r}"
        )
    if not words:
        raise ValueError("`words` must hold at least one word. Received: []")
    for word in words:
        if not isinstance(word, str) or not word.strip():
            raise ValueError(
                f"`words` must hold non-empty strings. Received: {word!r}"
            )
    return list(words)


def _vocab_id(vocab: Mapping[str, int], word: str) -> int:
    """Looks `word` up in a vocabulary, then its lower-cased form."""
    for form in dict.fromkeys((word, word.lower())):
        if form in vocab:
            return check_int(vocab[form], f"vocab[{form!r}]")
    raise ValueError(
        f"Label word {word!r} of `words` is not a single token of the "
        f"vocabulary (tried {word!r} and {word.lower()!r}). Choose a word "
        "that is in the vocabulary."
    )


def _pieces(tokenizer: Any, text: str) -> tuple[list[str], list[int]]:
    """Tokenises `text` without special tokens: (pieces, ids)."""
    if hasattr(tokenizer, "tokenize") and hasattr(
        tokenizer, "convert_tokens_to_ids"
    ):
        pieces = list(tokenizer.tokenize(text))
        return pieces, [int(i) for i in tokenizer.convert_tokens_to_ids(pieces)]
    if hasattr(tokenizer, "encode") and not callable(tokenizer):
        encoding = tokenizer.encode(text, add_special_tokens=False)
        if hasattr(encoding, "ids"):  # a `tokenizers.Tokenizer`
            # Its tokenizer.json may enable padding: drop the pad positions.
            keep = getattr(encoding, "attention_mask", None) or [1] * len(
                encoding.ids
            )
            pairs = zip(encoding.tokens, encoding.ids, keep, strict=True)
            kept = [(t, int(i)) for t, i, k in pairs if k]
            return [t for t, _ in kept], [i for _, i in kept]
    if callable(tokenizer):
        output = tokenizer(text, add_special_tokens=False)
        ids = [int(i) for i in output["input_ids"]]
        return [str(i) for i in ids], ids
    raise TypeError(
        "`tokenizer_or_vocab` must be a vocabulary mapping, or a tokenizer "
        "with `tokenize` and `convert_tokens_to_ids`, an `encode` method "
        "(tokenizers.Tokenizer) or `__call__` returning `input_ids`. "
        f"Received: {type(tokenizer).__name__}"
    )


def _unknown_id(tokenizer: Any) -> int | None:
    """The id of the unknown token, or None if the tokenizer has none."""
    unk = getattr(tokenizer, "unk_token_id", None)
    if unk is None and hasattr(tokenizer, "token_to_id"):
        token = getattr(getattr(tokenizer, "model", None), "unk_token", None)
        unk = tokenizer.token_to_id(token) if token else None
    return None if unk is None else int(unk)


def _tokenizer_id(tokenizer: Any, word: str) -> int:
    """The id of `word` as a single token, mid-sentence form first."""
    unk = _unknown_id(tokenizer)
    tried = []
    for text in (" " + word, word):
        pieces, ids = _pieces(tokenizer, text)
        if len(ids) == 1 and ids[0] != unk:
            return ids[0]
        tried.append(f"{text!r} -> {pieces}")
    raise ValueError(
        f"Label word {word!r} of `words` must be exactly one known token. "
        f"Received pieces: {'; '.join(tried)}. Choose a word that is one "
        "token."
    )


def label_word_ids(tokenizer_or_vocab: Any, words: Sequence[str]) -> list[int]:
    """Vocabulary ids of label words, each required to be one token.

    With a **vocabulary mapping** (``token -> id``), the word itself is looked
    up, then its lower-cased form (for uncased vocabularies such as BERT's).
    Vocabularies with a word-start marker (RoBERTa's ``Ġ``, SentencePiece's
    ``▁``) need the marked form passed, e.g. ``"Ġgreat"``.

    With a **tokenizer** (anything with ``tokenize`` and
    ``convert_tokens_to_ids``, a ``tokenizers.Tokenizer`` with ``encode``, or
    a callable returning ``{"input_ids": ...}``), the word is tokenised as it
    appears mid-sentence, i.e. after a space: BERT's WordPiece ignores the
    space, byte-level BPE (RoBERTa, GPT-2) then yields the ``Ġword`` token.
    If that is not a single token, the bare word is tried. A word that maps
    to the tokenizer's ``unk_token_id`` is rejected.

    Args:
        tokenizer_or_vocab: A ``Mapping[str, int]`` or a tokenizer.
        words: One label word per class, in class order.

    Returns:
        A list of distinct ints, one per word.

    Raises:
        TypeError: If `words` is not a sequence of str or the tokenizer has
            none of the supported methods.
        ValueError: If a word is not exactly one known token (the message
            names the word and its pieces) or two words share an id.

    Example:
        >>> label_word_ids({"[UNK]": 0, "no": 1, "yes": 2}, ["Yes", "No"])
        [2, 1]
    """
    words = _checked_words(words)
    if isinstance(tokenizer_or_vocab, str | bytes):  # has `encode`, but no
        raise TypeError(
            "`tokenizer_or_vocab` must be a vocabulary mapping or a "
            "tokenizer, not a string (load the tokenizer first). Received: "
            f"{tokenizer_or_vocab!r}"
        )
    if isinstance(tokenizer_or_vocab, Mapping):
        ids = [_vocab_id(tokenizer_or_vocab, word) for word in words]
    else:
        ids = [_tokenizer_id(tokenizer_or_vocab, word) for word in words]
    if len(set(ids)) != len(ids):
        pairs = ", ".join(
            f"{w!r}: {i}" for w, i in zip(words, ids, strict=True)
        )
        raise ValueError(
            f"`words` must map to distinct token ids. Received: {{{pairs}}}"
        )
    return ids


def _checked_ids(label_ids: Any, vocab_size: int) -> np.ndarray:
    """Checks label ids: a non-empty sequence of ints in ``[0, vocab)``."""
    ids = as_array(label_ids, "label_ids")
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(
            "`label_ids` must be a 1-D sequence of ints. "
            f"Received: label_ids={label_ids!r}"
        )
    if ids.size == 0 or ids.min() < 0 or ids.max() >= vocab_size:
        raise ValueError(
            f"`label_ids` must be non-empty with values in [0, {vocab_size}). "
            f"Received: label_ids={ids.tolist()!r}"
        )
    return ids


def _checked_matrix(value: Any, name: str) -> np.ndarray:
    """Checks a 2-D float matrix."""
    matrix = as_array(value, name)
    if not np.issubdtype(matrix.dtype, np.floating):
        raise TypeError(
            f"`{name}` must have a floating dtype. Received: dtype="
            f"{matrix.dtype}"
        )
    if matrix.ndim != 2:
        raise ValueError(
            f"`{name}` must be a 2-D array (vocab, hidden). Received: {name} "
            f"with shape={matrix.shape}"
        )
    return matrix


def mlm_label_head(
    decoder_kernel: Any, decoder_bias: Any, label_ids: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Slices the MLM decoder to the label words.

    The MLM decoder computes ``logits = h @ E.T + b`` with ``E`` the
    ``(vocab, hidden)`` decoder weight (tied to the word embeddings in BERT)
    and ``b`` its ``(vocab,)`` bias. Restricted to the label words this is a
    dense layer with kernel ``E[ids].T`` and bias ``b[ids]``. Apply it after
    the MLM transform (dense + GELU + LayerNorm), which stays as it is.

    Args:
        decoder_kernel: ``(vocab, hidden)`` float array.
        decoder_bias: ``(vocab,)`` float array.
        label_ids: Vocabulary ids, one per class (see :func:`label_word_ids`).

    Returns:
        ``(kernel, bias)``: new arrays of shape ``(hidden, num_labels)`` and
        ``(num_labels,)``, in the dtypes of the inputs.

    Raises:
        TypeError: If `label_ids` is not a 1-D sequence of ints or
            `decoder_kernel` or `decoder_bias` is not a float array.
        ValueError: If the shapes do not match or an id is out of range.

    Example:
        >>> e = np.arange(12.0).reshape(4, 3)  # vocab 4, hidden 3
        >>> kernel, bias = mlm_label_head(e, np.arange(4.0), [3, 1])
        >>> kernel.tolist(), bias.tolist()
        ([[9.0, 3.0], [10.0, 4.0], [11.0, 5.0]], [3.0, 1.0])
    """
    kernel = _checked_matrix(decoder_kernel, "decoder_kernel")
    bias = as_array(decoder_bias, "decoder_bias")
    if not np.issubdtype(bias.dtype, np.floating):
        raise TypeError(
            "`decoder_bias` must have a floating dtype. Received: dtype="
            f"{bias.dtype}"
        )
    if bias.shape != kernel.shape[:1]:
        raise ValueError(
            "`decoder_bias` must have shape (vocab,) = "
            f"{kernel.shape[:1]}. Received: shape={bias.shape}"
        )
    ids = _checked_ids(label_ids, kernel.shape[0])
    return np.ascontiguousarray(kernel[ids].T), bias[ids].copy()


def embedding_label_head(
    word_embeddings: Any, label_ids: Sequence[int], *, warn: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """A label head from word-embedding rows, for checkpoints without MLM head.

    The kernel is ``E[ids].T`` and the bias is zero. Without the pre-trained
    MLM transform and output bias, this head carries little zero-shot signal:
    the pruning has to find all of it.

    Args:
        word_embeddings: ``(vocab, hidden)`` float array.
        label_ids: Vocabulary ids, one per class.
        warn: Whether to emit the `UserWarning` described below.

    Returns:
        ``(kernel, bias)``: new arrays of shape ``(hidden, num_labels)`` and
        ``(num_labels,)`` (zeros), in the dtype of `word_embeddings`.

    Raises:
        TypeError: If `label_ids` is not a 1-D sequence of ints or
            `word_embeddings` is not a float array.
        ValueError: If `word_embeddings` is not 2-D or an id is out of range.

    Warns:
        UserWarning: Unless ``warn=False``: the head has no pre-trained MLM
        transform and little zero-shot signal.

    Example:
        >>> e = np.arange(12.0).reshape(4, 3)
        >>> kernel, bias = embedding_label_head(e, [3, 1], warn=False)
        >>> kernel.shape, bias.tolist()
        ((3, 2), [0.0, 0.0])
    """
    embeddings = _checked_matrix(word_embeddings, "word_embeddings")
    ids = _checked_ids(label_ids, embeddings.shape[0])
    if warn:
        warnings.warn(
            "Building the label head from word-embedding rows: this checkpoint "
            "has no pre-trained MLM head, so the head carries no MLM transform "
            "or output bias and little zero-shot signal.",
            UserWarning,
            stacklevel=2,
        )
    kernel = np.ascontiguousarray(embeddings[ids].T)
    return kernel, np.zeros(ids.size, dtype=embeddings.dtype)
