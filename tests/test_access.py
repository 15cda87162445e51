"""Who may write (``qa.access``): loopback open, admin password elsewhere, read-only without one;
hashes from ``qa admin-hash``, never a password in the environment or on the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qa.access import (
    FILE_VARIABLE,
    HASH_VARIABLE,
    AdminCredential,
    access_mode,
    describe,
    hash_password,
    is_loopback,
    load_credential,
    require_write,
    verify,
    writes_allowed,
)
from qa.errors import ConfigError, WriteDeniedError

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def credential() -> AdminCredential:
    return AdminCredential(hash=hash_password(PASSWORD), source="test")


def test_hash_is_salted_and_verifies_only_its_password(credential: AdminCredential) -> None:
    assert PASSWORD not in credential.hash and credential.hash.startswith("scrypt$")
    assert hash_password(PASSWORD) != credential.hash  # a fresh salt every time
    assert verify(credential, PASSWORD)
    for wrong in ("", "correct horse", PASSWORD + " ", PASSWORD.upper()):
        assert not verify(credential, wrong)
    assert not verify(None, PASSWORD) and not verify(credential, None)
    assert "scrypt" not in repr(credential)  # kept out of logs


def test_credential_from_the_environment_or_a_file(tmp_path: Path, credential: AdminCredential) -> None:
    assert load_credential({}) is None
    direct = load_credential({HASH_VARIABLE: credential.hash})
    assert direct is not None and verify(direct, PASSWORD)
    file = tmp_path / "admin.hash"
    file.write_text(credential.hash + "\n", encoding="utf-8")
    from_file = load_credential({FILE_VARIABLE: str(file)})
    assert from_file is not None and verify(from_file, PASSWORD) and from_file.source == str(file)


@pytest.mark.parametrize(("env", "message"), [
    ({HASH_VARIABLE: PASSWORD}, r"\$QA_ADMIN_PASSWORD_HASH: an admin password hash looks like"),
    ({HASH_VARIABLE: "scrypt$16384$8$1$!!$!!"}, "damaged"),
    ({HASH_VARIABLE: "scrypt$1000$8$1$c2FsdA$a2V5"}, "impossible parameters"),
    ({FILE_VARIABLE: "/nonexistent/admin.hash"}, "/nonexistent/admin.hash, which cannot be read"),
    ({HASH_VARIABLE: "x", FILE_VARIABLE: "y"}, "set only one"),
])
def test_a_bad_credential_is_a_config_error_naming_where(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_credential(env)


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.1.1", True), ("localhost", True), ("::1", True), ("[::1]", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("example.org", False), ("", False),
])
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_who_may_write(credential: AdminCredential) -> None:
    assert access_mode("127.0.0.1", None) == "open" and writes_allowed("127.0.0.1", None, None)
    assert access_mode("0.0.0.0", None) == "read-only"
    assert not writes_allowed("0.0.0.0", None, PASSWORD)  # nothing to check a password against
    for host in ("0.0.0.0", "127.0.0.1"):  # a configured credential holds on loopback too
        assert access_mode(host, credential) == "admin"
        assert writes_allowed(host, credential, PASSWORD)
        assert not writes_allowed(host, credential, None) and not writes_allowed(host, credential, "guess")


def test_refusals_say_what_allows_the_write(credential: AdminCredential) -> None:
    with pytest.raises(WriteDeniedError, match="read-only; set \\$QA_ADMIN_PASSWORD_HASH"):
        require_write("0.0.0.0", None, None)
    with pytest.raises(WriteDeniedError, match="needs the admin password"):
        require_write("0.0.0.0", credential, "")
    with pytest.raises(WriteDeniedError, match="password is wrong"):
        require_write("0.0.0.0", credential, "guess")
    require_write("0.0.0.0", credential, PASSWORD)
    require_write("localhost", None, None)


def test_start_message_names_the_mode(credential: AdminCredential) -> None:
    assert describe("0.0.0.0", None).startswith("WARNING") and "read-only" in describe("0.0.0.0", None)
    assert "need no password" in describe("127.0.0.1", None)
    assert "need the admin password" in describe("0.0.0.0", credential)


def test_admin_hash_command_reads_the_password_from_stdin() -> None:
    made = subprocess.run([sys.executable, "-m", "qa.cli", "admin-hash"], input=PASSWORD + "\n",
                          capture_output=True, text=True, timeout=60, check=True)
    hashed = made.stdout.strip()
    assert PASSWORD not in made.stdout + made.stderr
    loaded = load_credential({HASH_VARIABLE: hashed})
    assert loaded is not None and verify(loaded, PASSWORD)
    empty = subprocess.run([sys.executable, "-m", "qa.cli", "admin-hash"], input="\n",
                           capture_output=True, text=True, timeout=60)
    assert empty.returncode == 1 and "must not be empty" in empty.stderr
