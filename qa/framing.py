"""How a question is put, as against what it asks: its framing by the source and its end.

"According to the article, who is Iran's president?" asks what "Who is Iran's president?" asks.
The framing names the source, which here is every article, not the thing asked about. Left in,
its words ("article", "piece") are question words the answer is expected to share: in the BM25
and dense queries, in the sentence features and for the span extractor. On 500 SQuAD questions
framed five ways, about one answer in ten changed and 3.4 to 4.6 points fewer held the answer
(eval/README.md, "Questions framed by their source"). ``unframed`` drops the framing before
retrieval and the reader read the question. The question as shown keeps it: it is not a rewrite
(issue 14 keeps self-contained questions as asked). So does the metadata check, which needs "the
article" in "Who wrote the article?".

A question typed without its question mark gets one (``read_as``). SQuAD's questions, which the
extractor and the reader's weights learned from, end with one; people in a chat often leave it
out, and on the same 500 questions one answer in fifteen changed when it was. A question that
ends with a full stop keeps it: SQuAD's own imperatives do ("Name a luxury division of Toyota.").

Only a framing at the start or the end of the question, or set off by commas, is dropped, and
only with a word that means the source: "in the article" or "according to the piece", not "in
the report" or "in the story", which in a question are more often its topic ("What did the IPCC
conclude in the report?", "Who is the villain in the story?").
"""

from __future__ import annotations

import re

from qa.reader.features import content_stems

_SOURCE = r"(?:the|this|these|that|your)\s+(?:articles?|pieces?|passages?|texts?|authors?|writers?)"
# "according to" and "based on" frame whatever follows; "in" and "from" only when a comma closes
# the framing ("In the article, who ..."), since "in the article's title" is part of the question.
_LEADING = re.compile(
    rf"^(?:(?:(?:according to|based on)\s+{_SOURCE}\s*,?|(?:in|from)\s+{_SOURCE}\s*,)\s*)+", re.IGNORECASE)
_INSIDE = re.compile(rf",\s*(?:according to|based on|in)\s+{_SOURCE}\s*,\s*", re.IGNORECASE)
_TRAILING = re.compile(rf",?\s+(?:according to|based on|in)\s+{_SOURCE}\s*(?=[?.!]*$)", re.IGNORECASE)
_MARKS = re.compile(r"\s*[?!]+$")  # "Who won ?!", "Who won??": one question mark, as SQuAD writes it
_ENDED = re.compile(r"[?.!][\"'”’)\]]*$")  # "... left to "float?"" has its mark inside the quotes
_INITIAL = re.compile(r"(?:^|[\s.])[A-Z]\.$")  # "... in the U.S." ends a name, not the question


def read_as(question: str) -> str:
    """``question`` as retrieval and the reader read it: ``unframed``, ending in one question mark
    where it ended in none ("where is the Nojeh airbase" reads "where is the Nojeh airbase?") or
    in several marks; a full stop stays, unless it ends an initial ("... in the U.S.").

    >>> read_as("In the article, what did Iran need")
    'What did Iran need?'
    """
    text = _MARKS.sub("?", unframed(question).rstrip())
    return text if _ENDED.search(text) and not _INITIAL.search(text) else f"{text}?"


def unframed(question: str) -> str:
    """``question`` without the words that frame it by its source, capitalised as a question
    starts; the question itself when nothing frames it or no content word would be left ("What
    is in the article?" stays as asked).

    >>> unframed("According to the article, who is Iran's president?")
    "Who is Iran's president?"
    >>> unframed("How does Obama see Syria, according to the piece?")
    'How does Obama see Syria?'
    >>> unframed("Who wrote the article?")
    'Who wrote the article?'
    """
    text = _TRAILING.sub("", _INSIDE.sub(" ", _LEADING.sub("", question.strip())))
    if text == question.strip() or not content_stems(text):
        return question
    return text[0].upper() + text[1:]
