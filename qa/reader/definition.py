"""Questions that ask what a name is ("Who is Meir Javedanfar?", "What is the IPCC?"), answered
from the sentence that defines it.

Writers introduce a person or a term once, in a few fixed shapes: a copula ("European Union law
is a body of treaties and legislation"), an appositive ("explains Meir Javedanfar, Iran lecturer
at the IDC Herzliya in Israel"), a relative clause ("Philip I, who was Landgrave of Hesse") or an
acronym's expansion ("Public-Private Partnering (PPP)"). Such a sentence answers the question
whatever else it says, while its cosine with a five-word question can be near zero (a long
quotation with the attribution at its end), so the reader's sentence score and confidence miss
it. ``defined_term`` recognises the question, ``definition`` finds the description of the term
in a sentence; ``Reader.read`` quotes the best-scored sentence that has one
(``eval/README.md``, "Definition questions", measures it on SQuAD's).
"""

from __future__ import annotations

import re

from qa.retrieval import STOPWORDS

# Lower-case words a name may hold ("Boleslaw II of Masovia", "Ludwig van Beethoven").
_PARTICLES = frozenset("of the and de du da di del della van von der den la le bin al y".split())
_QUESTION = re.compile(
    r"^\s*(?P<wh>who|what)(?:'s|’s|\s+is|\s+was|\s+are|\s+were)\s+(?P<the>the\s+)?(?P<term>[^?]+?)\s*\?*\s*$",
    re.IGNORECASE)
MAX_TERM_WORDS = 6
MAX_DESCRIPTION_WORDS = 16
_DETERMINER = r"(?:a|an|the|one of the)\b"
# A finite verb inside an appositive means it was a clause, not a description of the name.
_VERB = re.compile(r"\b(?:is|was|are|were|has|had|have|did|does|do|said|says|will|would)\b", re.IGNORECASE)
# Where a description stops: a clause mark, a relative clause about a person or thing (Warsz
# "was a 12th/13th-century nobleman | who owned a village"), or the sentence's end. A dot inside
# a stored sentence ends an abbreviation ("a U.S. senator"), not the description.
# What may close a mention before its description: a quote or bracket it sat in.
_CLOSING = re.compile(r"[\"”’']?\)?\s*")
_STOP = re.compile(r"\s*(?:[,;()]|\.[\"”’')\]]*\s*$|$)|\s+(?:who|which|whose)\b")


def defined_term(question: str) -> str | None:
    """The name a "Who/What is X?" question asks about, or None for any other question.

    X must read as a name of at most ``MAX_TERM_WORDS`` words: capitalised words, a name's
    particles ("of", "van") and at most one lower-case word, last ("European Union law"). After
    "the" only a "what" question counts, every word capitalised ("What is the IPCC?"): "Who is
    the Commissioner of the NFL?" asks who holds a role, "What is the Daleks' main weakness?"
    asks about something else.
    """
    m = _QUESTION.match(question)
    if m is None:
        return None
    term = m.group("term").strip()
    words = term.split()
    if not words or len(words) > MAX_TERM_WORDS or re.search(r"\S['’]s\b|s['’](?!\w)", term):
        return None
    lower = [i for i, w in enumerate(words) if not w[0].isupper() and w.lower() not in _PARTICLES]
    if m.group("the"):
        if m.group("wh").lower() != "what" or lower or not words[0][0].isupper():
            return None
    elif not words[0][0].isupper() or len(lower) > 1 or (lower and lower[0] != len(words) - 1):
        return None
    if lower and words[-1].lower() in STOPWORDS:
        return None
    return term


def definition(term: str, sentence: str) -> tuple[int, int] | None:
    """The character span of ``sentence`` that says what ``term`` is, or None.

    The term is found as whole words, case aside, dots and spaces between its words alike
    ("Alfred S brown" finds "Alfred S. Brown"), and not as a possessive. The shapes tried at each
    mention, in order: a copula ("X (born 1856) was a Serbian American inventor"), a "who is"
    clause, an appositive before the name ("the editor of Electrical World magazine, Thomas
    Commerford Martin") or after it ("Meir Javedanfar, Iran lecturer at the IDC Herzliya in
    Israel"), or a parenthesis after it ("(a friend and publicist)"); then, for an acronym, its
    expansion ("Public-Private Partnering (PPPs)").
    """
    words = [re.escape(w.strip(".")) for w in term.split() if w.strip(".")]
    if not words:
        return None
    found = re.compile(r"(?<!\w)" + r"[\s.]+".join(words) + r"(?!\w|['’]s\b)", re.IGNORECASE)
    for m in found.finditer(sentence):
        span = _described(sentence, m.start(), m.end())
        if span is not None:
            return span
    if re.fullmatch(r"[A-Z][A-Z0-9&-]{1,7}", term):
        return _expansion(term, sentence)
    return None


def _described(sentence: str, start: int, end: int) -> tuple[int, int] | None:
    """The description of the mention of the term at ``[start, end)``, if it has one."""
    closing = _CLOSING.match(sentence, end)
    assert closing is not None  # every part of it is optional
    after = closing.end()
    parenthesis = re.match(r"\(\s*(?P<d>[^()]*)\)\s*", sentence[after:])
    beyond = after + (parenthesis.end() if parenthesis else 0)
    rest = sentence[beyond:]
    copula = re.match(rf"(?:is|was|are|were)\s+(?P<d>{_DETERMINER})", rest, re.IGNORECASE)
    if copula:
        return _phrase(sentence, beyond + copula.start("d"))
    clause = re.match(r",\s*who\s+(?:is|was|are|were)\s+(?P<d>\S)", rest, re.IGNORECASE)
    if clause:
        return _phrase(sentence, beyond + clause.start("d"))
    before = re.search(rf"(?:^|[,;:]\s*)(?P<d>{_DETERMINER}[^,;:()]*?),\s*[\"“‘']?(?:the\s+)?$", sentence[:start],
                       re.IGNORECASE)
    if before:
        return _bounded(sentence, before.start("d"), before.end("d"))
    appositive = re.match(r",\s*[\"“‘']?\s*(?:or\s+)?(?P<d>\S)", rest)
    if appositive:
        span = _phrase(sentence, beyond + appositive.start("d"))
        if span is not None and _noun_phrase(sentence, *span):
            return span
    if parenthesis and re.match(_DETERMINER, parenthesis.group("d"), re.IGNORECASE):
        return _bounded(sentence, after + parenthesis.start("d"), after + parenthesis.end("d"))
    return None


def _phrase(sentence: str, start: int) -> tuple[int, int] | None:
    """The phrase from ``start`` to where a description stops (``_STOP``); the sentence's closing
    marks are left for ``_trimmed``, which keeps a quote the phrase opened."""
    stop = _STOP.search(sentence, start)  # always found: the sentence's end is one
    assert stop is not None
    return _bounded(sentence, start, len(sentence) if stop.group().lstrip().startswith(".") else stop.start())


def _bounded(sentence: str, start: int, end: int) -> tuple[int, int] | None:
    """``[start, end)`` trimmed, or None when nothing or too much is left."""
    start, end = _trimmed(sentence, start, end)
    if end <= start or len(sentence[start:end].split()) > MAX_DESCRIPTION_WORDS:
        return None
    return start, end


def _noun_phrase(sentence: str, start: int, end: int) -> bool:
    """Whether an appositive reads as a noun phrase describing the name, not a clause or the next
    item of a list: no finite verb, no opening past or present participle ("arranged for
    Tesla ..."), and, unless it opens with a determiner, not followed by ", and" or another name
    ("Hasar, Hachiun, and Temüge")."""
    phrase = sentence[start:end]
    first = phrase.split()[0]
    if _VERB.search(phrase) or first.lower() in STOPWORDS - {"a", "an", "the"}:
        return False
    if first[0].islower() and re.search(r"(?:ed|ing)$", first):
        return False
    if re.match(_DETERMINER, phrase, re.IGNORECASE):
        return True
    return not re.match(r"\s*,\s*(?:and|or)\b|\s*,\s*[A-Z][\w-]*\s*(?:,|and\b)", sentence[end:])


def _expansion(acronym: str, sentence: str) -> tuple[int, int] | None:
    """The capitalised words right before "(ACRONYM)": "Public-Private Partnering (PPPs)"."""
    m = re.search(r"((?:[A-Z][\w'’-]*\s+(?:(?:of|on|for|and|the|de)\s+)*){1,8})\(\s*"
                  + re.escape(acronym) + r"s?\s*\)", sentence)
    return _bounded(sentence, m.start(1), m.end(1)) if m else None


def _trimmed(sentence: str, start: int, end: int) -> tuple[int, int]:
    """The span without the spaces, quotes and closing punctuation at its edges; a closing quote
    stays when the span opened it ('the author of "Nuclear Iran: The Birth of an Atomic State."')."""
    while start < end and sentence[start] in " \t\n\"“‘'":
        start += 1
    while end > start and sentence[end - 1] in " \t\n.,;:\"”’'":
        inside = sentence[start:end - 1]
        if sentence[end - 1] in "\"”" and (inside.count('"') % 2 == 1 or inside.count("“") > inside.count("”")):
            break
        end -= 1
    return start, end
