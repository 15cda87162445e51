"""Who may write: reading is open to everyone, writing (add, replace, delete) needs an admin.

One check for every front end (the web app, the REST API, anything later), so the rule is
written once:

- an admin credential is configured (``$QA_ADMIN_PASSWORD_HASH``, or ``$QA_ADMIN_PASSWORD_FILE``
  naming a file that holds the hash): a write needs its password, on any host;
- none is configured and the server listens on loopback only (127.0.0.1, ::1, localhost): the
  one local user may write without a password (desktop use);
- none is configured and the server listens on any other address: writes are refused, the app
  is read-only and says so at start.

Only a salted scrypt hash is ever stored or passed around (``qa admin-hash`` makes one from a
password read at a prompt), never the password itself; passwords are compared in constant time.

Example:
    >>> credential = AdminCredential(hash=hash_password("correct horse"), source="example")
    >>> writes_allowed("0.0.0.0", credential, "correct horse")
    True
    >>> writes_allowed("0.0.0.0", None, None), writes_allowed("127.0.0.1", None, None)
    (False, True)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from qa.errors import ConfigError, WriteDeniedError

HASH_VARIABLE = "QA_ADMIN_PASSWORD_HASH"
FILE_VARIABLE = "QA_ADMIN_PASSWORD_FILE"
# scrypt cost: n=2**14, r=8 takes about 16 MiB and 50 ms per check, enough to make guessing a
# stolen hash slow without making a sign-in wait. Stored in the hash so it can be raised later.
_SCHEME = "scrypt"
_N, _R, _P = 2**14, 8, 1
_SALT_BYTES = 16
_KEY_BYTES = 32

AccessMode = Literal["open", "admin", "read-only"]


class AdminCredential(BaseModel):
    """The admin's password hash and where it was read from (never the password).

    ``hash`` has the form ``scrypt$N$r$p$salt$key`` (salt and key in URL-safe base64), as
    ``hash_password`` writes it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    hash: str
    source: str

    @field_validator("hash")
    @classmethod
    def _well_formed(cls, value: str) -> str:
        _parse(value.strip())
        return value.strip()

    def __repr__(self) -> str:  # the hash is not secret, but keep it out of logs anyway
        return f"AdminCredential(source={self.source!r})"

    __str__ = __repr__


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    """Decode strictly: a character outside the alphabet is damage, not something to skip."""
    padded = (text + "=" * (-len(text) % 4)).replace("-", "+").replace("_", "/")
    return base64.b64decode(padded, validate=True)


def _parse(hashed: str) -> tuple[int, int, int, bytes, bytes]:
    """Split a stored hash into (n, r, p, salt, key); ``ValueError`` says what is wrong."""
    parts = hashed.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME:
        raise ValueError("an admin password hash looks like scrypt$N$r$p$salt$key; "
                         "make one with `qa admin-hash`")
    try:
        n, r, p = (int(part) for part in parts[1:4])
        salt, key = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        raise ValueError("the admin password hash is damaged; make a new one with `qa admin-hash`") from None
    if n < 2 or n & (n - 1) or r < 1 or p < 1 or not salt or not key:
        raise ValueError("the admin password hash has impossible parameters; make a new one with "
                         "`qa admin-hash`")
    return n, r, p, salt, key


def _derive(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    # maxmem above 128*r*n so a stored hash with a raised cost still verifies
    return hashlib.scrypt(password.encode("utf-8", "surrogatepass"), salt=salt, n=n, r=r, p=p,
                          dklen=length, maxmem=256 * r * n + 2**20)


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password``, fit for ``$QA_ADMIN_PASSWORD_HASH``.

    Raises:
        ValueError: the password is empty.
    """
    if not password:
        raise ValueError("the admin password must not be empty")
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _derive(password, salt, _N, _R, _P, _KEY_BYTES)
    return f"{_SCHEME}${_N}${_R}${_P}${_b64(salt)}${_b64(key)}"


def load_credential(env: Mapping[str, str] | None = None) -> AdminCredential | None:
    """The admin credential the environment configures, or ``None`` where none is.

    Args:
        env: the variables to read (default ``os.environ``).

    Raises:
        ConfigError: both variables are set, the file cannot be read, or the hash is malformed
            (the message names the variable or file).
    """
    env = os.environ if env is None else env
    direct, file = env.get(HASH_VARIABLE, "").strip(), env.get(FILE_VARIABLE, "").strip()
    if direct and file:
        raise ConfigError(f"Both ${HASH_VARIABLE} and ${FILE_VARIABLE} are set; set only one.")
    if file:
        try:
            text = Path(file).read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigError(f"${FILE_VARIABLE} names {file}, which cannot be read "
                              f"({e.strerror or e}).") from None
        return _credential(text, source=file)
    if direct:
        return _credential(direct, source=f"${HASH_VARIABLE}")
    return None


def _credential(hashed: str, source: str) -> AdminCredential:
    try:
        _parse(hashed)
    except ValueError as e:
        raise ConfigError(f"{source}: {e}.") from None
    return AdminCredential(hash=hashed, source=source)


def verify(credential: AdminCredential | None, password: str | None) -> bool:
    """Whether ``password`` is the admin's; always ``False`` without a credential or password."""
    if credential is None or not password:
        return False
    n, r, p, salt, key = _parse(credential.hash)
    return hmac.compare_digest(_derive(password, salt, n, r, p, len(key)), key)


def is_loopback(host: str) -> bool:
    """Whether a server bound to ``host`` is reachable from this machine only.

    ``0.0.0.0``, ``::`` and every other name or address count as public.
    """
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def access_mode(host: str, credential: AdminCredential | None) -> AccessMode:
    """How writes are gated for a server on ``host``: open, admin password, or none at all."""
    if credential is not None:
        return "admin"
    return "open" if is_loopback(host) else "read-only"


def writes_allowed(host: str, credential: AdminCredential | None, password: str | None) -> bool:
    """Whether a write may go ahead on a server bound to ``host`` (see the module docstring)."""
    mode = access_mode(host, credential)
    if mode == "admin":
        return verify(credential, password)
    return mode == "open"


def require_write(host: str, credential: AdminCredential | None, password: str | None) -> None:
    """Refuse a write that ``writes_allowed`` does not allow, saying what would allow it.

    Raises:
        WriteDeniedError: no password or a wrong one, or a public host without a credential.
    """
    if writes_allowed(host, credential, password):
        return
    if credential is None:
        raise WriteDeniedError(
            f"This server listens on {host} and no admin credential is configured, so it is "
            f"read-only; set ${HASH_VARIABLE} (from `qa admin-hash`) or ${FILE_VARIABLE} and restart.")
    if not password:
        raise WriteDeniedError("Changing the articles needs the admin password; sign in first.")
    raise WriteDeniedError("The admin password is wrong; the articles were not changed.")


def describe(host: str, credential: AdminCredential | None) -> str:
    """The line a server prints at start: who may change the articles, and why."""
    if credential is not None:
        return (f"Writes need the admin password (credential from {credential.source}); "
                f"reading is open to everyone who reaches {host}.")
    if is_loopback(host):
        return (f"Listening on {host} (this machine only): uploads and deletes need no password. "
                f"Set ${HASH_VARIABLE} to require one.")
    return (f"WARNING: listening on {host} without an admin credential, so the app is read-only: "
            f"nobody can upload or delete. Set ${HASH_VARIABLE} (from `qa admin-hash`) or "
            f"${FILE_VARIABLE} to allow an admin to write.")
