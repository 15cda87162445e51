"""A quote that says the opposite of a word of the question, another year or another name, or
lacks its negation (``qa.reader.contrary``)."""

from __future__ import annotations

import pytest

from qa.reader.contrary import (
    OPPOSITES,
    negated,
    negative_prefix,
    opposite,
    other_name,
    other_owner,
    other_year,
    unnegated,
)

COURT = "The European Court of Justice is the highest court able to interpret European Union law."


@pytest.mark.parametrize(("question", "quote", "expected"), [
    ("What is the lowest court in the European Union?", COURT, ("lowest", "highest")),
    ("What is the highest court in the European Union?", COURT, None),
    ("Which is the Lowest court?", COURT, ("lowest", "highest")),  # letter case aside
    ("Is it the highest or the lowest court?", COURT, None),  # the question holds both words
    ("What is the lowest court?", "The highest court sits above the lowest court.", None),  # both in the quote
    ("When is the latest known reference to immunity?",
     "The earliest known reference to immunity was during the plague of Athens in 430 BC.", ("latest", "earliest")),
    ("What did Tesla do after leaving Edison?", "Before leaving Edison, Tesla worked on arc lighting.",
     ("after", "before")),
    ("Where did more people die?", "Moreover, the city lost fewer people.", None),  # "more" is not in "Moreover"
    ("Who won the final?", "They lost the final.", None),  # won/lost is not a pair: it was left out
    ("", COURT, None),
])
def test_opposite(question: str, quote: str, expected: tuple[str, str] | None) -> None:
    assert opposite(question, quote) == expected


def test_every_pair_is_two_lower_case_words_listed_once() -> None:
    assert all(a.isalpha() and a.islower() and b.isalpha() and b.islower() and a != b for a, b in OPPOSITES)
    assert len(set(OPPOSITES)) == len(OPPOSITES)


@pytest.mark.parametrize(("a", "b"), OPPOSITES)
def test_each_pair_works_both_ways(a: str, b: str) -> None:
    assert opposite(f"Which one is {a}?", f"This one is {b}.") == (a, b)
    assert opposite(f"Which one is {b}?", f"This one is {a}.") == (b, a)


@pytest.mark.parametrize(("question", "quote", "expected"), [
    ("What does the TEU not do?", "The TEU provides that commitments entered into before the treaty apply.", "not"),
    ("What does the TEU do?", "The TEU provides that commitments entered into before the treaty apply.", None),
    ("What does the TEU not do?", "The TEU does not override the member states.", None),
    ("Why didn't the NFL use Roman numerals?", "The NFL used Arabic numerals.", "didn't"),
    ("Why didn’t the NFL use Roman numerals?", "The NFL used Arabic numerals.", "didn’t"),  # typographic apostrophe
    ("Who never lost a game?", "The team won every game it played.", "never"),
    ("Who never lost a game?", "The team won every game; it never lost.", None),
    ("What can't be funded?", "Funding cannot cover the costs.", None),  # any negation of the list will do
    ("Which is Nothing Hill?", "Notting Hill is in London.", None),  # "nothing" and "Notting" are not "not"
    ("Who were the nominees?", "No nominee was named.", None),  # a negation in the quote alone is no reason
])
def test_unnegated(question: str, quote: str, expected: str | None) -> None:
    assert unnegated(question, quote) == expected


@pytest.mark.parametrize(("question", "quote", "expected"), [
    ("What did Dutch health authorities regard as necessary?", "The authorities regarded the treatment unnecessary.",
     ("necessary", "unnecessary")),
    ("Where is it unlikely that the immune system arose?", "It is likely that the immune system arose in fish.",
     ("unlikely", "likely")),
    ("Who approved the plans?", "Loudoun disapproved the plans.", ("approved", "disapproved")),
    ("What are non-residential buildings?", "Residential buildings are homes.", None),  # it uses "residential"
    ("What are residential buildings?", "Buildings are residential or non-residential.", None),  # the quote uses both
    ("Who is able to legislate?", "Parliament is unable to legislate, and able to advise.", None),  # the root too
    ("Where did Tesla study?", "Tesla did not study; he was untaught.", None),  # no root in the question
    ("What did the form say?", "The letter said to inform them.", ("form", "inform")),  # a prefix is only letters
])
def test_negative_prefix(question: str, quote: str, expected: tuple[str, str] | None) -> None:
    assert negative_prefix(question, quote) == expected


RULES = "The principles are unwritten rules which are not expressly provided for in the treaties."


@pytest.mark.parametrize(("question", "quote", "expected"), [
    ("What type of rules are expressly provided for in treaties?", RULES,
     ("expressly provided", "not expressly provided")),
    ("What type of rules are Expressly Provided for?", RULES, ("Expressly Provided", "not expressly provided")),
    ("Who graduated from the university?", "He never graduated from the university.",
     ("graduated from", "never graduated from")),
    ("Who graduates from the university?", "He didn't graduate from it.", ("graduates from", "didn't graduate from")),
    ("What type of rules are not expressly provided for?", RULES, None),  # the question negates too
    ("Did Tesla graduate from the university?", "He never graduated from the university.", None),  # asks whether
    ("What type of rules are provided for in treaties?", RULES, None),  # one word in a row only
    ("What rules are in the treaties?", "No treaty holds rules.", None),  # "treaty holds" is not in the question
    ("What type of rules are expressly written?", "Some rules are not", None),  # nothing after the negation
])
def test_negated(question: str, quote: str, expected: tuple[str, str] | None) -> None:
    assert negated(question, quote) == expected


@pytest.mark.parametrize(("question", "quote", "expected"), [
    ("What did Priestley publish in 1774?", "Priestley published his findings in 1775 in a paper.", ("1774", "1775")),
    ("What did Priestley publish in 1775?", "Priestley published his findings in 1775 in a paper.", None),
    ("What did Priestley publish in 1774?", "Priestley published his findings in a paper.", None),  # no year said
    ("What did the Department of Energy end in 1974?",
     "Development of the reserve began in 1975, and in 1977 the Department of Energy was created.", ("1974", "1975")),
    ("Who recorded the theme in the 1970s?", "In 1972 Jon Pertwee recorded the theme.", None),  # a decade
    ("Who recorded the theme in the 1970's?", "In 1972 Jon Pertwee recorded the theme.", None),
    ("Which bars opened in 1990?", "Oxygen bars opened in the late 1990s.", None),  # "1990s" holds 1990
    ("In 2013-14, where did NBC finish?", "NBC finished first in 2013–14.", None),
    ("How many died in 1348 or 1349?", "The plague reached Antioch in 1348–49.", None),  # one of them will do
    ("What happened in 1348.5?", "It happened in 1350.", None),  # a decimal is no year in a question
    ("What happened in 1348?", "It cost 1348.5 florins in 1350.", None),  # in a quote any four digits count
    ("How many people lived there?", "In 1775 there were 300.", None),  # the question names no year
])
def test_other_year(question: str, quote: str, expected: tuple[str, str] | None) -> None:
    assert other_year(question, quote) == expected


EU_LAW = "The three sources of European Union law are primary law, secondary law and supplementary law."


@pytest.mark.parametrize(("question", "quote", "expected"), [
    ("What are the three sources of American Union law?", EU_LAW, ("American", "European")),  # the word after the name
    ("What are the three sources of European Union law?", EU_LAW, None),
    ("Who captured Port Beausejour?", "Colonel Monckton captured Fort Beauséjour in June 1755.", ("Port", "Fort")),
    ("Who captured Fort Beausejour?", "Colonel Monckton captured Fort Beauséjour in June 1755.", None),  # accents aside
    # the word before the name
    ("What is the numeral for Super Bowl 51?", "The numeral for Super Bowl 50 was dropped.", ("51", "50")),
    ("What did Poland's army capture?", "The army of Warsaw captured it.", None),  # no name before "army" in the quote
    # a stopword beside the name, with the word beyond it
    ("How many people lived in Poland in 1939?", "In 1939, 1,300,000 people lived in Warsaw.", ("Poland", "Warsaw")),
    ("How many people lived in Poland in 1939?", "In 1939, Warsaw was home to 1,300,000 people.", None),
    ("Who was born in the Kremlin?", "Putin was born in the White House.", None),  # only stopwords beside it
    ("When did Tesla enroll at German Polytechnic?", "In 1875, Tesla enrolled at Austrian Polytechnic in Graz.",
     ("German", "Austrian")),
    # an article between the words before the name and the other name
    ("What did Heath ask Norway to do?", "In 1970 Heath asked the British to join.", ("Norway", "British")),
    ("What did Heath ask Norway to do?", "In 1970 Heath asked a friend to join.", None),  # no name after it
    # an auxiliary between the other name and the words after the question's
    ("What was Srodmiescie ranked the 7th greatest of?", "Moreover, Warsaw was ranked as the 7th greatest market.",
     ("Srodmiescie", "Warsaw")),
    ("What was Srodmiescie ranked?", "Moreover, it was ranked as the 7th greatest market.", None),  # no name before it
    # a sentence's first word
    ("When did Tesla enroll at German Polytechnic?", "Austrian Polytechnic admitted Tesla in 1875.", None),
    # an acronym is no name
    ("What are the sources of American Union law?", "The sources of EU Union law are three.", None),
    # the question's name is in the quote, elsewhere
    ("What are the sources of American Union law?", "The sources of European Union law are American.", None),
    ("What did the American Union pass?", "The European Union passed a law that the American one did not.", None),
    # the quote's name is in the question
    ("How does American Union law differ from European law?", "The sources of European Union law are three.", None),
    # a numeral is no number
    ("What is the numeral for Super Bowl 51?", "The numeral for Super Bowl V was dropped.", None),
    # a name is no number
    ("What is the numeral for Super Bowl 51?", "The numeral for Super Bowl Sunday was dropped.", None),
    ("Who did Denver beat in the final?", "Denver beat Carolina in the final.", None),  # the name is in the quote
    ("what did the team win?", "The team won twice.", None),  # no names or numbers asked
    # a name of several words is swapped only as a whole
    ("How many members did the United Methodist Church have?", "There were 7.2 million in the United States.", None),
    ("How many members did the United Methodist Church have?", "The United Baptist Church had 7.2 million.",
     ("Methodist", "Baptist")),
    # the words beside the name compared by their stems
    ("How many sports does Yale compete in?", "The Harvard Crimson competes in 42 intercollegiate sports.",
     ("Yale", "Crimson")),
    # an ordinal or a season is swapped as a name is
    ("When was the fifth assessment report written?",
     "In 2010, claims in the Fourth Assessment Report were disputed.", ("fifth", "Fourth")),
    ("When was the fourth assessment report written?", "The Fourth Assessment Report was written in 2007.", None),
    ("What caused poor supply after a difficult summer?", "It followed a poor harvest and a difficult winter.",
     ("summer", "winter")),
    ("What caused poor supply after a difficult fall?", "It followed a poor harvest and a difficult winter.",
     None),  # "fall" is no season here: it has a common other sense
    ("What came after the difficult summer?", "It followed a difficult harvest.", None),  # no season in its place
    # a capitalised ordinal is a name, swapped for another name as before
    ("The Second Minister chooses whom?", "Whilst the First Minister chooses the ministers, the Monarch appoints them.",
     ("Second", "First")),
    ("When did the First Pandemic end?", "The Second Pandemic was widespread in the following years.",
     ("First", "Second")),
    # a word the question writes in lower case beside its name is no part of a name in the quote
    ("Who did Tesla work for in the 1880s?",
     "He was hired by Thomas Edison to work at his Edison Machine Works on Manhattan's lower east side.", None),
    ("Where did Tesla study engineering?", "In Paris, Edison studied engineering at night.", ("Tesla", "Edison")),
    ("Which architect was behind the Holyrood parliament building?",
     "The official home of the Scottish Parliament has been a new Scottish Parliament Building.", None),
    # a word that is a name of the question only where it is capitalised
    ("What company owns the American Broadcasting Company?", "ABC is owned by the Disney-ABC Television Group.",
     None),
    # a place's people or language is no other name than the place
    ("What city served as Poland's capital in 1313?", "Then Kraków served as the Polish capital city.", None),
    ("Where was the Kievian force that confronted Subutai's army defeated in 1223?",
     "At the Battle of Kalka River in 1223, Subutai's forces defeated the larger Kievan force.", None),
    ("What is outside the competence of the Scottish Parliament?", "It is outside the competence of the Scotland "
     "Parliament.", None),
    ("What city served as Spain's capital in 1561?", "Then Madrid served as the Spanish capital city.", None),
    ("What city served as France's capital in 1561?", "Then Paris served as the French capital city.", None),
    ("What did Ireland export in 1973?", "In 1973, the Irish exported beef.", None),
    ("What city served as Spain's capital in 1561?", "Then Lisbon served as the Portuguese capital city.",
     ("Spain", "Portuguese")),
    ("What did Iran export in 1973?", "In 1973, Iraq exported oil.", ("Iran", "Iraq")),  # two places
    ("What city served as Iraq's capital in 1313?", "Then Kraków served as the Iranian capital city.",
     ("Iraq", "Iranian")),
    # a name beside a word of kin asks about another person
    ("Which descendant of Genghis Khan sacked Baghdad?", "His descendant Hulagu Khan sacked Baghdad.", None),
    ("Which of Genghis Khan's descendants sacked Baghdad?", "His descendant Hulagu Khan sacked Baghdad.", None),
    ("Which general of Genghis Khan sacked Baghdad?", "His descendant Hulagu Khan sacked Baghdad.",
     ("Genghis", "Hulagu")),
])
def test_other_name(question: str, quote: str, expected: tuple[str, str] | None) -> None:
    assert other_name(question, quote) == expected


def test_other_name_is_no_other_where_the_article_writes_it_beside_the_questions() -> None:
    """"Broncos" is Denver's other name when the article says "Denver Broncos" somewhere."""
    question = "Who is Denver's defensive coordinator?"
    sentence = "Under defensive coordinator Wade Phillips, the Broncos' defense ranked number one."
    assert other_name(question, sentence) == ("Denver", "Broncos")
    assert other_name(question, sentence, lambda: "The Denver Broncos won Super Bowl 50.") is None
    assert other_name(question, sentence, lambda: "Denver\nBroncos won.") == ("Denver", "Broncos")  # another line
    assert other_name(question, sentence, lambda: "Denver beat the Broncos.") == ("Denver", "Broncos")
    assert other_name(question, sentence, lambda: "The denver Broncos won.") == ("Denver", "Broncos")  # as one name


def test_other_name_trusts_no_lower_case_of_a_question_typed_in_lower_case() -> None:
    """Typed in lower case and given the article's capital for "Fifth" only, "assessment report"
    still matches the article's "Assessment Report" beside another ordinal."""
    question = "When was the Fifth assessment report written?"
    sentence = "In 2010, claims in the Fourth Assessment Report were disputed."
    assert other_name(question, sentence) is None
    assert other_name(question, sentence, typed_case=False) == ("Fifth", "Fourth")


def test_other_name_reads_the_answering_sentence_not_its_joined_neighbour() -> None:
    """The reader passes ``other_name`` the quote's sentence that holds the answer: a joined
    neighbour often names someone else in the place of the question's name."""
    born = "Tesla was born on 10 July 1856 in Smiljan."
    quote = f"{born} His father, Milutin Tesla, was an Orthodox priest."
    assert other_name("What is Nikola Tesla's date of birth?", quote) == ("Nikola", "Milutin")
    assert other_name("What is Nikola Tesla's date of birth?", born) is None


PUTIN = ("Russia's President Vladimir Putin (L), who arrived to attend the Gas Exporting Countries Forum, meets with "
         "Iran's Supreme Leader Ayatollah Ali Khamenei in Tehran.")

OBAMA = "But by now U.S. President Barack Obama's policy on Syria, and indeed his entire foreign policy, is clear."
LUDER = ("Martin Luther was born to Hans Luder (or Ludher, later Luther) and his wife Margarethe (née Lindemann) "
         "on 10 November 1483 in Eisleben.")
MVPS = ("Bart Starr (MVP of Super Bowls I and II) and Chuck Howley (MVP of Super Bowl V) appeared via video, "
        "while Peyton Manning (MVP of Super Bowl XLI and current Broncos quarterback) made an appearance.")
LAVROV = "Iranian Foreign Minister Javad Zarif met Russian Foreign Minister Sergei Lavrov in Moscow."


@pytest.mark.parametrize(("question", "sentence", "key", "expected"), [
    # the key span holds another name's role, though the sentence mentions the question's name elsewhere
    ("Who is Iran's president in the article?", PUTIN, "Vladimir Putin", ("Iran", "Russia")),
    ("Who is Iran's president in the article?", PUTIN, "President Vladimir Putin", ("Iran", "Russia")),
    ("Who was Tesla's secretary?", "In 1957, Kosanović's secretary Charlotte Muzar transported Tesla's ashes.",
     "Charlotte Muzar", ("Tesla", "Kosanović")),
    ("Who is the president of Iran?", PUTIN, "Vladimir Putin", ("Iran", "Russia")),  # the role "of" the name
    ("What is the capital of Spain?", "France's capital Paris is large.", "Paris", ("Spain", "France")),
    ("Who is the president of Russia?", PUTIN, "Vladimir Putin", None),
    # the question's own owner, or the role of a place's people, or another role
    ("Who is Russia's president?", PUTIN, "Vladimir Putin", None),
    ("Who is Iran's supreme leader?", PUTIN, "Ayatollah Ali Khamenei", None),
    ("Who was Nikola Tesla's secretary?", "Tesla's loyal secretary Dorothy Skerritt wrote a memoir.",
     "Dorothy Skerritt", None),
    ("Who is Spain's king?", "Then Madrid welcomed Spanish king Philip II.", "Philip II", None),
    ("Who is Iran's president in the article?", PUTIN, "Ayatollah Ali Khamenei", None),
    # a role that passes down a line: Hulagu's descendant is Genghis Khan's too
    ("Which of Genghis Khan's descendants pushed the Mamluks out of Palestine?",
     "His descendant Hulagu Khan sacked Baghdad, but Hulagu's descendant Ghazan Khan would beat the Mamluks.",
     "Ghazan Khan", None),
    # another place's people's word or initials before the title ("Russian President", "U.S. President")
    ("Who is Iran's president?", "The talks were between Russian President Vladimir Putin and Iran's Supreme Leader.",
     "Vladimir Putin", ("Iran", "Russian")),
    ("Who is the president of Syria?", OBAMA, "Barack Obama", ("Syria", "U.S.")),
    ("Who was Britain's prime minister?", "French Prime Minister Georges Clemenceau said no.", "Georges Clemenceau",
     ("Britain", "French")),
    # the key span's name in apposition to another name's role
    ("Who is America's president?", "In 1975, Fred Pierce, the newly appointed president of ABC Television, quit.",
     "Fred Pierce", ("America", "ABC Television")),
    ("Who is ABC's president?", "In 1975, Fred Pierce, the newly appointed president of ABC Television, quit.",
     "Fred Pierce", None),
    # "and his" after another name: Margarethe was Hans Luder's wife, Martin Luther's mother
    ("Who was Martin Luther's wife?", LUDER, "Margarethe", ("Martin Luther", "Hans Luder")),
    ("Who was Hans Luder's wife?", LUDER, "Margarethe", None),
    ("Who was Martin Luther's mother?", LUDER, "Margarethe", None),
    ("Who was Tesla's wife?", "Tesla and his wife Anna lived there.", "Anna", None),
    # a role of another event of the same name, told by its number ("Super Bowl V" is not 50)
    ("Who is the MVP of Super Bowl 50?", MVPS, "Chuck Howley", ("Super Bowl 50", "Super Bowl V")),
    ("Who is the MVP of Super Bowl 50?", MVPS, "Peyton Manning", ("Super Bowl 50", "Super Bowl XLI")),
    ("Who was the MVP of Super Bowl V?", MVPS, "Chuck Howley", None),
    ("Who was the MVP of Super Bowl 5?", MVPS, "Chuck Howley", None),
    # a head of state or government, whatever the title: "Syria's leader" is no U.S. President's
    ("Who is Syria's leader?", OBAMA, "Barack Obama", ("Syria", "U.S.")),
    ("Who is Iran's leader?", PUTIN, "Vladimir Putin", ("Iran", "Russia")),
    ("Who is Iran's leader?", PUTIN, "Ayatollah Ali Khamenei", None),
    # the place's own people's word or initials, a title's word that names no country, a person's
    # officer, a place of two words, or a role that is no office of state
    ("Who is Iran's president?", "Iranian President Hassan Rouhani spoke.", "Hassan Rouhani", None),
    ("Who is Russia's foreign minister?", LAVROV, "Sergei Lavrov", None),
    ("Who is America's president?", OBAMA, "Barack Obama", None),
    ("Who is the president of the U.S.?", OBAMA, "Barack Obama", None),
    ("Who is the president of the United States?", "American President Barack Obama spoke.", "Barack Obama", None),
    ("Who is Poland's president?", "Former President Lech Wałęsa spoke.", "Lech Wałęsa", None),
    ("Who is Russia's foreign minister?", LAVROV, "Javad Zarif", None),  # "foreign" is no office: Hitler's was German
    ("Who was Hitler's foreign minister?", "German Foreign Minister Joachim von Ribbentrop flew to Moscow.",
     "Joachim von Ribbentrop", None),
    ("Who was Chopin's teacher?", "He studied with the Czech Teacher Wojciech Żywny.", "Wojciech Żywny", None),
    # a key that is no holder's name: "return spread" answers what Luther's return caused
    ("What did Schurf's letter say Luther's return caused?", 'He wrote: "what joy has Dr. Martin\'s return spread!"',
     "spread", None),
])
def test_other_owner(question: str, sentence: str, key: str, expected: tuple[str, str] | None) -> None:
    assert other_owner(question, sentence, sentence.index(key)) == expected
