"""The page served while the index opens or the sample corpus is built (``qa.web.starting``)."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest

from qa.web.starting import Starting, page, serving


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_port_answers_with_progress_until_the_block_ends_then_is_free() -> None:
    state = Starting("Opening the index.")
    port = _free_port()
    with serving(state, "127.0.0.1", port):
        state.say("Indexing the built-in sample corpus <b>now</b>.")
        state.progress(1_627, 6_507)
        with pytest.raises(urllib.error.HTTPError) as shown:  # 503, so scripts waiting for 200 wait on
            urllib.request.urlopen(f"http://127.0.0.1:{port}/any/path", timeout=5)
        assert shown.value.code == 503 and shown.value.headers["Retry-After"] == "2"
        body = shown.value.read().decode()
        assert "article-qa is starting" in body and 'http-equiv="refresh"' in body
        assert 'value="1627"' in body and "25%" in body
        assert "&lt;b&gt;now&lt;/b&gt;" in body and "<b>now" not in body
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=5)
        assert refused.value.code == 503 and refused.value.headers["Retry-After"] == "2"
        assert json.loads(refused.value.read())["code"] == "starting"
    with socket.socket() as s:  # the app can take the port at once
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))


def test_a_taken_port_is_an_os_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match="cannot listen"), serving(Starting("x"), "127.0.0.1",
                                                                    taken.getsockname()[1]):
            pass


def test_without_a_count_the_bar_is_indeterminate() -> None:
    assert "<progress></progress>" in page(Starting("Loading the models."))
