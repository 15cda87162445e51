"""The span extractor: the shipped fine-tuned network finds answers inside sentences."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from qa_eval.squad import load_questions, read_squad, split_titles
from qa_eval.tuning import extractor_card, extractor_label, unseen_titles

from qa.embedding.onnx import QUANTISED
from qa.errors import ConfigError
from qa.metrics import f1_score, normalize_answer
from qa.reader import BundledExtractor, Extractor, Reader
from qa.reader.decoding import best_span
from qa.reader.decoding import whole_words as _whole_words
from qa.reader.extractor import WEIGHTS_DIR
from qa.reader.spans import repeated_share
from qa.settings import ReaderSettings, Settings

SQUAD = Path(__file__).resolve().parents[1] / "eval" / "data" / "squad-dev-v1.1-half.json"
SEED_SENTENCE = "Russia badly needed the cash; Iran badly needed the expertise: It was the perfect match."


@pytest.fixture(scope="module")
def extractor() -> Extractor:
    e = BundledExtractor()
    e.warm_up()
    return e


def test_card_describes_the_folds_and_a_model_trained_on_all_of_them() -> None:
    """The shipped model trained on every dev article; its card carries the recipe's two folds
    (no article on both sides of either) and their held-out figures, pooled over every question."""
    card = extractor_card()
    titles = {a["title"] for a in read_squad(SQUAD)["data"]}
    assert card["half"] == "all" and set(card["train_titles"]) == titles and not card["held_out_titles"]
    assert card["dataset_sha256"] == hashlib.sha256(SQUAD.read_bytes()).hexdigest()
    folds = {f["half"]: f for f in card["folds"]}
    assert set(folds) == {0, 1}
    for half, fold in folds.items():
        assert (fold["train_titles"], fold["held_out_titles"]) == split_titles(read_squad(SQUAD)["data"], half)
    assert set(folds[0]["held_out_titles"]) | set(folds[1]["held_out_titles"]) == titles
    pooled = card["out_of_fold"]
    assert pooled["questions"] == sum(f["held_out_questions"] for f in folds.values()) == card["train_questions"]
    assert min(f["held_out"]["span_f1"] for f in folds.values()) <= pooled["span_f1"] <= max(
        f["held_out"]["span_f1"] for f in folds.values())
    assert (WEIGHTS_DIR / "weights.safetensors").stat().st_size > 1_000_000


def test_another_extractor_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``$QA_EXTRACTOR_WEIGHTS`` names a fold's model: the evaluation then counts the articles its
    card held out as unseen. A directory without weights is a sentence naming the variable."""
    with pytest.raises(ConfigError, match="QA_EXTRACTOR_WEIGHTS.*weights.safetensors"):
        Settings.from_env(environ={"QA_EXTRACTOR_WEIGHTS": str(tmp_path)})
    (tmp_path / "weights.safetensors").write_bytes((WEIGHTS_DIR / "weights.safetensors").read_bytes())
    (tmp_path / "card.json").write_text(json.dumps({**extractor_card(), "train_titles": ["Warsaw"],
                                                    "held_out_titles": ["Super_Bowl_50"]}))
    monkeypatch.delenv("QA_EXTRACTOR_WEIGHTS", raising=False)
    assert unseen_titles() == set()
    monkeypatch.setenv("QA_EXTRACTOR_WEIGHTS", str(tmp_path))
    assert Settings.from_env().extractor_weights == tmp_path
    assert unseen_titles() == {"Super Bowl 50"}
    assert extractor_label() == f"{tmp_path} (trained on 1 articles)"


@pytest.mark.slow
def test_seed_sentence_key_span(extractor: Extractor) -> None:
    guess = extractor.spans("What did Russia badly need?", [SEED_SENTENCE])[0]
    assert normalize_answer(SEED_SENTENCE[guess.start : guess.end]) == "cash"
    # The network alone misses which subject the question names; the heuristic hint fixes it
    # within the reader's margin, and a hint the network scores far below its best is ignored.
    question = "What did Iran badly need from Russia?"
    hint = Reader(extractor).hint(question, SEED_SENTENCE)
    guess = extractor.spans(question, [SEED_SENTENCE], [hint], ReaderSettings().hint_margin)[0]
    assert SEED_SENTENCE[guess.start : guess.end] == "the expertise"
    far = SEED_SENTENCE.index("perfect match")
    guess = extractor.spans(question, [SEED_SENTENCE], [(far, far + 13)], 0.5)[0]
    assert SEED_SENTENCE[guess.start : guess.end] != "perfect match"


@pytest.mark.slow
def test_spans_are_whole_words_inside_the_text(extractor: Extractor, small_squad: Path) -> None:
    """Gold answers set in made-up sentences: spans are in bounds, on word edges, and mostly right.
    (The shipped model trained on these articles' questions, not on these texts; how it does on
    articles it never saw is its card's out-of-fold figures.)"""
    questions = [q for q in load_questions(small_squad) if q.answers][::10]
    scores = []
    for q in questions:
        start, end, gold = q.answers[0]
        text = f"Some words before. {gold} and a few after."
        guess = extractor.spans(q.text, [text])[0]
        assert 0 <= guess.start < guess.end <= len(text)
        assert not (guess.start > 0 and text[guess.start - 1].isalnum() and text[guess.start].isalnum())
        assert not (guess.end < len(text) and text[guess.end].isalnum() and text[guess.end - 1].isalnum())
        scores.append(f1_score(text[guess.start : guess.end], gold))
    assert sum(scores) / len(scores) > 0.5


@pytest.mark.slow
def test_has_answer_prefers_the_sentence_with_the_answer(extractor: Extractor) -> None:
    texts = ["The weather in Lisbon was mild that spring.",
             "Super Bowl 50 was won by the Denver Broncos, who beat the Carolina Panthers 24-10."]
    guesses = extractor.spans("Which team won Super Bowl 50?", texts)
    assert guesses[1].has_answer > guesses[0].has_answer
    assert normalize_answer(texts[1][guesses[1].start : guesses[1].end]) == "denver broncos"


@pytest.mark.slow
def test_batch_of_none_and_long_text(extractor: Extractor) -> None:
    assert extractor.spans("Who?", []) == []
    long = "word " * 2000 + "The answer is Paris."
    guess = extractor.spans("What is the answer?", [long])[0]
    assert 0 <= guess.start < guess.end <= len(long)


def test_whole_words_trims_punctuation() -> None:
    text = "It cost (about) $5 million, said Bob."
    assert text[slice(*_whole_words(text, 20, 26))] == "million"
    assert text[slice(*_whole_words(text, 3, 15))] == "cost (about)"
    assert text[slice(*_whole_words(text, 9, 15))] == "about"
    assert text[slice(*_whole_words(text, 33, 37))] == "Bob"


def test_a_span_repeating_the_question_loses_its_penalty_and_the_logits_stay_the_networks() -> None:
    text = "The AFC champion Denver Broncos won."
    words = [(m.start(), m.end()) for m in re.finditer(r"\w+|\.", text)]
    offsets = [(0, 0), *words, (0, 0)]  # [CLS] question... here only the text's wordpieces and [SEP]
    context = [False, *[True] * len(words), False]
    starts = np.array([0.0, 3.0, 1.0, 0.0, 2.5, 0.0, 0.0, 0.0, 0.0])  # "The ..." starts best
    ends = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0])  # "... Broncos" ends best
    share = repeated_share("Which team was the AFC champion?")
    plain = best_span(starts, ends, offsets, context, text)
    assert plain is not None and text[plain[0]:plain[1]] == "The AFC champion Denver Broncos"
    penalised = best_span(starts, ends, offsets, context, text, penalty=lambda phrase: 3.0 * share(phrase))
    assert penalised is not None and text[penalised[0]:penalised[1]] == "Denver Broncos"
    assert penalised[2:] == plain[2:] == (6.0, 0.0)  # the has-answer score reads the network's best


@pytest.mark.slow
def test_texts_read_in_runs_by_length_score_as_each_alone(extractor: Extractor) -> None:
    """Texts are read a few at a time, each run cut to its longest text (``RUN_TEXTS``): what
    each text gets must not depend on the others in its call."""
    question = "Which team won Super Bowl 50?"
    texts = ["Denver won.", SEED_SENTENCE, "The weather in Lisbon was mild that spring, " * 6,
             "Super Bowl 50 was won by the Denver Broncos, who beat the Carolina Panthers 24-10.", "No."]
    together = extractor.spans(question, texts)
    for text, guess in zip(texts, together, strict=True):
        alone = extractor.spans(question, [text])[0]
        assert (alone.start, alone.end) == (guess.start, guess.end)
        assert alone.has_answer == pytest.approx(guess.has_answer, abs=1e-3)


@pytest.mark.slow
def test_int8_backend_is_its_own_export_and_reads_like_the_float_one(extractor: Extractor, tmp_path: Path) -> None:
    int8 = BundledExtractor(cache_dir=tmp_path, backend="onnx-int8")
    int8.warm_up()
    assert sorted(f.name.endswith(f"-int8-{QUANTISED}.onnx") for f in tmp_path.glob("*.onnx")) == [False, True]
    guess = int8.spans("What did Russia badly need?", [SEED_SENTENCE])[0]
    assert normalize_answer(SEED_SENTENCE[guess.start : guess.end]) == "cash"
    texts = ["The weather in Lisbon was mild that spring.",
             "Super Bowl 50 was won by the Denver Broncos, who beat the Carolina Panthers 24-10."]
    guesses = int8.spans("Which team won Super Bowl 50?", texts)
    assert guesses[1].has_answer > guesses[0].has_answer
    assert normalize_answer(texts[1][guesses[1].start : guesses[1].end]) == "denver broncos"


def test_extractor_backend_comes_from_the_environment() -> None:
    assert Settings.from_env(environ={"QA_EXTRACTOR_BACKEND": "onnx-int8"}).extractor_backend == "onnx-int8"
    assert Settings().extractor_backend == "onnx"
    with pytest.raises(ConfigError, match="QA_EXTRACTOR_BACKEND"):
        Settings.from_env(environ={"QA_EXTRACTOR_BACKEND": "fast"})


@pytest.mark.slow  # the training module imports PyTorch, which the fast lane keeps out
def test_a_near_miss_is_the_sentence_of_its_paragraph_sharing_most_of_the_question(extractor: Extractor) -> None:
    """``train_extractor --v2``'s negatives: one per unanswerable question, the sentence its
    writer aimed at; answerable questions give none. Measuring them adds the near-miss AUROC to
    the held-out figures and changes none of the others."""
    from qa_eval.train_extractor import examples, held_out, near_misses

    context = ("Tesla was born in Smiljan. He moved to New York in 1884. "
               "Tesla died in the New Yorker Hotel in 1943.")
    article = {"title": "T", "paragraphs": [{"context": context, "qas": [
        {"id": "u", "question": "Where was Tesla's brother born?", "answers": [], "is_impossible": True},
        {"id": "v", "question": "When did Tesla's cat die in the hotel?", "answers": [], "is_impossible": True},
        {"id": "a", "question": "Where was Tesla born?", "answers": [{"text": "Smiljan", "answer_start": 18}]},
    ]}]}
    misses = near_misses([article])
    assert [(m["id"], m["text"]) for m in misses] == [
        ("u", "Tesla was born in Smiljan."), ("v", "Tesla died in the New Yorker Hotel in 1943.")]
    answerable = examples([article])
    plain = held_out(extractor, answerable)
    with_misses = held_out(extractor, answerable, misses)
    assert 0.0 <= with_misses.pop("near_miss_auroc") <= 1.0 and with_misses == plain


def test_a_card_says_whether_its_model_reads_the_title(tmp_path: Path) -> None:
    """A model trained with ``train_extractor --title`` reads each sentence after its article's
    title, and its card says so; a card without the key (an older model) or none means it does not."""
    assert not BundledExtractor(weights=tmp_path).reads_title
    (tmp_path / "card.json").write_text(json.dumps({"half": 0, "reads_title": True}))
    assert BundledExtractor(weights=tmp_path).reads_title
    (tmp_path / "card.json").write_text(json.dumps({"half": 0}))
    assert not BundledExtractor(weights=tmp_path).reads_title
    assert BundledExtractor(weights=tmp_path, reads_title=True).reads_title


@pytest.mark.slow
def test_the_title_is_read_but_never_marked() -> None:
    """A title-reading model reads "Genghis Khan. He died in 1227 ...": the title changes its
    scores, yet the span and the hint stay offsets of the sentence, and a span is never drawn from
    the title even when the title names the answer. A model that does not read titles ignores them."""
    text = "He died in 1227 after defeating the Western Xia."
    question, titles = "When did Genghis Khan die?", ["Genghis Khan"]
    plain, reading = BundledExtractor(reads_title=False), BundledExtractor(reads_title=True)
    alone = plain.spans(question, [text])[0]
    assert plain.spans(question, [text], titles=titles) == [alone]
    guess = reading.spans(question, [text], titles=titles)[0]
    assert "1227" in text[guess.start:guess.end] and guess.has_answer != alone.has_answer
    hint = (text.index("Western"), len(text) - 1)
    hinted = reading.spans(question, [text], [hint], margin=100.0, titles=titles)[0]
    assert (hinted.start, hinted.end) == hint
    who = reading.spans("Who died in 1227?", [text], titles=titles)[0]
    assert 0 <= who.start < who.end <= len(text)


@pytest.mark.slow  # the training module imports PyTorch, which the fast lane keeps out
def test_training_with_the_title_moves_every_gold_span_along() -> None:
    """``train_extractor --title``: each text (gold, other sentences, near-miss) is read after the
    title as ingest stores it, and the gold span still marks the answer."""
    from qa_eval.train_extractor import after_title, examples, near_misses

    context = "Tesla was born in Smiljan. He moved to New York in 1884."
    article = {"title": "Nikola_Tesla", "paragraphs": [{"context": context, "qas": [
        {"id": "a", "question": "When did he move?", "answers": [{"text": "1884", "answer_start": 51}]},
        {"id": "u", "question": "When was his brother born?", "answers": [], "is_impossible": True},
    ]}]}
    ex = after_title(examples([article])[0])
    assert ex["text"] == "Nikola Tesla. He moved to New York in 1884."
    assert [ex["text"][s:e] for s, e, _ in ex["golds"]] == ["1884"]
    assert ex["negatives"] == ["Nikola Tesla. Tesla was born in Smiljan."]
    assert after_title(near_misses([article])[0])["text"] == "Nikola Tesla. Tesla was born in Smiljan."
