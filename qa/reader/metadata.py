"""Questions about an article itself, answered from its metadata: who wrote it, when it was
published, where (its URL: the publisher's site), what it is called.

The text of an article rarely says who wrote it; its record does (the byline, the date line,
the source URL kept at ingest). A question asks for one of those fields only when it says so in
so many words ("Who wrote the article about ...", "When was it published?"), so a question that
merely contains "wrote" ("Who wrote the Declaration of Independence?") goes to the reader.
Which article is meant is retrieval's first passage; when the question names more than the
article ("the article about Putin and the Ayatollah"), its words must be found in that
article's title or passage, else the question is read as any other. A question may also name
the article by its title ("Who wrote Putin and the Ayatollah?"): that asks for a field only when
a retrieved article has that title, or its main title before a colon.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.models import Article, MetadataField, Passage
from qa.reader.features import content_stems
from qa.reader.names import fold

_NOUN = r"(?:article|piece|story|essay|report|column|op-ed|post|text|original)"
_NAMED_ARTICLE = rf"(?:(?:the|this|that) {_NOUN}|the\b[^?]*?\b{_NOUN})"
_ARTICLE = rf"(?:it|this|that|{_NAMED_ARTICLE})"
_BACK = re.compile(rf"\b(?:it|this|that)(?: {_NOUN})?\b", re.IGNORECASE)  # refers to an earlier turn's
_FIELDS: tuple[tuple[MetadataField, re.Pattern[str]], ...] = (
    ("author", re.compile(
        rf"\bwho (?:wrote|writes|authored|penned) {_ARTICLE}\b"
        rf"|\bwho(?:'s| is| was) the (?:author|writer)\b(?:\s*\??\s*$| of (?:{_ARTICLE}\b|[\"“‘']))"
        rf"|\bwhose (?:article|piece|story|essay|column) is\b", re.IGNORECASE)),
    ("published", re.compile(
        rf"\bwhen (?:was|is|did) {_ARTICLE}\b.*\b(?:published|written|posted|dated|come out|appear)\b"
        rf"|\bwhat (?:date|day|year)\b.*\b{_NOUN}\b.*\b(?:published|written|posted|come out|came out|appear\w*)\b"
        r"|\b(?:publication|publishing) date\b", re.IGNORECASE)),
    ("url", re.compile(
        r"\b(?:which|what) (?:newspaper|paper|publication|outlet|magazine|website|site|publisher)\b"
        r".*\b(?:publish\w*|ran|run|print\w*|carried|carry|appear\w*)\b"
        rf"|\bwho published {_ARTICLE}\b|\bwhere (?:was|is) {_ARTICLE} published\b"
        rf"|\bwhere can i (?:read|find|see)\b.*\b{_NOUN}\b", re.IGNORECASE)),
    # "What is this called?" asks for the name of a thing the question just described, not the
    # article's title (a SQuAD question answered with its article's title): "called" needs
    # the article named as such.
    ("title", re.compile(
        rf"\bwhat(?:'s| is) the (?:title|headline) of {_ARTICLE}\b"
        rf"|\bwhat(?:'s| is) {_NAMED_ARTICLE} (?:called|titled)\b|\bwhat(?:'s| is) (?:it|this|that) titled\b",
        re.IGNORECASE)),
)
# A field asked of a work named by its title ("Who wrote Putin and the Ayatollah?", "When was
# The Zorblat Fair published?"): the metadata's only when an article retrieved for the question
# has that title (``is_title``), so "Who wrote the Declaration of Independence?" stays the reader's.
_BY_TITLE: tuple[tuple[MetadataField, re.Pattern[str]], ...] = (
    ("author", re.compile(
        r"^\s*(?:who (?:wrote|authored|penned)|who(?:'s| is| was) the (?:author|writer) of) (?P<work>.+?)\s*\??\s*$",
        re.IGNORECASE)),
    ("published", re.compile(
        r"^\s*when (?:was|did) (?P<work>.+?) (?:published|written|posted|come out|appear)\s*\??\s*$",
        re.IGNORECASE)),
)
# The words that ask for a field (and the article), not about a topic: left out when the rest
# of the question is matched against the article.
_ASKING = frozenset(
    "wrote write writes written authored author writer penned whose article piece story essay "
    "report column op ed post text published publish publication publishing date dated posted "
    "come out appear newspaper paper outlet magazine website site publisher ran run printed "
    "carried title headline called titled about original read find see".split())


# A metadata answer's confidence: the value is the article's own record, so what can still be
# wrong is which article retrieval put first; below 1 for that, above the reader's threshold.
CONFIDENCE = 0.9


@dataclass(frozen=True)
class MetadataAnswer:
    """The field asked for, its value as stored and the article it belongs to."""

    field: MetadataField
    value: str
    article: Article


def asked_field(question: str) -> MetadataField | None:
    """The metadata field a question asks for in so many words, if any."""
    for field, pattern in _FIELDS:
        if pattern.search(question):
            return field
    return None


def titled_field(question: str) -> tuple[MetadataField, str] | None:
    """The field a question asks of a work it names, and that name, when it asks in one of
    ``_BY_TITLE``'s shapes ("Who wrote X?", "When was X published?"). Whether an article is
    titled so is for the caller to find (``is_title``)."""
    for field, pattern in _BY_TITLE:
        m = pattern.match(question)
        if m is not None:
            return field, m.group("work")
    return None


def is_title(named: str, title: str) -> bool:
    """Whether ``named`` is ``title`` word for word, in any case, accents and quotes, or its
    main title before a colon: "Putin and the Ayatollah" names "Putin and the Ayatollah: A
    Bromance to Watch"."""
    words = _words(named)
    return bool(words) and words in (_words(title), _words(title.split(":")[0]))


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", fold(text))


def refers_back(question: str) -> bool:
    """Whether a metadata question names its article only as "it", "this" or "that article"."""
    return bool(_BACK.search(question)) and not re.search(rf"\bthe\b[^?]*\b{_NOUN}\b", question, re.IGNORECASE)


def naming(question: str, title: str) -> str:
    """``question`` with its "it" / "this article" replaced by the article's title in quotes, as
    the follow-up is shown: "Who wrote it?" after a question about Bushehr reads "Who wrote
    “Putin and the Ayatollah: A Bromance to Watch”?", not "Who wrote Bushehr?"."""
    return _BACK.sub(lambda _: f"“{title}”", question, count=1)


def answer_from_metadata(field: MetadataField, question: str, passages: list[Passage],
                         article: Article | None) -> MetadataAnswer | None:
    """The metadata answer to ``question``, which asks for ``field`` (``asked_field``), when
    ``article`` (the first passage's) records it and the question names nothing it does not hold."""
    if article is None or not passages:
        return None
    value = getattr(article, field)
    if value is None:
        return None
    topic = content_stems(question) - {s for w in _ASKING for s in content_stems(w)}
    if topic and not topic & (content_stems(article.title) | content_stems(passages[0].text)):
        return None
    return MetadataAnswer(field, value.isoformat() if field == "published" else str(value), article)
