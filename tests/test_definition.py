"""Questions that ask what a name is, and the sentences that say it (``qa.reader.definition``)."""

from __future__ import annotations

import pytest

from qa.reader.definition import defined_term, definition

JAVEDANFAR = ('"But the hardliners support such relations," explains Meir Javedanfar, Iran lecturer at the '
              "IDC Herzliya in Israel.")


@pytest.mark.parametrize(("question", "term"), [
    ("Who is Meir Javedanfar?", "Meir Javedanfar"),
    ("who was Alfred S brown ?", "Alfred S brown"),
    ("What is the IPCC?", "IPCC"),
    ("What's European Union law?", "European Union law"),
    ("Who was Boleslaw II of Masovia?", "Boleslaw II of Masovia"),
    ("Who is Conan O'Brien?", "Conan O'Brien"),
    ("What were Mohammedanism and the Turk?", "Mohammedanism and the Turk"),
])
def test_questions_about_what_a_name_is(question: str, term: str) -> None:
    assert defined_term(question) == term


@pytest.mark.parametrize("question", [
    "Who is Iran's president?",  # a possessive asks about something of the name's
    "Who is the Commissioner of the National Football League?",  # who holds a role
    "What is the Daleks' main weakness?",
    "What is Samuel K. Cohn Jr.'s career?",
    "Who was the 2015 NFL MVP?",
    "What was French population in North America?",  # a function word: not a name
    "What were British plans against French?",
    "What was Hollywood known as?",
    "Who is France a traditional ally of?",
    "What is the capital of Australia?",
    "What did Iran badly need from Russia?",
    "Who is he?",
])
def test_other_questions_are_not_definition_questions(question: str) -> None:
    assert defined_term(question) is None


def _described(term: str, sentence: str) -> str | None:
    span = definition(term, sentence)
    return None if span is None else sentence[span[0]:span[1]]


@pytest.mark.parametrize(("term", "sentence", "described"), [
    ("Meir Javedanfar", JAVEDANFAR, "Iran lecturer at the IDC Herzliya in Israel"),
    ("Javedanfar", JAVEDANFAR, "Iran lecturer at the IDC Herzliya in Israel"),
    ("Nikola Tesla", "Nikola Tesla (10 July 1856 – 7 January 1943) was a Serbian American inventor, electrical "
     "engineer and futurist.", "a Serbian American inventor"),
    ("European Union law", "European Union law is a body of treaties and legislation, such as Regulations.",
     "a body of treaties and legislation"),
    ("Warsz", "The city is named after Warsz, who was a 12th/13th-century nobleman who owned a village.",
     "a 12th/13th-century nobleman"),
    ("Thomas Commerford Martin", "In 1888, the editor of Electrical World magazine, Thomas Commerford Martin "
     "(a friend and publicist), arranged for Tesla to demonstrate his system.",
     "the editor of Electrical World magazine"),
    ("Alfred S brown", "In late 1886 Tesla met Alfred S. Brown, a Western Union superintendent, and New York "
     "attorney Charles F. Peck.", "a Western Union superintendent"),
    ("Philip I", "Philip I, Landgrave of Hesse, sought an alliance.", "Landgrave of Hesse"),
    ("Ted Cruz", "Ted Cruz is a U.S. senator from Texas.", "a U.S. senator from Texas"),
    ("David Patrikarakos", 'David Patrikarakos is the author of "Nuclear Iran: The Birth of an Atomic State."',
     'the author of "Nuclear Iran: The Birth of an Atomic State."'),
    ("PPP", "New forms include partnering such as Public-Private Partnering (PPPs) aka private finance "
     "initiatives.", "Public-Private Partnering"),
    ("IPCC", "The Intergovernmental Panel on Climate Change (IPCC) is a scientific intergovernmental body under "
     "the auspices of the United Nations, set up at the request of member governments.",
     "a scientific intergovernmental body under the auspices of the United Nations"),
])
def test_the_description_of_a_name(term: str, sentence: str, described: str) -> None:
    assert _described(term, sentence) == described


@pytest.mark.parametrize(("term", "sentence"), [
    ("Hasar", "Temüjin had three brothers, Hasar, Hachiun, and Temüge, and one sister."),  # a list, not an appositive
    ("Thomas Commerford Martin", "Thomas Commerford Martin, arranged for Tesla to demonstrate it."),  # a verb
    ("Igor Konashenkov", "Russian Defense Ministry spokesman Major General Igor Konashenkov said so."),
    ("Meir Javedanfar", "The hardliners support such relations."),  # not mentioned
    ("Tesla", "Teslas were sold, and the company grew."),  # whole words only
    ("Peyton Manning", "Peyton Manning's wife, Ashley, was there."),  # a possessive
    ("CO", "Oxygen is used in welding; the emphasis is on a clean flame."),
])
def test_no_description_is_read_into_other_sentences(term: str, sentence: str) -> None:
    assert definition(term, sentence) is None
