"""The in-context reader experiment's pure parts (eval/README.md): windows and the out-of-fold fit."""

from __future__ import annotations

import numpy as np
from qa_eval.fit_reader import SELECTION, Asked, fit_selection
from qa_eval.reader_windows import NEIGHBOUR_CHARS, whole_words, window

from qa.settings import FEATURES


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
                           texts=[""] * 6, spans=[(0, 0)] * 6, places=[("a", 0, 1, 0)] * 6))
    w = fit_selection(asked, width=6)
    assert len(w) == len(SELECTION)
    assert int(np.argmax(np.abs(w))) == 3
