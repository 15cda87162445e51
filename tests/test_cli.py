"""The ``qa`` command line, run in-process on private copies of the built index."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qa.cli import main
from qa.embedding import Embedder
from qa.ingest import read_file
from qa.store import Store

SEED_TITLE = "Putin and the Ayatollah: A Bromance to Watch"
TINY_MD = ("# Lighthouses of the North\n\nBy Test Writer\n\nMay 1, 2020\n\n"
           "Lighthouses guide ships along dangerous coasts. The oldest stood in Alexandria.\n")
SUMMARY = re.compile(r"^added (\d+), updated (\d+), unchanged (\d+), rejected (\d+) ", re.M)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _summary(out: str) -> tuple[int, ...]:
    match = SUMMARY.search(out)
    assert match, out
    return tuple(int(g) for g in match.groups())


@pytest.mark.slow
def test_ingest_prints_a_summary_with_reasons(
    index_copy: Path, tmp_path: Path, seed_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "tiny.md"
    good.write_text(TINY_MD, encoding="utf-8")
    empty = tmp_path / "empty.md"
    empty.write_bytes(b"")
    unknown = tmp_path / "slides.pptx"
    unknown.write_bytes(b"PK\x03\x04")

    status, out, err = _run(capsys, "ingest", str(good), str(seed_path), str(empty),
                            str(unknown), "--index", str(index_copy))
    assert status == 0, err
    assert _summary(out) == (1, 0, 1, 2)
    assert f"  added: {good}" in out
    assert f"  rejected: {empty}: file is empty" in out
    assert re.search(rf"^  rejected: {re.escape(str(unknown))}: unsupported file type .*$", out,
                     re.M)
    assert "Traceback" not in out + err

    # The same files again: all unchanged or rejected, nothing written.
    status, out, _ = _run(capsys, "ingest", str(good), str(seed_path), str(empty),
                          "--index", str(index_copy))
    assert status == 0
    assert _summary(out) == (0, 0, 2, 1)

    # An edit is an update.
    good.write_text(TINY_MD + "\nA second paragraph about fog horns.\n", encoding="utf-8")
    status, out, _ = _run(capsys, "ingest", str(good), "--index", str(index_copy))
    assert status == 0
    assert _summary(out) == (0, 1, 0, 0)
    assert f"  updated: {good}" in out
    assert Store.open(index_copy).check() == []


@pytest.mark.slow
def test_ingest_creates_and_rebuilds_an_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "tiny.md"
    good.write_text(TINY_MD, encoding="utf-8")
    index = tmp_path / "new-index"
    status, out, _ = _run(capsys, "ingest", str(good), "--index", str(index),
                          "--chunk-tokens", "64")
    assert status == 0 and _summary(out) == (1, 0, 0, 0)
    assert Store.open(index).settings.chunk_tokens == 64

    # Other settings on an existing index: a one-line error that names the fix.
    status, out, err = _run(capsys, "ingest", str(good), "--index", str(index),
                            "--chunk-tokens", "100")
    assert status == 1
    assert err.startswith("error: ") and "--rebuild" in err and err.count("\n") == 1
    assert "Traceback" not in err

    status, out, _ = _run(capsys, "ingest", str(good), "--index", str(index),
                          "--chunk-tokens", "100", "--rebuild")
    assert status == 0 and _summary(out) == (1, 0, 0, 0)
    assert Store.open(index).settings.chunk_tokens == 100


def test_rebuild_refuses_to_delete_a_directory_that_is_not_an_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("Years of work.", encoding="utf-8")
    status, _, err = _run(capsys, "ingest", str(tmp_path / "x.md"), "--index", str(precious),
                          "--rebuild")
    assert status == 1
    assert err.startswith("error: ") and "not an article-qa index" in err
    assert (precious / "thesis.txt").read_text(encoding="utf-8") == "Years of work."


@pytest.mark.slow
def test_stats(index_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stats = Store.open(index_copy).stats()
    status, out, _ = _run(capsys, "stats", "--index", str(index_copy))
    assert status == 0
    assert f"{stats.articles} articles, {stats.chunks} chunks, {stats.sentences} sentences" in out
    assert "all-MiniLM-L6-v2 (384 dims)" in out and "200 tokens" in out

    status, out, _ = _run(capsys, "stats", "--articles", "--index", str(index_copy))
    assert status == 0
    for title in (SEED_TITLE, "Super Bowl 50", "Nikola Tesla"):
        assert title in out
    assert "2016-08-26" in out
    assert "David Patrikarakos" in out  # the author, beside the date


@pytest.mark.slow
def test_search_prints_cited_passages(
    index_copy: Path, capsys: pytest.CaptureFixture[str], embedder: Embedder
) -> None:
    """``embedder`` loads the model once for the session; the CLI's Embedder reuses it."""
    status, out, err = _run(capsys, "search", "Who built Bushehr?", "-k", "3",
                            "--index", str(index_copy))
    assert status == 0, err
    heads = re.findall(r"^\[(\d+)\] (.+) \(([^,()]+), characters (\d+)-(\d+)\)", out, re.M)
    assert [int(h[0]) for h in heads] == [1, 2, 3]
    assert heads[0][1] == SEED_TITLE
    store = Store.open(index_copy)
    lines = out.splitlines()
    for rank, title, article_id, start, end in heads:
        article = store.article(article_id)
        assert article is not None and article.title == title
        quoted = lines[lines.index(next(x for x in lines if x.startswith(f"[{rank}] "))) + 1]
        shown = quoted.strip().rstrip("…")
        cited = " ".join(article.text[int(start) : int(end)].split())
        assert cited.startswith(shown), (shown[:80], cited[:80])
    seed = store.article(heads[0][2])
    assert seed is not None and "Bushehr" in seed.text[int(heads[0][3]) : int(heads[0][4])]


@pytest.mark.slow
def test_delete(index_copy: Path, seed_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed_id = read_file(seed_path)[0].id
    status, out, _ = _run(capsys, "delete", seed_id, "--index", str(index_copy))
    assert status == 0 and out.strip() == f"deleted {seed_id}"
    assert Store.open(index_copy).article(seed_id) is None

    status, out, err = _run(capsys, "delete", seed_id, "--index", str(index_copy))
    assert status == 1 and out == ""
    assert err.startswith("error: ") and seed_id in err and err.count("\n") == 1

    status, out, _ = _run(capsys, "check", "--index", str(index_copy))
    assert status == 0 and out.strip().endswith("OK")


@pytest.mark.slow
def test_check_on_a_healthy_and_a_damaged_index(
    index_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = _run(capsys, "check", "--index", str(index_copy))
    assert status == 0
    assert out.strip() == f"{index_copy}: OK"

    # A chunk whose text no longer matches its article: reported, with the fix.
    import sqlite3

    conn = sqlite3.connect(index_copy / "qa.sqlite3")
    with conn:
        conn.execute("UPDATE chunks SET text = text || ' tampered' WHERE id = "
                     "(SELECT min(id) FROM chunks)")
    conn.close()
    status, out, _ = _run(capsys, "check", "--index", str(index_copy))
    assert status == 1
    assert "problem" in out and "no longer matches" in out and "--rebuild" in out


@pytest.mark.parametrize("argv", [
    ["stats", "--index", "/nonexistent/qa-index"],
    ["check", "--index", "/nonexistent/qa-index"],
    ["search", "anything", "--index", "/nonexistent/qa-index"],
    ["delete", "some-id", "--index", "/nonexistent/qa-index"],
], ids=["stats", "check", "search", "delete"])
def test_errors_are_one_line_without_traceback(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(capsys, *argv)
    assert status == 1
    assert out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "/nonexistent/qa-index" in err
    assert "Traceback" not in err


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys)
    assert status == 2
    assert "ingest" in out and "search" in out


@pytest.mark.slow
def test_rebuild_recovers_index_files_that_lost_their_manifest(
    index_copy: Path, seed_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (index_copy / "manifest.json").unlink()
    status, _, err = _run(capsys, "stats", "--index", str(index_copy))
    assert status == 1 and "no manifest.json" in err and "--rebuild" in err
    status, out, err = _run(capsys, "ingest", str(seed_path), "--index", str(index_copy), "--rebuild")
    assert status == 0, err
    assert _summary(out)[0] == 1 and (index_copy / "manifest.json").exists()


def test_rebuild_keeps_a_folder_of_other_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    status, _, err = _run(capsys, "ingest", "nothing.md", "--index", str(tmp_path), "--rebuild")
    assert status == 1 and "not an article-qa index" in err
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_ingest_of_nothing_but_a_missing_path_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "ingest", str(tmp_path / "no-such-file.md"), "--index", str(tmp_path / "idx"))
    assert status == 1 and _summary(out) == (0, 0, 0, 1)
    assert "no-such-file.md" in out and "not found" in out
