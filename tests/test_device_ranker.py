"""The sentence ranker experiment (``eval/ranker_inputs.py`` on the CPU, ``eval/device_ranker.py``
on a training machine): what each fold model is trained on and scores, how a candidate is read,
and that the weights it writes load back."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from qa.chunking import split_sentences

pytestmark = pytest.mark.slow  # trains a network (briefly) and imports PyTorch
# One article of each of train_extractor's held-out halves (half 0 holds out the first).
TITLES = ("Black Death", "Doctor Who")


@pytest.fixture(scope="module")
def candidates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``reader_data`` candidates file in miniature: two questions about each title, each with
    the sentences of a made-up paragraph as windows, the first holding the answer."""
    folder = tmp_path_factory.mktemp("reader-fit")
    paragraph = ("The plague reached Europe in 1347. Ships carried it from the Crimea. "
                 "It killed a third of the population. Doctors wore masks.")
    sentences = split_sentences(paragraph)
    questions, texts, listed = [], [], []
    for title in TITLES:
        for asked in ("When did the plague reach Europe?", "Where did the ships come from?"):
            cands = []
            for k, s in enumerate(sentences):
                texts.append(paragraph)
                cands.append({"article_id": title, "start": s.start, "end": s.end, "paragraph": 0,
                              "features": [0.0] * 10, "window": len(texts) - 1, "focus": [s.start, s.end],
                              "holds": k == 0})
            listed.append(asked)
            questions.append({"id": f"{title}-{len(questions)}", "question": len(listed) - 1, "title": title,
                              "part": "v1", "impossible": False, "answers": [], "candidates": cands})
    with gzip.open(folder / "candidates.json.gz", "wt", encoding="utf-8") as f:
        json.dump({"questions": questions, "datasets": []}, f)
    (folder / "bundle").mkdir()
    with gzip.open(folder / "bundle" / "windows.json.gz", "wt", encoding="utf-8") as f:
        json.dump({"questions": listed, "texts": texts}, f)
    from qa_eval.reader_data import write_base

    write_base(folder / "bundle", [paragraph, *listed])
    return folder / "candidates.json.gz"


def test_inputs_name_the_fold_model_that_never_saw_each_article(candidates: Path) -> None:
    from qa_eval.ranker_inputs import inputs

    got = inputs(candidates)
    assert "Black Death" in got["held_out"]["0"] and "Doctor Who" in got["held_out"]["1"]
    assert [q["reader"] for q in got["questions"]] == ["0", "0", "1", "1"]
    first = got["questions"][0]
    window, focus, sentence, before, after, holds = first["candidates"][1]
    assert sentence == "Ships carried it from the Crimea." and before.endswith("1347. ") and not holds
    assert before + sentence + after == "The plague reached Europe in 1347. Ships carried it from the Crimea. " \
        "It killed a third of the population. Doctors wore masks."


def test_a_window_reading_puts_the_sentence_first_and_fits_the_model(candidates: Path) -> None:
    from qa_eval import device_ranker as dev

    bundle = dev.X.Bundle(candidates.parent / "bundle")
    sentence = dev.Encoder(bundle, "sentence")
    window = dev.Encoder(bundle, "window")
    candidate = [0, 0, "Ships carried it.", "The plague came. ", " Doctors wore masks."]
    ids, types = sentence.ids("Where from?", candidate)
    assert ids.count(sentence.sep) == 2 and types.count(0) == ids.index(sentence.sep) + 1
    wide, wide_types = window.ids("Where from?", candidate)
    assert wide[: len(ids)] == ids and wide.count(window.sep) == 3 and len(wide_types) == len(wide)
    long = [0, 0, "word " * 300, "before " * 300, " after" * 300]
    assert len(window.ids("Where from?", long)[0]) <= dev.MAX_LENGTH


def test_the_loss_is_the_softmax_mass_off_the_gold_candidates() -> None:
    import torch
    from qa_eval import device_ranker as dev

    scores = torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0])
    gold = torch.tensor([True, False, True, True, False])
    expected = (torch.log(torch.tensor(2.0)) + torch.log(torch.tensor(3.0 / 2.0))) / 2
    assert dev.listwise_loss(scores, [2, 3], gold).item() == pytest.approx(expected.item())


def test_a_short_run_scores_every_candidate_by_its_fold_and_writes_weights_that_load(
        candidates: Path, tmp_path: Path) -> None:
    from qa_eval import device_ranker as dev
    from qa_eval.ranker_inputs import inputs
    from safetensors.torch import load_file

    data = tmp_path / "inputs.json.gz"
    with gzip.open(data, "wt", encoding="utf-8") as f:
        json.dump(inputs(candidates), f)
    out = tmp_path / "out"
    dev.main([str(candidates.parent / "bundle"), str(data), str(out), "--contexts", "sentence,window",
              "--final", "window", "--epochs", "1", "--batch", "2"])
    for context in ("sentence", "window"):
        with gzip.open(out / f"ranker-{context}.json.gz", "rt", encoding="utf-8") as f:
            by_half = json.load(f)["by_half"]
        assert {h: len(rows) for h, rows in by_half.items()} == {"0": 8, "1": 8}  # 2 questions x 4 sentences
    log = json.loads((out / "log.json").read_text(encoding="utf-8"))
    assert log["sentence/half0"]["held_out"]["6"]["n"] == 2
    assert log["sentence/half0"]["held_out"]["6"]["prerank_top6"] == 1.0
    state = {k: v for name in log["window/all"]["files"] for k, v in load_file(str(out / name)).items()}
    model = dev.Ranker(dev.X.Bundle(candidates.parent / "bundle"))
    model.load_state_dict({k: v.float() for k, v in state.items()})
