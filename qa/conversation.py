"""Conversation: reading a follow-up question in the light of the turn before it.

A question is rewritten only when it cannot be read without the earlier turn, and then into a
sentence a person would write, because the rewrite is shown to the user ("read as ...") and is
what retrieval and the reader see. Three kinds of question need the earlier turn:

- one with a word that points back ("When did he die?", "What was his job?", "Who built it?",
  "What happened there?"): the word is replaced by what it stands for, the topic of the previous
  turn ("When did Nikola Tesla die?", "What was Nikola Tesla's job?");
- a fragment ("and Iran?", "what about the Broncos?", "And in 1990?"): it takes the place of the
  matching phrase of the previous question ("What did Iran need?"), or is added to it;
- a bare question word ("and when?"): it takes the place of the previous question's own.

Everything else, a question with its own subject and no word that points back, is returned
exactly as asked, even when it starts with "And" ("And what did Russia need?"): adding the
previous turn's words to it would only pull retrieval back to the old topic (issue 14). Regular
expressions over the text suffice; no language model is loaded, and resolving takes microseconds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from qa.models import Turn
from qa.reader.casing import cased
from qa.retrieval import STOPWORDS

_WH = frozenset("what which who whom whose when where why how".split())
_AUX = frozenset("is was are were be been did do does has have had can could will would should may might".split())
_ADVERB_WH = frozenset("when where why how".split())
_MONTHS = frozenset("january february march april may june july august september october november december".split())
_DO = frozenset("did do does will would can could should may might".split())
_PREPOSITIONS = frozenset("in on at from to for of by with after before during since about near into".split())
_FUNCTION = STOPWORDS | _WH | _AUX | _PREPOSITIONS | {"i", "also", "those", "these", "else"}
_IMPERATIVE = frozenset("tell name list give explain describe show find".split())  # "Tell me ..." names no one
_CONNECTORS = frozenset("of the de da del von van al bin la le du".split())  # inside a name: "Bank of England"
_LEAD_IN = re.compile(r"^\s*(?:(?:and|but|so|also)\b[\s,]*)?(?:(what about|how about)\b\s*)?", re.IGNORECASE)
_POINTING = frozenset("he she they him her them it this that these those".split())
_POSSESSIVE = frozenset("his its their".split())
_PERSONAL = frozenset("he she him her his they them their".split())
_INTERNAL = frozenset("he she they his its their".split())  # after a name in the same question, that name
_DUMMY_IT = re.compile(r"it\s+(?:(?:take|takes|took|cost|costs|seem|seems|seemed|that)\b"
                       r"|(?:is|was)\s+(?:true|possible|likely|known|said)\b|(?:true|possible|likely|known)\b)",
                       re.IGNORECASE)  # "How long did it take ...", "Is it true that ..."
_AUX_ALT = "|".join(sorted(_AUX))
_ADJUNCT_WH = re.compile(rf"^\s*(when|where|why|how(?: \w+)?|(?:what|which) (?:year|day|month|date|time))\s+"
                         rf"(?=(?:{_AUX_ALT})\b)", re.IGNORECASE)
_SUBJECT = re.compile(rf"^\s*(?:who|what|which|where|when|why|how \w+|how)\s+({_AUX_ALT})\s+(.+?)[\s?.!]*$",
                      re.IGNORECASE)
_BUILT = re.compile(r"\b(?:built|constructed|erected|designed|founded|established|opened|completed|renovated"
                    r"|demolished|destroyed|located)\b", re.IGNORECASE)  # what is done to a place, not by a person
_HAPPENED = re.compile(r"^\s*(when|where|why|how)\s+(?:did|does|do|will|would)\s+(?:it|that|this)\s+happen\s*[?.!]*$",
                       re.IGNORECASE)  # "When did it happen?": the event the previous question asked about
_NAME_AFTER = r"((?:the\s+)?[A-Z0-9][\w'’–-]*(?:\s+[A-Z0-9][\w'’–-]*)*)"
_MAX_CHAIN = 3  # earlier turns consulted when the previous question was itself a follow-up
_KEY_WORDS = 6  # the longest key span read as a name ("Levi's Stadium", "Continental Edison Company")
_SINGULAR = frozenset("he she him her his".split())
# Nouns of "Which ...?" that ask for a person, whose name is no "it": "When was it built?" after
# "Which architect designed the building?" asks about the building, "When was he born?" the architect.
_PERSON_NOUNS = frozenset((
    "architect", "artist", "author", "writer", "poet", "painter", "sculptor", "composer", "singer",
    "musician", "actor", "actress", "player", "coach", "quarterback", "president", "king", "queen",
    "emperor", "empress", "prince", "princess", "general", "leader", "ruler", "pope", "bishop",
    "minister", "scientist", "engineer", "inventor", "person", "man", "woman", "founder",
    "chancellor", "governor", "mayor", "senator", "philosopher", "explorer", "director", "producer",
    "commander", "judge", "physician", "economist", "historian", "politician",
))
# Capitalised nouns that a possessive name leads into as one name: "Levi's Stadium", "St Paul's
# Cathedral" (but "Poland's President" is two names).
_PLACE_NOUNS = frozenset((
    "stadium", "arena", "park", "hall", "church", "cathedral", "chapel", "abbey", "college", "university",
    "school", "hospital", "bridge", "tower", "square", "street", "garden", "gardens", "palace", "castle",
    "island", "bay", "field", "theatre", "theater", "center", "centre", "museum", "airport", "station",
    "market", "hotel", "inn", "club", "lane", "road", "house",
))


class _Word(NamedTuple):
    start: int
    end: int
    text: str

    @property
    def low(self) -> str:
        """The word in lower case without a possessive 's."""
        return self.text.lower().removesuffix("'s").removesuffix("’s")


def _words(text: str) -> list[_Word]:
    return [_Word(m.start(), m.end(), m.group()) for m in re.finditer(r"[^\W_][\w'’–-]*", text)]


def _names(text: str) -> list[str]:
    """Capitalised name phrases in ``text``: "Nikola Tesla", "the United States", "Super Bowl 50", "1990".

    A capitalised function word ("Who", "The", "And") is no name; a possessive or a number ends
    one, except a possessive before a capitalised noun of ``_PLACE_NOUNS`` ("Levi's Stadium").
    """
    words, spans, current = _words(text), list[list[int]](), None
    for i, w in enumerate(words):
        if current and text[words[i - 1].end:w.start].strip():  # punctuation ends a name
            spans.append(current)
            current = None
        name = w.text[0].isupper() and w.low not in _FUNCTION and not (i == 0 and w.low in _IMPERATIVE)
        number = w.text[0].isdigit() and (current is not None or re.fullmatch(r"\d{3,4}", w.text) is not None)
        if name or number:
            the = current is None and name and i > 0 and text[words[i - 1].start:w.start].lower() == "the "
            current = current or [words[i - 1].start if the else w.start, 0]
            current[1] = w.start + len(w.low)
            possessive = w.low != w.text.lower()
            if possessive and i + 1 < len(words) and words[i + 1].low in _PLACE_NOUNS \
                    and words[i + 1].text[0].isupper() and text[w.end:words[i + 1].start] == " ":
                current[1] = w.end  # "Levi's Stadium": the possessive is part of the name
            elif possessive or number:
                spans.append(current)
                current = None
        elif current and not (w.low in _CONNECTORS and any(  # "Bank of the United States"
                x.text[0].isupper() for x in words[i + 1:i + 3] if x.low not in _CONNECTORS)):
            spans.append(current)
            current = None
    return list(dict.fromkeys(text[s:e] for s, e in spans + ([current] if current else [])))


def _same(a: str, b: str) -> bool:
    return a.lower().removeprefix("the ") == b.lower().removeprefix("the ")


def _usable(name: str) -> bool:
    """A name a pronoun can stand for: not a bare number or a date ("1990", "October 1973")."""
    return not name.isdigit() and name.removeprefix("the ").split()[0].lower() not in _MONTHS


def _asks(question: str) -> str:
    """The first word of ``question`` in lower case, its question word when it has one ("where")."""
    words = _words(question)
    return words[0].low if words else ""


def _named(key: str) -> bool:
    """Whether an answer's key span is a name a pronoun can stand for ("Levi's Stadium", "Bank of
    England", "the New Yorker Hotel"), not a description ("the expertise"), a date or a long phrase."""
    words = key.removeprefix("the ").split()
    return (0 < len(words) <= _KEY_WORDS and _usable(key) and words[0][0].isupper()
            and all(w[0].isupper() or w.lower() in _CONNECTORS for w in words))


def _with_article(key: str, answer: str) -> str:
    """``key`` with "the" before it where the answer writes it so ("the New Yorker Hotel"), so
    that a rewrite reads as a person would write it ("Who else lived in the New Yorker Hotel?")."""
    if key and re.search(rf"(?<!\w)the\s+{re.escape(key)}(?!\w)", answer, re.IGNORECASE):
        return f"the {key}"
    return key


def _topics(question: str, answer: str, asked: str, key: str) -> tuple[list[str], list[str]]:
    """What a pronoun in ``asked`` may stand for after ``question`` and its ``answer``: (people, things).

    Likeliest first: a person pronoun after "Who won Super Bowl 50?" means the answer's ``key``
    span when it is a name (``_answered``), else the first new name in the answer; otherwise the
    subject after the auxiliary ("Who was [Nikola Tesla]?", "Who was [the Super Bowl 50 MVP]?",
    "What is [the capital of Australia]?"), which says what the answer names in the question's
    own words, then the key span of an answer to "What ...?" or "Which ...?" ("Which stadium
    hosted Super Bowl 50?"), then every other name. A name after a verb that ``asked`` repeats
    comes first for things ("When was it built?" after "... to build Bushehr?"), then, after "Where
    did ... ?" (not "Where is ...?", whose subject is the place's), the place answered when
    ``asked`` says what was done to a place ("When was it built?" after "Where did Tesla die?");
    the person of "Who was Nikola Tesla?" is no thing.
    """
    names = [n for n in _names(question) if _usable(n)]
    found = [n for n in _names(answer) if _usable(n) and not any(_same(n, m) for m in names)]
    who_did = re.match(rf"\s*who\s+(?!(?:{_AUX_ALT})\b)\w+\s+(.+?)[\s?.!]*$", question, re.IGNORECASE)
    subject: list[str] = []
    m = _SUBJECT.match(question)
    copula = m is not None and m.group(1).lower() in ("is", "was", "are", "were")
    asks_who = question.lower().lstrip().startswith("who")
    if m:
        rest = m.group(2)
        if asks_who and copula and len(rest.split()) <= 6:
            subject.append(rest)  # the whole description: "Who was [the Super Bowl 50 MVP]?"
        elif any(rest.startswith(n) for n in names):
            name = next(n for n in names if rest.startswith(n))
            after = rest[len(name):].split()
            whole = copula and after and len(rest.split()) <= 6 and all(
                w.islower() and not w.endswith("ed") and w not in _FUNCTION for w in after)
            subject.append(rest if whole else name)  # "Where is [the Nojeh airbase]?", not "the Nojeh"
        elif re.match(r"(?:the|a|an) ", rest, re.IGNORECASE) and len(rest.split()) <= 6:
            words = rest.split()  # "the capital of Australia" after is/was; "the embargo" of "did the embargo cause"
            subject.append(" ".join(words[:-1] if copula and rest.endswith("ed") else words if copula else words[:2]))
    if who_did:
        words = who_did.group(1).split()
        stop = next((i for i, w in enumerate(words) if i and w.lower() in _FUNCTION - {"of"}), len(words))
        subject.append(" ".join(words[:min(stop, 5)]))
    verbs = {w.low[:4] for w in _words(asked) if len(w.low) >= 4 and w.low not in _FUNCTION}
    echoed = [n for n in names if any(b.lower()[:4] in verbs for b in question[:question.find(n)].split()[-1:])]
    person = subject[:1] if m and subject and (subject[0] in names or asks_who) else []
    answered_people, answered_things = _answered(question, key, asked)
    people = ((answered_people or found[:1]) if who_did else []) + person + answered_people + names + found
    # "When was it built?" after "Where did Tesla die?": the place, not the one who did something there
    built = answered_things if _asks(question) == "where" and m and not copula and _BUILT.search(asked) else []
    things = [t for t in echoed + built + subject + answered_things + names + found
              if not (person and asks_who and copula and _same(t, person[0]))]  # "it" is not "Who was [Nikola Tesla]?"
    return [re.sub("^The ", "the ", p) for p in dict.fromkeys(people)], [
        re.sub("^The ", "the ", t) for t in dict.fromkeys(things)]


def _answered(question: str, key: str, asked: str) -> tuple[list[str], list[str]]:
    """The answer's key span as a (person, thing) a pronoun of ``asked`` may stand for, when it
    is a name ("Levi's Stadium", "Von Miller", not "the expertise" or a date) and ``question``
    asked for one. After "Who ...?" it is a person ("Where was he born?" after "Who won the
    MVP award?"), never "it". After "What ...?" or "Which ...?" it is a thing ("What river is it
    on?" after "What is the largest city in Florida by population?") and a group ("Who was their
    coach?" after "Which NFL team won?"), but not "he" or "she", who is the question's person
    ("When did he leave it?" after "What company did Tesla work for?"), nor "that building" after
    "Which architect designed the building?", a noun the question has besides the one it asks for.
    After "Where ...?" it is a place ("When was it built?" after "Where did Tesla die?"). After
    "Which architect ...?" (a noun of ``_PERSON_NOUNS``) it is a person, as after "Who ...?".
    """
    question_words = [w.low for w in _words(question)]
    asks = _asks(question) if _named(key) else ""
    if asks in ("what", "which") and _PERSON_NOUNS & set(question_words[1:3]):
        asks = "who"  # "Which architect ...?", "What American author ...?"
    if asks == "who":
        return [key], []
    if asks == "where":
        return [], [key]
    if asks not in ("what", "which"):
        return [], []
    follow = [w.low for w in _words(asked)]
    pointed = {n for d, n in zip(follow, follow[1:], strict=False) if d in ("that", "this", "these", "those")}
    if pointed & set(question_words[2:]):
        return [], []
    return ([] if _SINGULAR & set(follow) else [key]), [key]


def _references(body: str, words: list[_Word], own: list[str]) -> list[tuple[_Word, str]]:
    """The words of ``body`` that point back to the earlier turn, each with the kind of its replacement."""
    refs: list[tuple[_Word, str]] = []
    first_name = min((body.find(n) for n in own), default=len(body))
    for i, w in enumerate(words):
        before = words[i - 1].low if i else ""
        after = words[i + 1].low if i + 1 < len(words) else ""
        later = words[i + 2].low if i + 2 < len(words) else ""
        if w.low in _INTERNAL and w.start > first_name:
            continue  # "Where did Tesla spend his last years?": Tesla's
        if w.low == "it" and _DUMMY_IT.match(body, w.start):
            continue
        if w.low in ("it", "that", "this") and (before in ("do", "done", "doing") or before in _DO and not after):
            refs.append((w, "vague"))  # "why did they do it?": an act, not a name
            continue
        if w.low in ("that", "this", "these", "those"):
            content = after and after not in _FUNCTION
            if w.low == "that" and i and (before not in _FUNCTION or before in ("it", "i")):
                if after and not (content and not later):
                    continue  # "the team that won", "is it true that"; not "who built that plant?"
                if not after:
                    refs.append((w, "vague"))  # "who said that?": a statement, not a name
                    continue
            if content and (before not in _DO or (later and later not in _FUNCTION)):
                if not body[words[i + 1].end:].lstrip().startswith("("):  # "that plant (Bushehr)": read already
                    refs.append((w, "determiner"))  # "that year", "this plant"; not "did that happen"
                continue
        if w.low in _POSSESSIVE or w.low == "her" and after and after not in _FUNCTION:  # "her father"
            refs.append((w, "possessive"))
        elif w.low in _POINTING:
            refs.append((w, "entity"))
        elif w.low == "there" and not (after and (before in _AUX or after in _AUX)) or w.low == "then" and i:
            refs.append((w, w.low))  # not "is there a museum", "there was a war", "Then who ...?"
    return refs


def _ending(text: str) -> str:
    """``text`` as a question: capitalised, one question mark at the end."""
    text = text.strip().rstrip(" ?.!")
    return text[:1].upper() + text[1:] + "?"


def _replace(text: str, old: str, new: str) -> str:
    """``text`` with the first whole-word ``old`` replaced by ``new``."""
    return re.sub(rf"(?<!\w){re.escape(old)}(?!\w)", lambda _: new, text, count=1)


def _substituted(lead: str, body: str, refs: list[tuple[_Word, str]], previous: str,
                 people: list[str], things: list[str], key: str) -> str | None:
    """``body`` with each word that points back replaced by what it stands for; None when nothing fits.
    "there" is the place the previous answer named when its question asked "Where ...?", else the
    place the previous question names ("in New York")."""
    person = people[0] if people else None
    if any(w.low in _PERSONAL for w, _ in refs):
        things = [t for t in things if person is None or not _same(t, person)]
    thing = things[0] if things else None
    out, changed = body, False
    year = next((n for n in _names(previous) if n.isdigit()), None)
    named = re.search(r"\b(?:in|at|to|from|near)\s+" + _NAME_AFTER, previous)
    place = key if _named(key) and _asks(previous) == "where" else named.group(1) if named else None
    for w, kind in reversed(refs):
        topic, new, end = (person if w.low in _PERSONAL else thing), None, w.end
        if kind == "entity" and topic:
            new = topic
        elif kind == "possessive" and topic:
            new = topic + ("'" if topic.endswith("s") and not topic.endswith("ss") else "'s")
        elif kind == "there" and place:
            new = f"in {place}"
        elif kind == "then" and year:
            new = f"in {year}"
        elif kind == "determiner" and topic:
            noun = re.match(r"\s*[\w'’-]+", body[w.end:])
            end = w.end + (noun.end() if noun else 0)
            if noun and noun.group().strip().lower() == "year" and year:
                new = year if body[:w.start].lower().endswith("in ") else f"in {year}"
            else:
                new = body[w.start:end] + f" ({topic})"  # "that plant (Bushehr)"
        if new is not None:
            out, changed = out[:w.start] + new + out[end:], True
    if changed:
        return _ending(f"{lead} {out}")
    topic = person if any(w.low in _PERSONAL for w, _ in refs) else thing  # no "he ..., about tungsten"
    return _ending(f"{body.rstrip(' ?.!')}, about {topic}") if topic else None


def _filled(fragment: str, previous: str) -> str | None:
    """The previous question with ``fragment`` ("Iran", "in 1990") in place of its counterpart there."""
    prep = re.match(rf"({'|'.join(_PREPOSITIONS)})\s+(.+)$", fragment, re.IGNORECASE)
    if prep:  # "in 1990": replaces "in 1985" or is added
        slots = re.finditer(rf"\b(?i:{prep.group(1)})\s+" + _NAME_AFTER, previous)
        slot = next((m for m in slots if m.group(1).isdigit() == prep.group(2).isdigit()), None)
        if slot:
            return _ending(previous[:slot.start(1)] + prep.group(2) + previous[slot.end(1):])
        return _ending(f"{previous.rstrip(' ?.!')} {fragment}")
    if fragment not in _names(fragment):
        return None
    names = _names(previous)
    here = next((n for n in names if _same(n, fragment)), None)
    digits = any(c.isdigit() for c in fragment)
    alike = [n for n in names if not _same(n, fragment) and any(c.isdigit() for c in n) == digits]
    if not alike:
        return None
    if here:  # "And Russia?" after "What did Iran need from Russia?": the two swap
        return _ending(_replace(_replace(previous, here, "\0"), alike[0], here).replace("\0", alike[0]))
    return _ending(_replace(previous, alike[0], fragment))


def resolve_followup(question: str, history: Sequence[Turn | str]) -> str:
    """``question`` as it reads after the last turn of ``history``; exactly ``question`` when it stands alone.

    "When did he die?" after "Who was Nikola Tesla?" becomes "When did Nikola Tesla die?", and
    "and Iran?" after "What did Russia need?" becomes "What did Iran need?"; "Who is Meir
    Javedanfar?" stays as it is after any turn. The previous question is first read against the
    turns before it, so a chain of follow-ups keeps its topic, and, typed in lower case, with its
    answer's capitals (``qa.reader.casing``), since its names are found by their capitals.
    """
    if not history:
        return question
    last = history[-1]
    previous, answer, key = (last.question, last.answer, last.key) if isinstance(last, Turn) else (last, "", "")
    key = _with_article(key, answer)
    if len(history) > 1:
        previous = resolve_followup(previous, history[:-1][-_MAX_CHAIN:])
    previous = cased(previous, [answer])
    lead = _LEAD_IN.match(question)
    assert lead is not None  # every part of the pattern is optional
    about, body = (lead.group(1) or ""), question[lead.end():]
    words = _words(body)
    if not words:
        return question
    lows = {w.low for w in words}
    own = _names(body)
    refs = _references(body, words, own)
    people, things = (
        [t for t in topics if not any(_same(t, o) for o in own)] for topics in _topics(previous, answer, body, key))
    happened, swap = _HAPPENED.match(body), _ADJUNCT_WH.match(previous)
    if happened and swap:  # "When did it happen?" after "Where did Tesla die?": "When did Tesla die?"
        return _ending(happened.group(1) + previous[swap.end(1):])
    if refs:
        return _substituted(about, body, refs, previous, people, things, key) or question
    fragment = body.strip(" ?.!")
    if words[0].low in _WH and len(words) <= 2 and not lows & _AUX and fragment.lower() not in _WH - _ADVERB_WH:
        if swap and _ADJUNCT_WH.match(fragment + " is"):
            return _ending(fragment + previous[swap.end(1):])
        return _ending(f"{fragment}, about {things[0]}") if things else question
    if lows & (_WH | _AUX) or len(words) > (5 if about else 4 if lead.end() else 3):
        return question  # a question of its own, "And" or not
    filled = _filled(fragment, previous)
    if filled:
        return filled
    if things and about:  # "what about the Broncos?" after "Who won Super Bowl 50?"
        return _ending(f"{question.rstrip(' ?.!')} in {things[0]}")
    return question
