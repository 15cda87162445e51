"""The extractor's recipe on a training machine (``eval/device_extractor.py``): what it reads
equals what ``answer()`` reads, and the model it trains loads as the runtime's extractor."""

from __future__ import annotations

import gzip
import json
from multiprocessing import Pool
from pathlib import Path

import pytest

from qa.chunking import split_sentences
from qa.reader import BundledExtractor

pytestmark = pytest.mark.slow  # trains a network (briefly) and imports PyTorch


@pytest.fixture(scope="module")
def inputs(small_squad: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``extractor_preds --device``'s three inputs, made from the small SQuAD file."""
    from qa_eval.reader_data import write_base
    from qa_eval.train_extractor import export

    folder = tmp_path_factory.mktemp("device-inputs")
    export(small_squad, None, folder / "examples.json.gz")
    items = []
    for article in json.loads(small_squad.read_text(encoding="utf-8"))["data"]:
        paragraph = article["paragraphs"][0]
        question = paragraph["qas"][0]["question"]
        for k, s in enumerate(split_sentences(paragraph["context"])[:3]):
            items.append([len(items), k, s.start, question, paragraph["context"][s.start:s.end], None])
    with gzip.open(folder / "items.json.gz", "wt", encoding="utf-8") as f:
        json.dump({"margin": 3.0, "folds": {}, "items": items}, f)
    with gzip.open(folder / "examples.json.gz", "rt", encoding="utf-8") as f:
        halves = json.load(f)["halves"]
    texts = [t for i in items for t in i[3:5]]
    for half in halves.values():
        for ex in half["train"] + half["test"]:
            texts += [ex["question"], ex["text"], *ex["negatives"]]
    write_base(folder / "bundle", texts)
    return folder


def test_a_short_run_writes_fold_readings_figures_and_a_model_the_runtime_reads_alike(
        inputs: Path, tmp_path: Path) -> None:
    from qa_eval import device_extractor as dev
    from safetensors.torch import load_file, save_file

    out = tmp_path / "out"
    dev.main([str(inputs / "bundle"), str(inputs / "examples.json.gz"), str(inputs / "items.json.gz"), str(out),
              "--recipes", "plain", "--final", "plain", "--limit", "8", "--epochs", "1"])
    with gzip.open(out / "preds-plain.json.gz", "rt", encoding="utf-8") as f:
        preds = json.load(f)
    with gzip.open(inputs / "items.json.gz", "rt", encoding="utf-8") as f:
        items = json.load(f)["items"][:8]
    assert set(preds["by_half"]) == {"0", "1"} and preds["columns"][-1] == "head"
    for rows in preds["by_half"].values():
        assert [r[:3] for r in rows] == [i[:3] for i in items]
    log = json.loads((out / "log.json").read_text(encoding="utf-8"))
    assert {"span_f1", "span_em", "sentence_accuracy", "near_miss_auroc"} <= set(log["plain/half0"]["held_out"])

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    state = {k: v for name in log["plain/all"]["files"] for k, v in load_file(str(out / name)).items()}
    save_file(state, str(model_dir / "weights.safetensors"))
    # The training machine has no stemmer, so it decodes without the penalty on repeated words.
    runtime = BundledExtractor(model_dir, cache_dir=tmp_path / "cache", repeat_penalty=0.0)
    bundle = dev.Bundle(inputs / "bundle")
    network = bundle.model()
    network.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    network.eval()
    with Pool(1) as pool:
        read = dev.read(network, bundle, [(i[3], i[4], None) for i in items], 0.0, "cpu", pool)
    for item, (start, end, top, null, _) in zip(items, read, strict=True):
        guess = runtime.spans(item[3], [item[4]])[0]
        assert (start, end) == (guess.start, guess.end)
        assert top - null == pytest.approx(guess.has_answer, abs=0.05)


def test_the_bundle_keeps_every_wordpiece_of_a_long_text(tmp_path: Path) -> None:
    """The bundled tokenizer file cuts at 128 wordpieces; the trimmed vocabulary must not, or a
    long sentence's last words would be read as [UNK] on the training machine."""
    from qa_eval.reader_data import write_base
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    text = "word " * 200 + "xylophone zeppelin quixotic"
    write_base(tmp_path, [text])
    vocab = set(load_file(str(tmp_path / "base.safetensors"))["vocab"].tolist())
    tokenizer = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    tokenizer.no_truncation()
    assert set(tokenizer.encode(text).ids) <= vocab
