"""Snapshot reads: a question reads one committed state of the index, whatever a writer does.

The race of issue 15 (F2): three threads ask about an article while a writer deletes it and adds
it back in a loop. Before snapshots, answers came back "found" with an empty quote (the article
text was read after the delete) and FAISS raised on vectors of sentences already removed.
"""

from __future__ import annotations

import os
import random
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

import pytest

from qa import QA, Answer, Passage

FAIR_MD = """# The Zorblat Fair

By Mina Okafor

The Zorblat Fair is held every May in the town of Quill, on the banks of the river Hesk.

Its first prize is a copper kettle, awarded for the tallest sunflower grown within the town.

The fair was founded in 1921 by the baker Odile Marsh, who also judged it for forty years.
"""
QUESTIONS = ("Where is the Zorblat Fair held?", "What is the first prize of the Zorblat Fair?",
             "Who founded the Zorblat Fair?", "When was the Zorblat Fair founded?")
RACE_SECONDS = float(os.environ.get("QA_RACE_SECONDS", "90"))


def _consistent(qa: QA, result: Answer | list[Passage]) -> list[str]:
    """What is wrong with an answer or passages read during writes (empty list: nothing).

    The article may be gone by the time this checks; re-added, its text is the same, so any
    quote must be the article's text at its offsets whenever the article is there.
    """
    problems = []
    citations = result.citations if isinstance(result, Answer) else []
    passages = result.passages if isinstance(result, Answer) else result
    if isinstance(result, Answer) and result.found and not result.text.strip():
        problems.append(f"found with an empty quote: {result!r}")
    for c in citations:
        article = qa.article(c.article_id)
        if not c.quote or (article is not None and article.text[c.start : c.end] != c.quote):
            problems.append(f"citation {c!r} is not its article's text")
    for p in passages:
        article = qa.article(p.article_id)
        if not p.text or (article is not None and article.text[p.start : p.end] != p.text):
            problems.append(f"passage {p.chunk_id} is not its article's text")
    return problems


@pytest.mark.slow
@pytest.mark.timeout(int(RACE_SECONDS) + 240)
def test_questions_read_one_state_while_an_article_is_deleted_and_added_again(
        index_copy: Path, embedder: object, tmp_path: Path) -> None:
    fair = tmp_path / "zorblat-fair.md"
    fair.write_text(FAIR_MD, encoding="utf-8")
    qa = QA(index_copy, sample=False)
    assert qa.ingest([fair]).added
    fair_id = next(a.id for a in qa.articles() if a.title == "The Zorblat Fair")
    stop = threading.Event()
    problems: list[str] = []
    reads: Counter[str] = Counter()
    writes = 0

    def reader(number: int) -> None:
        rng = random.Random(number)
        while not stop.is_set():
            try:
                if rng.random() < 0.7:
                    answer = qa.answer(rng.choice(QUESTIONS))
                    reads["found" if answer.found else "declined"] += 1
                    problems.extend(_consistent(qa, answer))
                else:
                    problems.extend(_consistent(qa, qa.search(rng.choice(QUESTIONS), k=5)))
                    reads["searches"] += 1
            except Exception:
                problems.append(traceback.format_exc())
                return

    def writer() -> None:
        nonlocal writes
        deadline = time.monotonic() + RACE_SECONDS
        try:
            while time.monotonic() < deadline:
                assert qa.delete(fair_id)
                time.sleep(0.05)  # absent a moment, present a little longer: both states get read
                assert qa.ingest([fair]).added
                writes += 1
                time.sleep(0.3)
        except Exception:
            problems.append(traceback.format_exc())
        finally:
            stop.set()

    threads = [threading.Thread(target=reader, args=(n,), daemon=True) for n in range(3)]
    threads.append(threading.Thread(target=writer, daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join(RACE_SECONDS + 180)
    assert not problems, f"{len(problems)} problems, the first: {problems[0]}"
    assert writes >= 5 and reads["found"] >= 20, (writes, reads)
    assert qa.check() == []
