"""``qa_eval.opposites``: a pair is kept by an article fold only when declining what it flags on
the other folds brings the reader closer to issue 14's targets, and the command reports the pairs
every fold kept (records written here, as ``test_threshold`` writes them)."""

from __future__ import annotations

import json
from pathlib import Path

from qa_eval.opposites import SECOND_LIST, choose, flags, main
from qa_eval.threshold import Record
from test_threshold import write

from qa.reader.contrary import OPPOSITES


def record(part: str, title: str, question: str, quote: str, right: bool) -> Record:
    return Record(part=part, oof=True, threshold=0.0, id=f"{title}-{part}-{question}", title=title,
                  question=question, found=True, confidence=0.8, contains=right, em=right,
                  f1=1.0 if right else 0.0, quote=quote, key="it")


def rows(titles: int = 10) -> list[Record]:
    """Per article: a near-miss that asks "high" of a sentence saying "low" (which high/low should
    decline), a right answer asking "old" of a sentence saying "new" (which new/old must not),
    and one answerable question of each other part, answered right."""
    out = []
    for i in range(titles):
        t = f"Article {i}"
        out += [record("v2_unanswerable", t, "Which wall is high?", "The east wall is low.", False),
                record("v1", t, "Which building is old?", "The new hall stands where the old one stood.", True),
                record("v1", t, "Which tower is old?", "The tower is new.", True),
                record("v2_answerable", t, "Who built it?", "Masons built it.", True),
                record("in_corpus", t, "Who built it?", "Masons built it.", True),
                record("out_of_corpus", t, "Who built it?", "Masons built it.", False)]
    return out


def test_a_pair_flags_answers_whose_quote_says_the_opposite_and_not_the_word() -> None:
    graded = rows(1)
    assert flags(graded, ("high", "low")) == {0}
    assert flags(graded, ("new", "old")) == {2}  # the first quote says "old" too, so it passes
    assert flags(graded, ("victory", "defeat")) == set()


def test_every_fold_keeps_the_pair_that_declines_near_misses_and_none_keeps_the_one_that_costs_answers() -> None:
    report = choose(rows(), [("high", "low"), ("new", "old"), ("victory", "defeat")], 0.3)
    assert all(kept == ["high/low"] for kept in report["kept_by_fold"])
    assert report["kept_by_every_fold"] == {"high/low": {"v2_unanswerable": 10}}
    assert report["out_of_fold"]["v2_declined_unanswerable"] == 1.0 > report["before"]["v2_declined_unanswerable"]
    assert report["out_of_fold"]["answer_accuracy"] == report["before"]["answer_accuracy"] == 1.0
    assert report["shortfall_out_of_fold"] < report["shortfall_before"]


def test_the_command_writes_its_report(tmp_path: Path) -> None:
    assert main([str(write(tmp_path / "r.jsonl.gz", rows())), "--out", str(tmp_path)]) == 0
    written = json.loads((tmp_path / "opposites.json").read_text())
    assert written["candidates"] == len(SECOND_LIST) and "high/low" in written["kept_by_every_fold"]
    assert main([str(tmp_path / "missing.jsonl.gz")]) == 1


def test_the_second_list_is_pairs_of_lower_case_words_listed_once_and_ships_only_what_every_fold_kept() -> None:
    assert all(a.isalpha() and a.islower() and b.isalpha() and b.islower() and a != b for a, b in SECOND_LIST)
    assert len(set(SECOND_LIST)) == len(SECOND_LIST)
    shipped = set(SECOND_LIST) & set(OPPOSITES)
    assert shipped == {("victory", "loss"), ("minority", "majority"), ("common", "rare"), ("large", "small"),
                       ("high", "low")}
