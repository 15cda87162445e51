"""The reader experiments' pure parts (eval/README.md): windows, the out-of-fold fit, the weights
file it writes and the near-miss checks."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
from qa_eval.fit_reader import (
    CHECKS,
    CONFIDENCE_FEATURES,
    INPUTS,
    MARGINS,
    SELECTION,
    Asked,
    Design,
    Fitted,
    evidence_checks,
    fit_selection,
    margins,
    weights_file,
)
from qa_eval.reader_windows import NEIGHBOUR_CHARS, whole_words, window
from qa_eval.span_penalty import PENALTIES, choose

from qa.settings import FEATURES, ReaderSettings


def test_a_window_holds_its_sentence_at_its_focus_between_its_neighbours() -> None:
    w = window("Tesla died in New York.", "He lived in a hotel.", "A museum holds his ashes.")
    assert w.text == "He lived in a hotel. Tesla died in New York. A museum holds his ashes."
    assert w.text[w.focus[0]: w.focus[1]] == "Tesla died in New York."


def test_long_neighbours_are_cut_at_a_space_keeping_the_side_next_to_the_sentence() -> None:
    before = "word " * 100 + "nearest."
    after = "first " + "word " * 100
    w = window("Middle.", before, after)
    head, tail = w.text[: w.focus[0]], w.text[w.focus[1]:]
    assert head.endswith("nearest. ") and len(head) <= NEIGHBOUR_CHARS + 1
    assert tail.startswith(" first ") and len(tail) <= NEIGHBOUR_CHARS + 1
    assert not head.startswith(" ") and "wor " not in head


def test_whole_words_widens_wordpieces_and_drops_trailing_punctuation() -> None:
    text = "the Denver Broncos, champions"
    assert text[slice(*whole_words(text, 5, 12))] == "Denver Broncos"


def test_the_selection_fit_learns_which_feature_marks_the_answering_sentence() -> None:
    rng = np.random.default_rng(0)
    asked = []
    for i in range(200):
        features = rng.normal(size=(6, len(FEATURES)))
        holds = np.zeros(6, dtype=bool)
        holds[int(np.argmax(features[:, 3] + 0.3 * rng.normal(size=6)))] = True  # feature 3 tells
        asked.append(Asked(id=str(i), question="q", title="t", part="v1", in_corpus=True, answers=["a"],
                           features=features, has=np.zeros(6), null=np.zeros(6), holds=holds,
                           texts=[""] * 6, checks=np.zeros((6, len(CHECKS))), spans=[(0, 0)] * 6,
                           places=[("a", 0, 1, 0)] * 6))
    w = fit_selection(asked, Design(width=6))
    assert len(w) == len(SELECTION)
    assert int(np.argmax(np.abs(w))) == 3


def test_a_fitted_design_becomes_a_weights_file_the_reader_accepts(tmp_path: Path) -> None:
    inputs = tmp_path / "candidates.json.gz"
    inputs.write_bytes(b"data")
    w = np.arange(len(SELECTION), dtype=float)
    cal = np.append(np.linspace(-1, 1, len(CONFIDENCE_FEATURES)), -2.0)
    written = weights_file(Fitted(Design(width=6), w, cal, 0.35), 0.25, 2.5, [inputs], {"answer_accuracy": 0.8})
    settings = ReaderSettings.model_validate({k: written[k] for k in (
        "sentence_weights", "rerank", "rerank_margin", "extractor_weight", "calibration", "threshold",
        "join_margin")})
    assert settings.sentence_weights == {f: float(i) for i, f in enumerate(FEATURES)}
    assert settings.extractor_weight == len(FEATURES) and settings.calibration["bias"] == -2.0
    assert (settings.threshold, settings.join_margin, settings.rerank, settings.rerank_margin) == (0.25, 0.35, 6, 2.5)
    # An infinite margin (re-read all ``rerank``) is the reader's default, so the file leaves it out.
    assert "rerank_margin" not in weights_file(Fitted(Design(width=6), w, cal, 0.35), 0.25, math.inf, [inputs], {})
    assert written["out_of_fold"] == {"answer_accuracy": 0.8}
    assert written["inputs_sha256"]["candidates.json.gz"] == hashlib.sha256(b"data").hexdigest()
    with pytest.raises(ValueError, match="no near-miss checks"):
        weights_file(Fitted(Design(6, (), CHECKS), w, np.append(cal, np.zeros(len(CHECKS))), 0.35), 0.25, 2.5,
                     [inputs], {})


SENTENCE = "On 7 January 1943, at the age of 86, Tesla died alone in room 3327 of the New Yorker Hotel."


def test_checks_are_quiet_when_the_sentence_answers() -> None:
    checks = evidence_checks("Where did Nikola Tesla die in 1943?", SENTENCE, "New Yorker Hotel", SENTENCE)
    assert set(checks) == set(CHECKS)
    assert checks["names_missing"] == 0.5  # "Nikola" is not in the sentence; "Tesla" is
    assert checks["numbers_missing"] == 0.0
    assert checks["negation_mismatch"] == 0.0
    assert checks["span_type"] == 1.0  # a place was asked for and a capitalised name is highlighted
    assert checks["span_echo"] == 0.0


def test_checks_flag_what_near_miss_questions_change() -> None:
    sentence = "The Broncos beat the Panthers 24-10 in February 2016."
    swapped = evidence_checks("Who did the Seahawks beat in 2015?", sentence, "the Panthers", sentence)
    assert swapped["names_missing"] == 1.0 and swapped["numbers_missing"] == 1.0
    negated = evidence_checks("Who did the Broncos not beat?", sentence, "the Panthers", sentence)
    assert negated["negation_mismatch"] == 1.0
    echoed = evidence_checks("Who did the Broncos beat?", sentence, "The Broncos", sentence)
    assert echoed["span_echo"] == 1.0
    wrong_kind = evidence_checks("When did the Broncos win?", sentence, "the Panthers", sentence)
    assert wrong_kind["span_type"] == 0.0


def test_margins_measure_the_chosen_candidate_against_the_others_re_read() -> None:
    features = np.zeros((3, len(FEATURES)))
    features[:, 0] = [3.0, 2.0, -10.0]  # the third scores too low to be re-read within margin 2.5
    asked = Asked(id="q", question="q", title="t", part="v1", in_corpus=True, answers=["a"],
                  features=features, has=np.array([1.0, 2.0, 9.0]), null=np.zeros(3),
                  holds=np.zeros(3, dtype=bool), texts=[""] * 3, checks=np.zeros((3, len(INPUTS))),
                  spans=[(0, 0)] * 3, places=[("a", 0, 1, 0)] * 3)
    design = Design(3, confidence_checks=MARGINS, rerank_margin=2.5)
    w = np.zeros(len(SELECTION))
    w[0], w[-1] = 1.0, 0.5  # selection scores: 3.5 and 3.0 for the two re-read
    m = margins(asked, 0, w, design)
    assert m["score_gap"] == pytest.approx(0.5) and m["has_gap"] == pytest.approx(-1.0)
    assert m["has_other"] == pytest.approx(2.0)  # the third is not re-read, so its 9.0 is not counted
    assert m["p_chosen"] == pytest.approx(1 / (1 + math.exp(-0.5)))
    alone = margins(asked, 0, w, Design(1, confidence_checks=MARGINS))
    assert alone["p_chosen"] == 1.0 and alone["score_gap"] > 0


def test_each_article_fold_chooses_the_penalty_on_the_others_and_is_measured_with_it() -> None:
    """Ten articles where penalty 3 reads every span right and the rest read none, but for one
    article where only penalty 1 does: its fold still takes 3 from the other folds and scores 0."""
    read = []
    for i in range(10):
        good = 1.0 if i else 0.0
        scores = {(p, hinted): ((good, good) if p == 3.0 else (0.0, 0.0))
                  for p in PENALTIES for hinted in (True, False)}
        if i == 0:
            scores[1.0, True] = (1.0, 1.0)
        read.append((f"article {i}", scores))
    report = choose(read)
    assert report["chosen_by_fold"] == [3.0] * 5
    assert report["out_of_fold"] == {"span_em": 0.9, "span_f1": 0.9}
    assert report["by_penalty"]["1.0"] == {"span_em": 0.1, "span_f1": 0.1, "no_hint": {"span_em": 0.0, "span_f1": 0.0}}
