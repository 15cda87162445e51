"""Framing: the words with which a question points at the articles instead of at its topic.

"According to the article, who is Iran's president?" asks what "Who is Iran's president?" asks.
The framing names the source, which here is every article, not the thing asked about. Left in,
its words ("article", "piece") are question words the answer is expected to share: in the BM25
and dense queries, in the sentence features and for the span extractor. On 500 SQuAD questions
framed five ways, about one answer in ten changed and 3.4 to 4.6 points fewer held the answer
(eval/README.md, "Questions framed by their source"). ``unframed`` drops the framing before
retrieval and the reader read the question. The question as shown keeps it: it is not a rewrite
(issue 14 keeps self-contained questions as asked). So does the metadata check, which needs "the
article" in "Who wrote the article?".

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
