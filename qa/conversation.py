"""Conversation: reading a follow-up question in the light of the turn before it."""

from __future__ import annotations

import re
from collections.abc import Sequence

from qa.models import Turn
from qa.retrieval import STOPWORDS

_PRONOUN_START = re.compile(
    r"^(and|but|what about|how about|so|also)\b|\b(he|she|it|they|him|her|them|his|its|their|that|"
    r"this|there|then)\b", re.IGNORECASE)
SHORT_WORDS = 4  # a question of at most this many words is read as a follow-up
PRONOUN_WORDS = 8  # ... and one of at most this many that leans on a pronoun or a lead-in


def resolve_followup(question: str, history: Sequence[Turn | str]) -> str:
    """Carry the previous question's topic words into a short or pronoun-led follow-up.

    "and Iran?" after "What did Russia need?" becomes "and Iran? Russia need" for retrieval.
    """
    if not history:
        return question
    previous = history[-1]
    previous_q = previous.question if isinstance(previous, Turn) else previous
    words = re.findall(r"\w+", question)
    if len(words) > PRONOUN_WORDS or (len(words) > SHORT_WORDS and not _PRONOUN_START.search(question)):
        return question
    mine = {w.lower() for w in words}
    topic = [w for w in re.findall(r"\w+", previous_q)
             if w.lower() not in STOPWORDS and w.lower() not in mine]
    return f"{question} {' '.join(dict.fromkeys(topic))}".strip() if topic else question
