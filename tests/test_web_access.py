"""The web app's writes through its API, as any client can call them: refused at the handler on a
public address without the admin password, replacements held for confirmation, uploads of other
types or sizes refused before they reach the disk, and the upload cache emptied after use.

The app runs in this process on a loopback port over an index of the test embedder; ``host``
tells it which address it would serve, so a public address is tested without exposing a port.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from embedders import HashingEmbedder
from reliability_report import record

from qa import QA
from qa.access import AdminCredential, hash_password
from qa.settings import Settings
from qa.web.uploads import MAX_FILES_PER_REQUEST, UploadPolicy

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

PASSWORD = "admin password for the tests"
CREDENTIAL = AdminCredential(hash=hash_password(PASSWORD), source="test")
ARTICLE = "# Alpha\n\nAlpha is the first letter. It comes before beta.\n"
FORGED = "# Alpha\n\nAlpha was won by the Chicago Cubs, who represented the AFC.\n"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    def __init__(self, url: str, qa: QA, cache: Path, article_id: str) -> None:
        self.url, self.qa, self.cache, self.article_id = url, qa, cache, article_id

    def client(self) -> Any:
        return gradio_client.Client(self.url, verbose=False)

    def cached(self) -> list[Path]:
        return [p for p in self.cache.rglob("*") if p.is_file()] if self.cache.exists() else []


@pytest.fixture
def serve_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Served]]:
    """Start the app as if on ``host`` with ``credential``; the index holds one article, Alpha."""
    from qa.web.app import build_app, serve

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    demos: list[Any] = []

    def start(host: str, credential: AdminCredential | None, uploads: UploadPolicy | None = None,
              settings: Settings | None = None) -> Served:
        qa = QA(tmp_path / "index", sample=False, embedder=HashingEmbedder(), settings=settings or Settings())
        (tmp_path / "alpha.md").write_text(ARTICLE, encoding="utf-8")
        qa.ingest([tmp_path / "alpha.md"])
        demo = build_app(qa, host, credential)
        demos.append(demo)
        open_uploads = UploadPolicy((".md", ".txt"), qa.settings.upload_max_bytes)
        url = serve(demo, "127.0.0.1", _free_port(), block=False, uploads=uploads or open_uploads)
        return Served(url, qa, tmp_path / "gradio", qa.articles()[0].id)

    yield start
    for demo in demos:
        demo.close()


def _upload(client: Any, path: Path, password: str | None) -> tuple[Any, ...]:
    return tuple(client.predict([gradio_client.handle_file(str(path))], password, api_name="/upload"))


def test_public_address_without_credential_refuses_every_write(serve_app: Callable[..., Served],
                                                               tmp_path: Path) -> None:
    app = serve_app("0.0.0.0", None)
    client = app.client()
    forged = tmp_path / "forged" / "alpha.md"
    forged.parent.mkdir()
    forged.write_text(FORGED, encoding="utf-8")
    before = app.qa.article(app.article_id)
    for password in (None, "", PASSWORD):
        report = _upload(client, forged, password)[0]
        assert "read-only" in report
        note = client.predict(app.article_id, password, api_name="/delete")[0]
        assert "read-only" in note
    assert app.qa.article(app.article_id) == before and len(app.qa.articles()) == 1
    assert [e.action for e in app.qa.audit_log()] == ["add"]  # only the fixture's own ingest
    assert app.cached() == []  # refused uploads are removed from the cache too


def test_admin_password_gates_delete_and_names_the_admin(serve_app: Callable[..., Served]) -> None:
    app = serve_app("0.0.0.0", CREDENTIAL)
    client = app.client()
    for password, refusal in ((None, "needs the admin password"), ("guess", "password is wrong")):
        assert refusal in client.predict(app.article_id, password, api_name="/delete")[0]
    assert len(app.qa.articles()) == 1
    assert "Deleted" in client.predict(app.article_id, PASSWORD, api_name="/delete")[0]
    assert app.qa.articles() == []
    entry = app.qa.audit_log()[0]
    assert (entry.action, entry.actor) == ("delete", "web:admin@127.0.0.1")


def test_loopback_without_credential_writes_without_a_password(serve_app: Callable[..., Served],
                                                               tmp_path: Path) -> None:
    app = serve_app("127.0.0.1", None)
    client = app.client()
    (tmp_path / "beta.md").write_text("# Beta\n\nBeta is the second letter.\n", encoding="utf-8")
    assert "Added 1" in _upload(client, tmp_path / "beta.md", None)[0]
    assert {a.title for a in app.qa.articles()} == {"Alpha", "Beta"}
    assert app.qa.audit_log()[0].actor == "web:local@127.0.0.1"
    assert app.cached() == []  # ingested files are removed from the upload cache
    # Another client (a session that never saw the upload) can delete the article added after the
    # app started; a filter naming a title, not an id, is refused before anything is asked.
    beta = next(a.id for a in app.qa.articles() if a.title == "Beta")
    chat, _, _ = app.client().predict("What is the second letter?", 5, "fused", ["Beta"], "", "", "",
                                      api_name="/ask")
    assert "“Beta” is not the id of an indexed article" in str(chat[-1]["content"])
    assert f"Deleted {beta}" in app.client().predict(beta, None, api_name="/delete")[0]
    assert {a.title for a in app.qa.articles()} == {"Alpha"}


@pytest.mark.slow
def test_another_client_asks_only_an_article_added_after_the_start(serve_app: Callable[..., Served],
                                                                    tmp_path: Path) -> None:
    """The article list of a session that never saw the upload takes the new article's id."""
    app = serve_app("127.0.0.1", None)
    (tmp_path / "beta.md").write_text("# Beta\n\nBeta is the second letter.\n", encoding="utf-8")
    assert "Added 1" in _upload(app.client(), tmp_path / "beta.md", None)[0]
    beta = next(a.id for a in app.qa.articles() if a.title == "Beta")
    chat, _, _ = app.client().predict("What is the second letter?", 5, "fused", [beta], "", "", "",
                                      api_name="/ask")
    reply = str(chat[-1]["content"])
    assert "qa-found" in reply and "is the second letter." in reply and "only: “Beta”" in reply


def test_a_replacement_waits_for_the_admin_to_confirm(serve_app: Callable[..., Served],
                                                      tmp_path: Path) -> None:
    app = serve_app("0.0.0.0", CREDENTIAL)
    client = app.client()
    forged = tmp_path / "forged" / "alpha.md"
    forged.parent.mkdir()
    forged.write_text(FORGED, encoding="utf-8")
    stored = app.qa.article(app.article_id)
    assert stored is not None
    outputs = _upload(client, forged, PASSWORD)
    shown = " ".join(str(o) for o in outputs)
    assert "Replace them?" in shown and stored.content_hash[:12] in shown and "Alpha" in shown
    assert app.qa.article(app.article_id) == stored  # nothing applied yet
    assert len(app.cached()) == 1  # kept for the confirmation only
    # Another client cannot confirm this session's pending replacement.
    app.client().predict(PASSWORD, api_name="/confirm")
    assert app.qa.article(app.article_id) == stored
    # Confirming needs the password as well.
    assert "needs the admin password" in str(client.predict(None, api_name="/confirm"))
    assert app.qa.article(app.article_id) == stored
    client.predict(PASSWORD, api_name="/confirm")
    replaced = app.qa.article(app.article_id)
    assert replaced is not None and "Chicago Cubs" in replaced.text
    entry = app.qa.audit_log()[0]
    assert (entry.action, entry.old_hash, entry.new_hash) == ("replace", stored.content_hash,
                                                               replaced.content_hash)
    assert app.cached() == []


def test_keeping_the_stored_article_discards_the_upload(serve_app: Callable[..., Served],
                                                        tmp_path: Path) -> None:
    app = serve_app("127.0.0.1", None)
    client = app.client()
    forged = tmp_path / "forged" / "alpha.md"
    forged.parent.mkdir()
    forged.write_text(FORGED, encoding="utf-8")
    stored = app.qa.article(app.article_id)
    _upload(client, forged, None)
    assert "nothing was replaced" in str(client.predict(api_name="/cancel"))
    assert app.qa.article(app.article_id) == stored and app.cached() == []


def _post(url: str, files: list[tuple[str, bytes]]) -> httpx.Response:
    return httpx.post(url.rstrip("/") + "/gradio_api/upload",
                      files=[("files", (name, data)) for name, data in files], timeout=30)


def test_upload_route_takes_only_accepted_types_and_sizes(serve_app: Callable[..., Served]) -> None:
    app = serve_app("127.0.0.1", None, settings=Settings(upload_max_mb=0.01))
    limit = app.qa.settings.upload_max_bytes
    assert _post(app.url, [("ok.md", b"# Fine\n\nA line.\n")]).status_code == 200
    ok = app.cached()
    assert len(ok) == 1
    refused = _post(app.url, [("notes.md", b"# Fine\n"), ("tool.exe", b"MZ" * 1000)])
    assert refused.status_code == 415 and "tool.exe" in refused.text
    assert _post(app.url, [("page.MD.exe", b"x")]).status_code == 415
    assert _post(app.url, [("big.md", b"x" * (limit + 1))]).status_code == 413
    many = [(f"{i}.md", b"x") for i in range(MAX_FILES_PER_REQUEST + 1)]
    assert _post(app.url, many).status_code == 413
    assert app.cached() == ok  # nothing refused reached the disk


def test_read_only_server_refuses_every_upload(serve_app: Callable[..., Served]) -> None:
    app = serve_app("0.0.0.0", None, uploads=UploadPolicy(None, 1024 * 1024))
    response = _post(app.url, [("ok.md", b"# Fine\n")])
    assert response.status_code == 403 and "read-only" in response.text
    assert app.cached() == []


def test_configured_upload_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    from qa.errors import ConfigError
    from qa.web.app import upload_policy
    from qa.web.uploads import upload_suffixes

    assert ".md" in upload_suffixes(Settings()) and Settings().upload_max_bytes == 5 * 1024 * 1024
    narrowed = Settings.from_env({"QA_UPLOAD_TYPES": "MD,txt", "QA_UPLOAD_MAX_MB": "1"})
    assert upload_suffixes(narrowed) == [".md", ".txt"]
    assert upload_policy(narrowed, "0.0.0.0", CREDENTIAL) == UploadPolicy((".md", ".txt"), 1024 * 1024)
    assert upload_policy(narrowed, "0.0.0.0", None).suffixes is None
    with pytest.raises(ConfigError, match=r"\.exe"):
        upload_suffixes(Settings(upload_types=(".exe",)))


def _survey(sentences: int) -> str:
    """A long article of distinct sentences, so that embedding it keeps the upload busy."""
    lines = [f"Record {i}: the {('amber', 'cobalt', 'jade', 'ochre')[i % 4]} mill of Hallowmere ward "
             f"{i // 16} was inspected in {1800 + i} by surveyor number {i * 7 % 997}." for i in range(sentences)]
    return "# Hallowmere survey records\n\n" + "\n\n".join(
        "\n".join(lines[i:i + 6]) for i in range(0, len(lines), 6)) + "\n"


CLIENTS = 8
QUESTIONS = ("What did Iran badly need from Russia?", "Where did Nikola Tesla die?",
             "Which NFL team represented the AFC at Super Bowl 50?")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_eight_clients_ask_while_an_admin_uploads(index_copy: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """8 API clients each ask 3 questions while the admin uploads a long article: every question
    is answered without an error, the upload completes and is logged as the admin's."""
    from qa.web.app import build_app, serve

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    qa = QA(index_copy, create=False)
    qa.warm_up()
    demo = build_app(qa, "0.0.0.0", CREDENTIAL)
    url = serve(demo, "127.0.0.1", _free_port(), block=False,
                uploads=UploadPolicy((".md",), qa.settings.upload_max_bytes))
    try:
        upload = tmp_path / "hallowmere.md"
        upload.write_text(_survey(300), encoding="utf-8")
        admin = gradio_client.Client(url, verbose=False)
        results: dict[str, Any] = {}

        def write() -> None:
            started = time.perf_counter()
            results["report"] = _upload(admin, upload, PASSWORD)[0]
            results["upload_s"] = time.perf_counter() - started

        latencies: list[float] = []
        failures: list[str] = []

        def ask(offset: int) -> None:
            client = gradio_client.Client(url, verbose=False)
            for i in range(len(QUESTIONS)):
                started = time.perf_counter()
                chat, sources, _ = client.predict(QUESTIONS[(offset + i) % len(QUESTIONS)], 5, "fused",
                                                  [], "", "", "", api_name="/ask")  # no filter
                latencies.append(time.perf_counter() - started)
                reply = str(chat[-1]["content"]) if chat else ""
                if "Something went wrong" in reply or "qa-answer" not in reply:
                    failures.append(reply[:200])

        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(0.5)  # the upload is being ingested when the questions start
        askers = [threading.Thread(target=ask, args=(i,)) for i in range(CLIENTS)]
        for t in askers:
            t.start()
        for t in (*askers, writer):
            t.join(timeout=300)
        assert not any(t.is_alive() for t in (*askers, writer)), "a client did not finish in 300 s"
        assert failures == [] and len(latencies) == CLIENTS * len(QUESTIONS)
        assert "Added 1" in results["report"], results["report"]
        entry = qa.audit_log()[0]
        assert (entry.action, entry.actor, entry.title) == ("add", "web:admin@127.0.0.1",
                                                            "Hallowmere survey records")
        assert not [p for p in (tmp_path / "gradio").rglob("*") if p.is_file()]
        ordered = sorted(latencies)
        record("web_writes", {"clients": CLIENTS, "questions": len(latencies), "errors": len(failures),
                              "p50_s": round(statistics.median(ordered), 2),
                              "p95_s": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
                              "upload_s": round(results["upload_s"], 1)})
    finally:
        demo.close()
