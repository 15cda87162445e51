"""Decoding: bytes of a file to text, whatever its encoding, with control characters dropped.

UTF-8 (with or without a byte-order mark) is tried first; otherwise an HTML file's declared
charset, then charset-normalizer's guess, checked to read as one alphabet.
"""

from __future__ import annotations

import re
import unicodedata

from qa.errors import IngestError

_DROP_CHARS = dict.fromkeys(
    c for c in range(0x20) if chr(c) not in "\n\t"
) | {0x7F: None, 0xFEFF: None}


def decode(raw: bytes, name: str, html: bool = False, clean: bool = True) -> str:
    """Decode bytes as UTF-8, else as the declared or detected encoding, else reject.

    Args:
        clean: NFC-normalise and drop control characters; JSON is parsed unclean, so SQuAD
            contexts stay verbatim and their answer offsets still map.

    Raises:
        IngestError: the bytes look binary or no encoding reads them as text.
    """
    finish = clean_chars if clean else str
    if b"\x00" in raw[:8192] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise IngestError(name, "looks like a binary file (contains NUL bytes)")
    try:
        return finish(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        pass
    declared = _declared_charset(raw) if html else None
    if declared:
        try:
            return finish(raw.decode(declared))
        except (UnicodeDecodeError, LookupError):
            pass
    text = _guess_decoding(raw)
    if text is None:
        raise IngestError(name, "is not valid UTF-8 and no other text encoding fits it")
    return finish(text)


# Lower-case letters beyond ASCII of the languages legacy single-byte code pages serve.
_ALPHABETS = tuple(frozenset(letters) for letters in (
    "àâæçéèêëîïôœùûüÿ", "äöüß", "áéíóúüñªº", "áâãàçéêíóôõúüªº", "àèéìíîòóùúªº", "áéíóúàèëïöü",
    "àçéèíïòóúü", "æøåé", "åäöé", "äöåšžõü", "áðéíóúýþæö", "áčďéěíňóřšťúůýž",
    "áäčďéíĺľňóôŕšťúýž", "ąćęłńóśźż", "áéíóöőúüű", "ăâîșțşţ", "čćđšž", "çğıöşüâîû",
    "ąčęėįšųūž", "āčēģīķļņšūž", "абвгдеёжзийклмнопрстуфхцчшщъыьэюяіїєґўђјљњћџѓќѕ",
    "αβγδεζηθικλμνξοπρστυφχψωάέήίόύώϊϋΐΰς",
))
_WESTERN = frozenset({"cp1252", "latin_1", "iso8859_15"})


def _guess_decoding(raw: bytes) -> str | None:
    """Decode non-UTF-8 bytes with the most plausible encoding charset-normalizer finds.

    charset-normalizer often ties several single-byte code pages at the same "chaos" and may
    pick one that turns Latin-1 French into "trčs". Among the tied candidates, one whose
    accented letters all belong to a single language's alphabet wins, Western ones first.
    """
    from charset_normalizer import from_bytes

    matches = from_bytes(raw[:262144])
    best = matches.best()
    if best is None or best.chaos > 0.2:
        return None
    tied = [m.encoding for m in matches if m.chaos <= best.chaos + 0.05]  # best first
    plausible = [e for e in tied if _one_alphabet(raw[:262144].decode(e, errors="ignore"))]
    western = [e for e in plausible if e in _WESTERN]
    for encoding in [*western, *plausible, *tied]:
        try:
            return raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
    return None


def _one_alphabet(text: str) -> bool:
    lowered = (c.lower()[0] for c in text if c.isalpha() and not c.isascii())
    letters = {c for c in lowered if not c.isascii()}  # "İ".lower() starts with an ASCII "i"
    return any(letters <= alphabet for alphabet in _ALPHABETS)


def _declared_charset(raw: bytes) -> str | None:
    match = re.search(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_\-]+)", raw[:4096], re.IGNORECASE)
    return match.group(1).decode("ascii") if match else None


def clean_chars(text: str) -> str:
    """NFC-normalise and drop control characters, so offsets count what readers see."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", text).translate(_DROP_CHARS)
