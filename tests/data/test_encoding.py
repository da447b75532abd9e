"""Tokenisation with the real all-MiniLM-L6-v2 tokenizer.

Oracles: the tokenizer's own padded/truncated output, tokenising the text
and the template as one string, and the tokenizer's offsets for spans.
"""

from __future__ import annotations

import numpy as np
import pytest

from smp_keras.data import (
    encode,
    encode_span,
    get_task,
    load_task_data,
    postprocess_spans,
)

SENTENCES = [
    "A gripping, beautifully shot film.",
    "Dull.",
    "The plot meanders for two hours and the jokes never land, "
    "though the lead actor does what he can with a thin script.",
]
TEMPLATE = "It was [MASK]."


def _oracle(tokenizer, *texts, max_length):
    enc = tokenizer(
        *texts,
        truncation=True,
        max_length=max_length,
        padding="max_length",
        return_token_type_ids=True,
    )
    return {
        "token_ids": np.array(enc["input_ids"]),
        "segment_ids": np.array(enc["token_type_ids"]),
        "padding_mask": np.array(enc["attention_mask"]),
    }


def _assert_matches(out, expected, rows=slice(None)):
    for key, value in expected.items():
        np.testing.assert_array_equal(out[key][rows], value[rows], err_msg=key)


def test_single_sentences_match_tokenizer(tokenizer):
    out = encode({"sentence": SENTENCES}, tokenizer, "sst2", max_length=16)
    _assert_matches(out, _oracle(tokenizer, SENTENCES, max_length=16))
    assert out["token_ids"].dtype == np.int32
    assert out["padding_mask"].dtype == np.int32
    np.testing.assert_array_equal(out["mask_positions"], 0)  # [CLS]
    assert "labels" not in out


def test_pairs_match_tokenizer(tokenizer):
    a = SENTENCES
    b = ["Good.", "A dull film that goes nowhere at all, slowly.", "Fine."]
    rows = [
        {"premise": x, "hypothesis": y, "label": 1}
        for x, y in zip(a, b, strict=True)
    ]
    out = encode(rows, tokenizer, "snli", max_length=20, batch_size=2)
    _assert_matches(out, _oracle(tokenizer, a, b, max_length=20))
    np.testing.assert_array_equal(out["labels"], [1, 1, 1])
    assert out["labels"].dtype == np.int32


def test_template_equals_tokenising_the_joined_text(tokenizer):
    spec = get_task("sst2", template=TEMPLATE)
    out = encode({"sentence": SENTENCES[:2]}, tokenizer, spec, max_length=24)
    joined = [f"{s} {TEMPLATE}" for s in SENTENCES[:2]]
    _assert_matches(out, _oracle(tokenizer, joined, max_length=24))
    for row, position in enumerate(out["mask_positions"]):
        assert out["token_ids"][row, position] == tokenizer.mask_token_id


def test_template_is_never_truncated(tokenizer):
    spec = get_task("sst2", template=TEMPLATE)
    template = tokenizer(TEMPLATE, add_special_tokens=False)["input_ids"]
    long_text = " ".join(["remarkably"] * 200)
    out = encode(
        {"sentence": [long_text, "ok"]}, tokenizer, spec, max_length=12
    )
    ids = out["token_ids"][0]
    assert out["padding_mask"][0].all()  # the text filled the row
    assert ids[0] == tokenizer.cls_token_id
    assert ids[-1] == tokenizer.sep_token_id
    assert ids[-1 - len(template) : -1].tolist() == template
    assert ids[out["mask_positions"][0]] == tokenizer.mask_token_id
    assert (ids == tokenizer.mask_token_id).sum() == 1
    text = tokenizer(long_text, add_special_tokens=False)["input_ids"]
    kept = ids[1 : -1 - len(template)].tolist()
    assert kept == text[: len(kept)] and len(kept) == 12 - 2 - len(template)


def test_pair_template_goes_after_the_second_segment(tokenizer):
    spec = get_task("rte", template="? [MASK]")
    rows = {
        "sentence1": ["A man sleeps.", " ".join(["very"] * 100)],
        "sentence2": ["Someone rests.", " ".join(["long"] * 100)],
    }
    out = encode(rows, tokenizer, spec, max_length=20)
    short = _oracle(
        tokenizer, ["A man sleeps."], ["Someone rests. ? [MASK]"], max_length=20
    )
    _assert_matches(out, short, rows=slice(0, 1))
    for row in range(2):
        position = out["mask_positions"][row]
        assert out["token_ids"][row, position] == tokenizer.mask_token_id
        assert out["segment_ids"][row, position] == 1
    assert out["padding_mask"][1].sum() == 20
    assert out["token_ids"][1, -1] == tokenizer.sep_token_id


def test_input_forms_agree_and_string_labels(tokenizer, cache_dir):
    ds = load_task_data("snli", split="validation", cache_dir=cache_dir)
    ds = ds.select(range(64))
    from_dataset = encode(ds, tokenizer, "snli", max_length=32, batch_size=10)
    rows = [dict(r) for r in ds]
    from_rows = encode(rows, tokenizer, "snli", max_length=32)
    for key in from_dataset:
        np.testing.assert_array_equal(from_dataset[key], from_rows[key])
    assert from_dataset["token_ids"].shape == (64, 32)
    names = ["entailment", "neutral", "contradiction"]
    named = [dict(r, label=names[r["label"]]) for r in rows]
    np.testing.assert_array_equal(
        encode(named, tokenizer, "snli", max_length=32)["labels"],
        from_dataset["labels"],
    )


def test_regression_labels_are_float(tokenizer):
    data = {"sentence1": ["a"], "sentence2": ["b"], "label": [3.5]}
    out = encode(data, tokenizer, "stsb", max_length=8)
    assert out["labels"].dtype == np.float32 and out["labels"][0] == 3.5


def test_encode_errors(tokenizer):
    spec = get_task("sst2", template=TEMPLATE)
    with pytest.raises(ValueError, match="leaves no room for text"):
        encode({"sentence": ["x"]}, tokenizer, spec, max_length=6)
    out = encode({"sentence": ["x y"]}, tokenizer, spec, max_length=7)
    assert out["padding_mask"].sum() == 7  # 4 template + 2 special + 1 text
    with pytest.raises(ValueError, match="use encode_span"):
        encode({"question": ["q"], "context": ["c"]}, tokenizer, "squad")
    with pytest.raises(ValueError, match="no column 'sentence'.*\\['text'\\]"):
        encode({"text": ["x"]}, tokenizer, "sst2")
    with pytest.raises(ValueError, match="must hold strings"):
        encode({"sentence": ["x", None]}, tokenizer, "sst2")
    with pytest.raises(TypeError, match="fast tokenizer"):
        encode({"sentence": ["x"]}, object(), "sst2")
    with pytest.raises(ValueError, match="`max_length` must be"):
        encode({"sentence": ["x"]}, tokenizer, "sst2", max_length=1)
    with pytest.raises(ValueError, match="invalid label"):
        encode({"sentence": ["x"], "label": [7]}, tokenizer, "sst2")


# === Spans ===

FILLER = "Nothing of note happened on that day in the quiet town. "


def _qa_examples():
    facts = [
        (
            "Who designed the engine?",
            "Ada Lovelace",
            "designed by Ada Lovelace",
        ),
        ("Where was it built?", "Manchester", "built in Manchester"),
        ("When did it open?", "in 1843", "opened in 1843"),
    ]
    examples = []
    for k, (question, answer, clause) in enumerate(facts):
        before, after = FILLER * (3 * k + 1), FILLER * (6 - 2 * k)
        context = f"{before}The engine was {clause}. {after}"
        start = context.index(answer)
        examples.append(
            {
                "question": question,
                "context": context,
                "answers": {"text": [answer], "answer_start": [start]},
            }
        )
    return examples


def test_encode_span_positions_follow_offsets(tokenizer):
    examples = _qa_examples()
    out = encode_span(
        examples, tokenizer, max_length=48, doc_stride=16, batch_size=2
    )
    n = len(out["example_index"])
    assert n > len(examples)  # long contexts give several windows
    assert sorted(set(out["example_index"].tolist())) == [0, 1, 2]
    assert np.all(np.diff(out["example_index"]) >= 0)
    found = set()
    for f in range(n):
        example = examples[out["example_index"][f]]
        answer = example["answers"]["text"][0]
        first = example["answers"]["answer_start"][0]
        offsets = out["offsets"][f]
        start, end = out["start_positions"][f], out["end_positions"][f]
        context = offsets[:, 0] >= 0
        inside = offsets[context, 0].min() <= first and offsets[
            context, 1
        ].max() >= first + len(answer)
        if not inside:
            assert start == end == 0
            continue
        found.add(int(out["example_index"][f]))
        assert 0 < start <= end
        text = example["context"][offsets[start, 0] : offsets[end, 1]]
        assert text == answer
        decoded = tokenizer.decode(out["token_ids"][f, start : end + 1])
        assert decoded == answer.lower()
    assert found == {0, 1, 2}


def test_postprocess_recovers_answers(tokenizer):
    examples = _qa_examples()
    out = encode_span(examples, tokenizer, max_length=48, doc_stride=16)
    n, length = out["token_ids"].shape
    rng = np.random.default_rng(0)
    start_logits = rng.normal(size=(n, length))
    end_logits = rng.normal(size=(n, length))
    has_answer = out["start_positions"] > 0
    rows = np.flatnonzero(has_answer)
    start_logits[rows, out["start_positions"][rows]] = 50.0
    end_logits[rows, out["end_positions"][rows]] = 50.0
    contexts = [e["context"] for e in examples]
    answers = postprocess_spans(start_logits, end_logits, out, contexts)
    assert answers == [e["answers"]["text"][0] for e in examples]


def test_postprocess_respects_span_rules(tokenizer):
    examples = _qa_examples()[:1]
    out = encode_span(examples, tokenizer, max_length=256, doc_stride=16)
    assert len(out["example_index"]) == 1
    start = np.zeros((1, 256))
    end = np.zeros((1, 256))
    start[0, 0] = end[0, 0] = 100.0  # [CLS] is never an answer
    context = np.flatnonzero(out["offsets"][0, :, 0] >= 0)
    start[0, context[10]] = 5.0
    end[0, context[5]] = 9.0  # end before start: invalid
    end[0, context[12]] = 4.0
    answer = postprocess_spans(start, end, out, [examples[0]["context"]])[0]
    offsets = out["offsets"][0]
    expected = examples[0]["context"][
        offsets[context[10], 0] : offsets[context[12], 1]
    ]
    assert answer == expected
    long = postprocess_spans(
        start, end, out, [examples[0]["context"]], max_answer_length=2
    )[0]
    assert long != expected


def test_encode_span_errors(tokenizer):
    with pytest.raises(ValueError, match="not a span task"):
        encode_span({"sentence": ["x"]}, tokenizer, "sst2")
    with pytest.raises(ValueError, match="`doc_stride` must be"):
        encode_span(_qa_examples(), tokenizer, max_length=32, doc_stride=32)
    out = encode_span(
        [{"question": "q?", "context": "c."}],
        tokenizer,
        max_length=16,
        doc_stride=4,
    )
    assert "start_positions" not in out
    with pytest.raises(ValueError, match="must have shape"):
        postprocess_spans(np.zeros((1, 3)), np.zeros((1, 3)), out, ["c."])
