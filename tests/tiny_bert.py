"""A tiny random BERT and small learnable data files, shared by the tests.

A plain module (not a conftest): test folders import it as
``from tiny_bert import ...`` because ``tests/`` is on `sys.path` (pytest
inserts the folder of the rootdir ``tests/conftest.py``).

The model is a random `BertForMaskedLM` (transformers, saved with
`save_pretrained`) with a `BertTokenizerFast` built from a small vocabulary;
the data follow simple word rules (a positive or negative word decides the
label), so they are learnable while nothing is hard-coded about the model.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

__all__ = [
    "VOCAB",
    "pair_rows",
    "qa_rows",
    "regression_rows",
    "save_tiny_bert",
    "single_rows",
    "write_csv",
    "write_jsonl",
]

POSITIVE = ["great", "good", "fine", "lovely", "superb"]
NEGATIVE = ["terrible", "bad", "awful", "boring", "dull"]
FILLER = ["the", "film", "movie", "was", "a", "plot", "it", "very", "and"]
NAMES = ["ada", "bob", "cy", "dee"]
PLACES = ["paris", "rome", "oslo", "lima"]
OTHER = [
    "yes",
    "no",
    "maybe",
    "start",
    "end",
    "who",
    "where",
    "lives",
    "in",
    "is",
    "what",
    "incorrect",
    "correct",
    ".",
    ",",
    "?",
]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB = SPECIALS + POSITIVE + NEGATIVE + FILLER + NAMES + PLACES + OTHER


# === The model ===


def save_tiny_bert(folder: str | Path, seed: int = 0) -> str:
    """Writes a tiny random BertForMaskedLM and its fast tokenizer.

    Two layers, hidden size 16, 2 heads, intermediate size 32, 64
    positions; weights drawn with `torch.manual_seed(seed)`.

    Returns:
        The folder, as a string.
    """
    import torch
    import transformers

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(VOCAB) + "\n")
    tokenizer = transformers.BertTokenizerFast(str(vocab), do_lower_case=True)
    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        initializer_range=0.3,
    )
    transformers.BertForMaskedLM(config).eval().save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return str(folder)


# === Data ===


def byte_level_bpe(texts: list[str], vocab_size: int) -> Any:
    """A RoBERTa tokenizer whose byte-level BPE is trained on `texts`
    (offline, with the `tokenizers` library)."""
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers
    from tokenizers.trainers import BpeTrainer

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(
        texts,
        BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    model = json.loads(bpe.to_str())["model"]
    merges = [
        tuple(m.split(" ")) if isinstance(m, str) else tuple(m)
        for m in model["merges"]
    ]
    return transformers.RobertaTokenizer(vocab=model["vocab"], merges=merges)


def save_tiny_roberta(folder: str | Path, seed: int = 0) -> str:
    """Writes a tiny random RobertaForMaskedLM and its byte-level BPE
    tokenizer (trained here, offline, on the sentences of the test data
    and the label words' prompts).

    Two layers, hidden size 16, 2 heads, intermediate size 32; weights
    drawn with `torch.manual_seed(seed)`.

    Returns:
        The folder, as a string.
    """
    import torch
    import transformers

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    texts = [_sentence(rng, i % 2) for i in range(200)]
    texts += [f"It was {w}." for w in ("great", "terrible", "good", "bad")]
    tokenizer = byte_level_bpe(texts, vocab_size=600)
    torch.manual_seed(seed)
    config = transformers.RobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=66,
        type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id,
        initializer_range=0.3,
    )
    transformers.RobertaForMaskedLM(config).eval().save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return str(folder)


def _sentence(rng: random.Random, sentiment: int) -> str:
    words = rng.sample(FILLER, 4)
    pool = POSITIVE if sentiment else NEGATIVE
    words.insert(rng.randrange(5), rng.choice(pool))
    return " ".join(words)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    """Writes `rows` as JSON lines; returns the path as a string."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def write_csv(path: Path, rows: list[dict[str, Any]]) -> str:
    """Writes `rows` as CSV (no quoting: values hold no comma)."""
    keys = list(rows[0])
    lines = [",".join(keys)]
    lines += [",".join(str(r[k]) for k in keys) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def single_rows(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """Sentiment rows `{"review", "stars"}`: 1 with a positive word."""
    rows = []
    for i in range(n):
        label = i % 2
        rows.append({"review": _sentence(rng, label), "stars": label})
    return rows


def pair_rows(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """NLI rows `{"premise", "hypothesis", "label"}` (label names)."""
    names = ["entailment", "neutral", "contradiction"]
    rows = []
    for i in range(n):
        label = i % 3
        first = _sentence(rng, 1)
        second = {0: first, 1: _sentence(rng, 1), 2: _sentence(rng, 0)}[label]
        rows.append(
            {"premise": first, "hypothesis": second, "label": names[label]}
        )
    return rows


def regression_rows(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """Similarity rows `{"sentence1", "sentence2", "label"}` in [0, 4.2]."""
    rows = []
    for i in range(n):
        same = i % 2
        a = _sentence(rng, 1)
        b = a if same else _sentence(rng, 0)
        rows.append(
            {
                "sentence1": a,
                "sentence2": b,
                "label": 4.0 * same + 0.1 * (i % 3),
            }
        )
    return rows


def qa_rows(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """SQuAD-style rows: the answer is the place the name lives in."""
    rows = []
    for i in range(n):
        name, place = rng.choice(NAMES), rng.choice(PLACES)
        context = f"{name} lives in {place} . the film was good ."
        rows.append(
            {
                "id": str(i),
                "question": f"where {name} lives ?",
                "context": context,
                "answers": {
                    "text": [place],
                    "answer_start": [context.index(place)],
                },
            }
        )
    return rows
