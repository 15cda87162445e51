"""Reader: from retrieved passages to the sentence that answers, its key span and a confidence.

- ``reader``: the ``Reader`` (candidate sentences, their scores, the choice, abstention).
- ``features``: cheap text signals of a sentence (answer kind, word overlap, stems).
- ``spans``: the rule that marks a key span by the question's word order.
- ``definition``: "Who/What is X?" questions and the sentence shapes that say what X is.
- ``names``: the names and numbers of a question that an article never mentions, and the name
  of an article that one of them likely misspells.
- ``casing``: a question typed in lower case, read with the capitals its articles give its words.
- ``contrary``: a quote that says the opposite of the question, another year or another name,
  lacks its negation or negates its words.
- ``extractor``: the ``Extractor`` protocol and the shipped fine-tuned span model.
"""

from qa.reader.extractor import BundledExtractor, Extractor, Guess
from qa.reader.features import question_type
from qa.reader.reader import Candidate, Reader, Reading, SentenceView
from qa.reader.spans import SpanWeights, key_span

__all__ = [
    "BundledExtractor", "Candidate", "Extractor", "Guess", "Reader", "Reading", "SentenceView",
    "SpanWeights", "key_span", "question_type",
]
