"""The REST API against a real uvicorn server on a loopback port, through httpx.

Fast tests use the hashing embedder (search, articles, uploads, deletes, auth, limits, errors);
the tests that answer questions load the real embedder and span extractor and are marked slow.
The schema test compares the served OpenAPI document with ``docs/openapi.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from documents import PAGES, docx_bytes, pdf_bytes, scanned_pdf_bytes
from embedders import HashingEmbedder

from qa import QA
from qa.access import AdminCredential, hash_password
from qa.api import build_api
from qa.api.schema import SCHEMA_FILE, openapi, render
from qa.embedding import Embedder
from qa.settings import Settings

PASSWORD = "correct horse battery"
SEED_MD = b"# Putin and the Ayatollah\n\nRussia badly needed the cash; Iran badly needed the expertise.\n"


@dataclass
class Server:
    url: str
    qa: QA

    def client(self, password: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {password}"} if password else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)


@contextlib.contextmanager
def _serve(qa: QA, host_as: str, credential: AdminCredential | None) -> Iterator[Server]:
    """Serve ``build_api(qa)`` on a free loopback port, as a server bound to ``host_as`` would
    decide who may write; stopped when the test ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(build_api(qa, host_as, credential), log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield Server(f"http://127.0.0.1:{port}", qa)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture
def fast_qa(tmp_path: Path) -> QA:
    """A small index (a Markdown article, a PDF, a Word file) with the hashing embedder."""
    files = tmp_path / "files"
    files.mkdir()
    (files / "seed.md").write_bytes(SEED_MD)
    (files / "bushehr.pdf").write_bytes(pdf_bytes())
    (files / "notes.docx").write_bytes(docx_bytes(("The notes say the grid link came in 2011.",)))
    qa = QA(tmp_path / "index", sample=False, embedder=HashingEmbedder(), settings=Settings(upload_max_mb=1))
    qa.ingest([files])
    return qa


@pytest.fixture
def admin_server(fast_qa: QA) -> Iterator[Server]:
    """A server as on a public address with an admin credential."""
    credential = AdminCredential(hash=hash_password(PASSWORD), source="test")
    with _serve(fast_qa, "0.0.0.0", credential) as server:
        yield server


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"message", "code"} and body["code"] == code, body
    assert "Traceback" not in body["message"] and "\n" not in body["message"]
    return str(body["message"])


def _upload(client: httpx.Client, *files: tuple[str, bytes], replace: bool = False) -> httpx.Response:
    return client.post("/v1/articles", files=[("files", f) for f in files],
                       data={"replace": "true"} if replace else None)


def test_health_articles_and_article(admin_server: Server) -> None:
    with admin_server.client() as c:
        health = c.get("/v1/health").json()
        assert health["status"] == "ok" and health["articles"] == 3 and health["writes"] == "admin"
        assert health["model"] == "hashing-64" and health["generation"] >= 1
        page = c.get("/v1/articles", params={"limit": 2}).json()
        assert page["total"] == 3 and len(page["articles"]) == 2
        rest = c.get("/v1/articles", params={"offset": 2}).json()["articles"]
        ids = [a["id"] for a in page["articles"] + rest]
        assert len(set(ids)) == 3
        pdf = next(a for a in page["articles"] + rest if a["source"].endswith(".pdf"))
        article = c.get(f"/v1/articles/{pdf['id']}").json()
        assert article["title"] == "Bushehr: A History" and len(article["pages"]) == len(PAGES)
        _error(c.get("/v1/articles/no-such-id"), 404, "not_found")
        _error(c.get("/v1/nowhere"), 404, "not_found")
        _error(c.get("/v1/articles", params={"limit": 0}), 422, "invalid_request")


def test_search_passages_quote_their_article(admin_server: Server) -> None:
    with admin_server.client() as c:
        result = c.post("/v1/search", json={"query": "reactor fuel Rosatom December", "k": 5}).json()
        assert result["passages"]
        texts: dict[str, str] = {}
        for p in result["passages"]:
            text = texts.setdefault(p["article_id"], c.get(f"/v1/articles/{p['article_id']}").json()["text"])
            assert text[p["start"] : p["end"]] == p["text"]
        pdf_passages = [p for p in result["passages"] if p["page"] is not None]
        assert pdf_passages and all(1 <= p["page"] <= len(PAGES) for p in pdf_passages)
        _error(c.post("/v1/search", json={"query": "x", "k": 0}), 422, "invalid_request")
        _error(c.post("/v1/search", json={"query": "x", "mode": "psychic"}), 422, "invalid_request")
        _error(c.post("/v1/search", json={"query": "x", "extra": 1}), 422, "invalid_request")
        _error(c.post("/v1/search", content=b"{not json", headers={"content-type": "application/json"}),
               422, "invalid_request")


def test_question_errors_are_codes(admin_server: Server) -> None:
    """Refused before any model runs: too long, no words, malformed history."""
    with admin_server.client() as c:
        _error(c.post("/v1/answer", json={"question": "why " * 1000}), 400, "question_too_long")
        _error(c.post("/v1/answer", json={"question": "?!"}), 400, "invalid_question")
        _error(c.post("/v1/answer", json={}), 422, "invalid_request")
        _error(c.post("/v1/answer", json={"question": "why", "history": [{"q": 1}]}), 422, "invalid_request")


def test_writes_need_the_admin_password(admin_server: Server) -> None:
    with admin_server.client() as anonymous, admin_server.client("wrong password") as wrong:
        response = _upload(anonymous, ("a.md", SEED_MD))
        _error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"
        _error(_upload(wrong, ("a.md", SEED_MD)), 403, "forbidden")
        first = anonymous.get("/v1/articles").json()["articles"][0]["id"]
        _error(anonymous.delete(f"/v1/articles/{first}"), 401, "unauthorized")
        _error(wrong.delete(f"/v1/articles/{first}"), 403, "forbidden")
        assert anonymous.get("/v1/health").json()["articles"] == 3


def test_public_server_without_credential_is_read_only(fast_qa: QA) -> None:
    with _serve(fast_qa, "0.0.0.0", None) as server, server.client("anything") as c:
        assert c.get("/v1/health").json()["writes"] == "read-only"
        _error(_upload(c, ("a.md", SEED_MD)), 403, "writes_disabled")


def test_loopback_server_without_credential_is_open(fast_qa: QA) -> None:
    with _serve(fast_qa, "127.0.0.1", None) as server, server.client() as c:
        report = _upload(c, ("new.md", b"# New\n\nA new article about the harbour.\n"))
        assert report.status_code == 201 and len(report.json()["added"]) == 1


def test_upload_pdf_and_docx_then_delete(admin_server: Server) -> None:
    other = pdf_bytes(pages=(("Second report", "The harbour was dredged in 2019."),), title="Harbour")
    with admin_server.client(PASSWORD) as c:
        before = c.get("/v1/health").json()
        response = _upload(c, ("harbour.pdf", other), ("memo.docx", docx_bytes(("A memo on the dredging.",),
                                                                                title="Memo")))
        assert response.status_code == 201, response.text
        report = response.json()
        assert sorted(a["title"] for a in report["added"]) == ["Harbour", "Memo"]
        after = c.get("/v1/health").json()
        assert after["articles"] == before["articles"] + 2 and after["generation"] > before["generation"]
        harbour = next(a["id"] for a in report["added"] if a["title"] == "Harbour")
        hits = c.post("/v1/search", json={"query": "harbour dredged 2019",
                                          "filters": {"article_ids": [harbour]}}).json()["passages"]
        assert hits and {p["page"] for p in hits} == {1}
        assert c.delete(f"/v1/articles/{harbour}").json() == {"id": harbour, "deleted": True}
        _error(c.delete(f"/v1/articles/{harbour}"), 404, "not_found")
        assert c.get("/v1/health").json()["articles"] == before["articles"] + 1
        audit = admin_server.qa.audit_log(limit=1)[0]
        assert audit.action == "delete" and audit.actor.startswith("api:")


def test_upload_limits_and_rejections(admin_server: Server) -> None:
    with admin_server.client(PASSWORD) as c:
        _error(_upload(c, ("slides.pptx", b"PK")), 415, "unsupported_type")
        _error(_upload(c, ("big.md", b"word " * 300_000)), 413, "file_too_large")  # 1.5 MB > 1 MB
        many = [(f"f{i}.md", b"# A\n\nText.\n") for i in range(9)]
        _error(_upload(c, *many), 413, "too_many_files")
        _error(c.post("/v1/articles", data={"replace": "true"}), 422, "invalid_request")
        message = _error(_upload(c, ("scan.pdf", scanned_pdf_bytes()), ("locked.pdf", pdf_bytes(
            owner_password="o", user_password="u"))), 422, "rejected")
        assert "scan.pdf: is a PDF with no text layer" in message and "locked.pdf: is an encrypted PDF" in message
        mixed = _upload(c, ("cut.pdf", pdf_bytes()[:200]), ("fine.md", b"# Fine\n\nFine words here.\n"))
        assert mixed.status_code == 201
        assert [r["path"] for r in mixed.json()["rejected"]] == ["cut.pdf"]
        assert c.get("/v1/health").json()["articles"] == 4


def test_changed_article_is_held_unless_replace(admin_server: Server) -> None:
    with admin_server.client(PASSWORD) as c:
        changed = SEED_MD + b"\nA new closing paragraph.\n"
        held = _upload(c, ("seed.md", changed)).json()
        assert len(held["held"]) == 1 and not held["updated"]
        replaced = _upload(c, ("seed.md", changed), replace=True).json()
        assert len(replaced["updated"]) == 1


def test_second_writer_is_told_to_retry(admin_server: Server) -> None:
    """While one upload is being written, another write is answered 503 with Retry-After."""
    slow = admin_server.qa.embedder
    gate = threading.Event()

    class Held(HashingEmbedder):
        def encode_documents(self, texts):  # type: ignore[no-untyped-def]
            gate.wait(30)
            return super().encode_documents(texts)

    admin_server.qa.embedder = Held()
    try:
        with admin_server.client(PASSWORD) as c, ThreadPoolExecutor(1) as pool:
            first = pool.submit(_upload, c, ("slow.md", b"# Slow\n\nA slow article.\n"))
            time.sleep(1)
            assert not first.done(), first.result().text
            deadline = time.monotonic() + 30
            while True:
                busy = c.delete("/v1/articles/whatever")
                if busy.status_code == 503 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            _error(busy, 503, "index_busy")
            assert busy.headers["retry-after"] == "5"
            gate.set()
            assert first.result(timeout=60).status_code == 201
    finally:
        gate.set()
        admin_server.qa.embedder = slow


def test_served_schema_matches_the_checked_in_one(admin_server: Server) -> None:
    """After changing an endpoint or a model: `python -m qa.api.schema` rewrites docs/openapi.json."""
    with admin_server.client() as c:
        served = c.get("/openapi.json").json()
        assert c.get("/docs").status_code == 200
    assert render(served) == render(openapi())
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render(served), (
        "docs/openapi.json differs from the served schema: run `python -m qa.api.schema`")
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))["paths"].keys() >= {
        "/v1/answer", "/v1/search", "/v1/articles", "/v1/articles/{article_id}", "/v1/health"}


# ----------------------------------------------------------------------------- with the real model
@pytest.fixture
def model_server(tmp_path: Path, embedder: Embedder) -> Iterator[Server]:
    files = tmp_path / "files"
    files.mkdir()
    (files / "bushehr.pdf").write_bytes(pdf_bytes())
    (files / "notes.docx").write_bytes(docx_bytes(("The memo says the harbour was dredged in 2019.",),
                                                  title="Harbour memo"))
    qa = QA(tmp_path / "index", sample=False, embedder=embedder)
    qa.ingest([files])
    with _serve(qa, "127.0.0.1", None) as server:
        yield server


def _assert_quotes_are_the_text(c: httpx.Client, answer: dict[str, object]) -> None:
    for citation in answer["citations"]:  # type: ignore[union-attr]
        assert isinstance(citation, dict)
        if citation["kind"] != "text":
            continue
        article = c.get(f"/v1/articles/{citation['article_id']}").json()
        assert article["text"][citation["start"] : citation["end"]] == citation["quote"]
        if article["pages"]:
            starts = article["pages"]
            assert citation["page"] == max(i + 1 for i, s in enumerate(starts) if s <= citation["start"])


@pytest.mark.slow
def test_answers_cite_pdf_pages(model_server: Server) -> None:
    with model_server.client() as c:
        a = c.post("/v1/answer", json={"question": "When was the plant connected to the national grid?"}).json()
        assert a["found"] and "September 2011" in a["text"]
        assert a["citations"][0]["page"] == 3
        _assert_quotes_are_the_text(c, a)
        b = c.post("/v1/answer", json={"question": "When was the harbour dredged?"}).json()
        assert b["found"] and "2019" in b["text"] and b["citations"][0]["page"] is None
        _assert_quotes_are_the_text(c, b)


@pytest.mark.slow
def test_questions_keep_being_answered_during_an_upload(model_server: Server) -> None:
    """A bounded load (4 clients, 24 questions, at most 90 s) while an upload is written: every
    answer is well-formed and quotes its article exactly."""
    questions = ["When did the first engineers arrive from Moscow?", "Who delivered the reactor's fuel?",
                 "How did Iran pay for the work?", "When was the harbour dredged?"] * 6
    big = pdf_bytes(pages=tuple((f"Annex {i}", f"Annex {i} lists the spare parts of pump {i}.",
                                 "Each part was checked twice before shipping.") for i in range(30)), title="Annex")
    started = time.monotonic()
    with ThreadPoolExecutor(5) as pool, model_server.client() as c:
        upload = pool.submit(_upload, c, ("annex.pdf", big))
        answers = list(pool.map(lambda q: c.post("/v1/answer", json={"question": q}), questions))
        assert upload.result(timeout=90).status_code == 201
    assert time.monotonic() - started < 90
    for response in answers:
        assert response.status_code == 200, response.text
        with model_server.client() as c:
            _assert_quotes_are_the_text(c, response.json())
