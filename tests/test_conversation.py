"""Follow-ups (issue 14): rewritten only when they need the earlier turn, and then as readable sentences."""

from __future__ import annotations

import re

import pytest

from qa import Answer, Span, Turn
from qa.conversation import resolve_followup

TESLA = "Who was Nikola Tesla?"
SUPER_BOWL = "Who won Super Bowl 50?"
BRONCOS = Turn(question=SUPER_BOWL, answer="The Denver Broncos defeated the Carolina Panthers 24–10 to earn their "
                                           "third Super Bowl title.")
MONGOLS = Turn(question="who founded the mongol empire?",
               answer='After founding the Mongol Empire and being proclaimed "Genghis Khan", he started the Mongol '
                      'invasions.')
# Turns whose answer's key span names what the question asked for.
STADIUM = Turn(question="Which stadium hosted Super Bowl 50?", key="Levi's Stadium",
               answer="The game was played on February 7, 2016, at Levi's Stadium in the San Francisco Bay Area.")
MVP = Turn(question="Who was the Super Bowl 50 MVP?", key="Von Miller",
           answer="Denver linebacker Von Miller was named Super Bowl MVP.")
WINNER = Turn(question="Who won the Super Bowl 50 MVP award?", key="Von Miller",
              answer="Denver linebacker Von Miller was named Super Bowl MVP.")
ARCHITECT = Turn(question="Which architect designed the Scottish Parliament's building?", key="Enric Miralles",
                 answer="The building was designed by Enric Miralles.")
LARGEST = Turn(question="What is the largest city in Florida by population?", key="Jacksonville",
               answer="Jacksonville is the largest city by population in the U.S. state of Florida.")
EMPLOYER = Turn(question="What company did Tesla work for in 1882?", key="Continental Edison Company",
                answer="In 1882, Tesla began working for the Continental Edison Company in France.")
BUILDER = Turn(question="Who built Iran's nuclear reactor at Bushehr?", key="Moscow",
               answer="Moscow agreed to build Iran's nuclear reactor at Bushehr.")
TEAM = Turn(question="Which team won Super Bowl 50?", key="Denver Broncos",
            answer="The Denver Broncos defeated the Carolina Panthers.")
DEATH = Turn(question="Where did Nikola Tesla die?", key="New Yorker Hotel",
             answer="On 7 January 1943, at the age of 86, Tesla died alone in room 3327 of the New Yorker Hotel.")

# A question that can be read alone is returned exactly as asked, whatever came before.
SELF_CONTAINED = [
    ("Who is Meir Javedanfar?", "How much has the United States spent in Iraq and Afghanistan?"),
    ("And what did Russia need?", "What did Iran badly need from Russia?"),
    ("and what did Iran need?", "What did Russia badly need from Iran?"),
    ("How long did it take to build Bushehr?", TESLA),
    ("Where did Nikola Tesla spend the last years of his life in New York?", "Who was Tesla?"),
    ("Which NFL team represented the AFC at Super Bowl 50?", "Where did Nikola Tesla die?"),
    ("Is it true that Tesla died in New York?", SUPER_BOWL),
    ("What is the capital of Australia?", SUPER_BOWL),
    ("Who wrote the article about Putin and the Ayatollah?", "What did Iran badly need from Russia?"),
    ("Is there a museum about Tesla?", "Where did Nikola Tesla die?"),
    ("Where did Nikola Tesla die?", "What did Iran badly need from Russia?"),
    ("What did Iran need from Russia to build its nuclear program?", SUPER_BOWL),
    ("Who built Bushehr?", TESLA),
    ("Why did Tesla move to New York?", "Who was Marie Curie?"),
    ("What is it that makes Warsaw special?", TESLA),
    ("Tell me about Warsaw", SUPER_BOWL),
    ("So what?", TESLA),
]

# A question that needs the earlier turn becomes the sentence it stands for.
FOLLOW_UPS: list[tuple[str, str | Turn, str]] = [
    ("When did he die?", TESLA, "When did Nikola Tesla die?"),
    ("And when did he die?", TESLA, "When did Nikola Tesla die?"),
    ("What was his job?", TESLA, "What was Nikola Tesla's job?"),
    ("When did he meet Edison?", TESLA, "When did Nikola Tesla meet Edison?"),
    ("When was he born?", "Where did Nikola Tesla die?", "When was Nikola Tesla born?"),
    ("When did her father die?", "Who was Marie Curie?", "When did Marie Curie's father die?"),
    ("and Iran?", "What did Russia need?", "What did Iran need?"),
    ("and Iran?", Turn(question="What did Russia badly need?"), "What did Iran badly need?"),
    ("And Russia?", "What did Iran badly need from Russia?", "What did Russia badly need from Iran?"),
    ("what about the Broncos?", SUPER_BOWL, "What about the Broncos in Super Bowl 50?"),
    ("And Super Bowl 49?", SUPER_BOWL, "Who won Super Bowl 49?"),
    ("And in 1990?", "Who won the election in 1985?", "Who won the election in 1990?"),
    ("And in 1990?", "Who was the president of Poland?", "Who was the president of Poland in 1990?"),
    ("And when?", "Where did Nikola Tesla die?", "When did Nikola Tesla die?"),
    ("What year?", "When did Nikola Tesla die?", "What year did Nikola Tesla die?"),
    ("Where are they based?", BRONCOS, "Where are the Denver Broncos based?"),
    ("Who built it?", "When was Bushehr completed?", "Who built Bushehr?"),
    ("When was it built?", "What did Iran need from Russia to build Bushehr?", "When was Bushehr built?"),
    ("How big is it?", "What is the capital of Australia?", "How big is the capital of Australia?"),
    ("Why did that happen?", "What did the embargo cause?", "Why did the embargo happen?"),
    ("Who built that plant?", "When was Bushehr completed?", "Who built that plant (Bushehr)?"),
    ("What happened that year?", "Who won the election in 1985?", "What happened in 1985?"),
    ("How many people live there?", "Where did Nikola Tesla live in New York?", "How many people live in New York?"),
    ("Who was president then?", "What happened in 1973?", "Who was president in 1973?"),
    ("When was that?", SUPER_BOWL, "When was Super Bowl 50?"),
    ("What is its population?", "Who is the president of Poland?", "What is Poland's population?"),
    ("When was he born?", "Who is the president of Poland?", "When was the president of Poland born?"),
    ("How many sacks did he get?", "Who was the Super Bowl 50 MVP?", "How many sacks did the Super Bowl 50 MVP get?"),
    # typed in lower case: its answer's capitals show that the question already named the empire
    ("when did he die?", MONGOLS, "When did Genghis Khan die?"),
    # the answer's key span, when it names what the question asked for
    ("Where is it?", STADIUM, "Where is Levi's Stadium?"),
    ("Where was he born?", MVP, "Where was the Super Bowl 50 MVP born?"),  # the question names him
    ("Where was he born?", WINNER, "Where was Von Miller born?"),
    ("What river is it on?", LARGEST, "What river is Jacksonville on?"),
    ("Who was their coach?", TEAM, "Who was the Denver Broncos' coach?"),
    ("When did he leave it?", EMPLOYER, "When did Tesla leave the Continental Edison Company?"),  # he: the question's
    ("When was it finished?", BUILDER, "When was Iran's nuclear reactor finished?"),  # it: not who built it
    ("Where is that building?", ARCHITECT, "Where is that building (the Scottish Parliament)?"),  # not the architect
    ("When was it built?", ARCHITECT, "When was the Scottish Parliament built?"),  # the architect is no "it"
    ("When was he born?", ARCHITECT, "When was Enric Miralles born?"),
    ("When was it built?", Turn(question="Where is Levi's Stadium located?", key="Santa Clara",
                                answer="Levi's Stadium is in Santa Clara, California."),
     "When was Levi's Stadium built?"),  # a possessive before a place's noun is part of its name
    ("When was that stadium built?", STADIUM, "When was that stadium (Levi's Stadium) built?"),
    ("When did he die?", Turn(question=TESLA, answer="Tesla was an inventor.", key="inventor"),
     "When did Nikola Tesla die?"),  # no name
    ("Who else lived there?", DEATH, "Who else lived in the New Yorker Hotel?"),  # there: the place answered
    ("When was it built?", DEATH, "When was the New Yorker Hotel built?"),  # done to a place, not by Tesla
    ("When was it built?", Turn(question="Where is the Nojeh airbase?", key="Hamadan", answer="It is in Hamadan."),
     "When was the Nojeh airbase built?"),  # the subject of "Where is ...?" is the place's
    ("When did he die?", DEATH, "When did Nikola Tesla die?"),
    # the event the previous question asked about, with the follow-up's question word
    ("When did it happen?", DEATH, "When did Nikola Tesla die?"),
    ("Why did that happen?", "Where did Nikola Tesla die?", "Why did Nikola Tesla die?"),
    ("Where did it happen?", "When was Martin Luther born?", "Where was Martin Luther born?"),
]


def _words(text: str) -> list[str]:
    return [w.lower().removesuffix("'s").removesuffix("'") for w in re.findall(r"[\w'’–-]+", text)]


def _assert_readable(resolved: str, question: str, previous: str | Turn) -> None:
    """A sentence, not a keyword bag: one question mark, at the end, and every word that is not the
    follow-up's own comes in runs that stand together in the previous turn."""
    earlier = previous.question + " " + previous.answer if isinstance(previous, Turn) else previous
    assert resolved.endswith("?") and "?" not in resolved[:-1], resolved
    own = set(_words(question)) | {"in", "about"}
    names = {w for name in re.findall(r"[A-Z][\w'’-]*(?: [A-Z][\w'’-]*)*", earlier) for w in _words(name)}
    runs = " ".join(w if w not in own else "|" for w in _words(resolved)).split("|")
    for run in filter(None, (r.strip() for r in runs)):  # a swap ("... from Iran") breaks a run at a name
        pieces = " ".join(w if w not in names else "|" for w in run.split()).split("|")
        assert all(p.strip() in " ".join(_words(earlier)) for p in pieces), (resolved, run)


@pytest.mark.parametrize(("question", "previous"), SELF_CONTAINED)
def test_self_contained_question_is_never_changed(question: str, previous: str) -> None:
    assert resolve_followup(question, [previous]) == question
    assert resolve_followup(question, [Turn(question=previous, answer="It was the perfect match.")]) == question


@pytest.mark.parametrize(("question", "previous", "expected"), FOLLOW_UPS)
def test_followup_becomes_a_readable_sentence(question: str, previous: str | Turn, expected: str) -> None:
    resolved = resolve_followup(question, [previous])
    assert resolved == expected
    _assert_readable(resolved, question, previous)
    assert resolve_followup(resolved, [previous]) == resolved  # the rewrite stands alone


def test_turn_after_an_answer_keeps_its_key_span() -> None:
    text = "The game was played at Levi's Stadium."
    found = Answer(question="Which stadium?", found=True, text=text, confidence=0.9,
                   highlight=Span(start=text.index("Levi"), end=len(text) - 1))
    assert Turn.after("Which stadium?", found) == Turn(question="Which stadium?", answer=text, key="Levi's Stadium")
    declined = Answer(question="Which stadium?", found=False, text="The articles don't say.", confidence=0.1)
    assert Turn.after("Which stadium?", declined) == Turn(question="Which stadium?")


def test_issue_14_cases() -> None:
    """The two rewrites the issue reports: a keyword bag added to a question that needed nothing."""
    spent = "How much has the United States spent in Iraq and Afghanistan?"
    assert resolve_followup("Who is Meir Javedanfar?", [Turn(question=spent, answer="$1.6 trillion.")]) \
        == "Who is Meir Javedanfar?"
    assert resolve_followup("And what did Russia need?", ["What did Iran badly need from Russia?"]) \
        == "And what did Russia need?"


def test_no_history_or_nothing_to_point_at() -> None:
    assert resolve_followup("Who built it?", []) == "Who built it?"
    assert resolve_followup("When was he born?", ["What is the boiling point of tungsten?"]) == "When was he born?"
    assert resolve_followup("and the cash?", ["What did Russia need?"]) == "and the cash?"
    assert resolve_followup("When was that?", [TESLA]) == "When was that?"  # "that" is no person


def test_each_conversation_reads_its_own_history() -> None:
    """The browser test's two sessions: the same "When was he born?" after different first questions."""
    assert resolve_followup("When was he born?", ["Where did Nikola Tesla die?"]) == "When was Nikola Tesla born?"
    assert "Tesla" not in resolve_followup("When was he born?", ["What did Iran badly need from Russia?"])


def test_chain_of_followups_keeps_its_topic() -> None:
    history: list[str | Turn] = [TESLA, "When did he die?"]
    assert resolve_followup("Where did he die?", history) == "Where did Nikola Tesla die?"
    assert resolve_followup("And why?", [Turn(question="Where did Nikola Tesla die?"), "And when?"]) \
        == "Why did Nikola Tesla die?"
