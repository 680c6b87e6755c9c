"""The grounding check on answers SmolLM2-135M wrote in `make test-real` (tests_real/corpus.py), recorded verbatim.

The bar of tests_real/test_answer_real.py, held offline: the question's chunk stays cited (as evidence, or as
`context` when the sentences that cited it are not supported), and a sentence stating the expected fact is never
marked contradicted, however the model misspells the names around it.
"""

from __future__ import annotations

import pytest

from activities.grounding import ground
from schemas.answer import RetrievedChunk
from schemas.grounded import GroundingInput
from schemas.grounding import Verdict
from tests.grounding_corpus import labelled_chunks
from tests_real.corpus import FACTS

FLOOR = 0.3  # all-MiniLM-L6-v2's
# document -> what the model answered (run of 2026-12-06, temperature 0, seed 42)
RECORDED = {
    "zephyr.md": "The Zephyre reactor, commissioned by Dr. Amelia Hartwell, is a project funded by the ZEPHERA project "
    "consortium and operated by the ZEBREX company.",
    "orchard.md": 'The context states that "the Harlow orchard grows Bramley apples," but it does not provide any '
    "information about who planted the Harlow orchard. The question is asking for a specific person or group, which "
    "is unclear in this context. A more precise answer would be: The Harlow orchard grew Bramley apples from 1920 to "
    "1935.",
    "comet.md": "The answer to this question is: [cometvayra] The comet Veyra returns every 71 years. Astronomer Lucia "
    "Moreno first catalogued it from the Atacama desert.",
    "violin.md": "The context states that the Marlowe violin is made by Giovanni Castel. So the answer to the question "
    "about who made the Marlowe violin lies with the context itself, not with any specific information provided in "
    "the given sentence. The context does not contain any details about who created the Marlowe instrument.",
    "lake.md": 'The answer to the question "How deep is Lake Morrow?" would be: 312 meters.',
    "library.md": "The Brennan library holds 4.2 million books.",
    "clock.md": "The answer to this question would be [alldg@b384b9#0]. The bell in the Aldge Gate Tower is named "
    "Great Tom, which is a reference to the 18th-century design of the clock tower.",
}

# The same questions with the answer prompt without the grounding wording (its run of the same day).
EARLIER = [
    (
        "zephyr.md",
        "The Zephyre reactor is commissioned by Dr. Amelia Hartwell in Lisbon, Portugal.",
    ),
    (
        "orchard.md",
        "The context states that Thomas Greaves planted Bramley apples at Harlow Orchard in 1911, which is a "
        "reference to the Harlow County where the orchard was located. The answer provides more details about"
        " the Harlow Orchard's history and location, but it does not provide any information about who "
        "planted the orchard.",
    ),
    (
        "comet.md",
        "The comet is expected to return every 71 years, which means it will be visible in the night sky for "
        "approximately 2.5 years before returning to Earth's orbit around the Sun on December 31st. The comet"
        " was first discovered by Lucia Moreno in 2014 and has since been tracked across the globe.",
    ),
    (
        "bridge.md",
        "The bridge's main span is approximately 1,240 metres (3,968 feet) in length.",
    ),
    (
        "violin.md",
        "The answer to this question is: [marlowe-varnish#0] The Marlowe violin was made by Giovanni Castel "
        "in Cremona.",
    ),
    (
        "lake.md",
        "The answer to this question depends on the context provided by the document. It mentions that Lake "
        "Morrow has a depth of 312 metres at its deepest point, but it does not provide any information about"
        " how deep the lake actually is. The document only provides details about the Anvel glacier's role in"
        " providing the lake's depth and location within the Anvel ice shelf.",
    ),
    (
        "library.md",
        "The Brennan library is a global organization dedicated to preserving and promoting the history of "
        "the United States Library of Congress (USLHC). It holds 4.2 million books, making it one of the "
        "largest libraries in the world.",
    ),
    (
        "ferry.md",
        "The answer to this question depends on the specific context provided by the given text. However, in "
        "this case, it seems that the salt coat ferry crossing is a scenic route across the island of "
        "Inishmore, which means it takes 45 minutes to cross the island. The exact time and distance are not "
        "specified but based on the context provided, it appears that the Saltcoat ferry crossing is indeed a"
        " scenic route across Inishmore.",
    ),
    (
        "tea.md",
        "The most famous blend of Dunmore Tea Estate is Silver Mist, which is a popular and highly sought-"
        "after blend among tea enthusiasts.",
    ),
    (
        "clock.md",
        "The answer to this question would be [bell].",
    ),
    # A later CI run: a made-up count of people is no rival of the estate's altitude, and "Aldgement" misspells
    # "Aldgate" (same opening, as alike as two rival names) rather than naming another tower.
    (
        "tea.md",
        "The most famous blend of Dunmore tea estate is actually a different version of the Silver Mist, but it's "
        "actually a different one that was created by a team of 10 people at the time.",
    ),
    (
        "clock.md",
        "The answer to this question would be [alldg@cd5060#1]. The bell in the Aldgement Clock Tower is called "
        "Great Tom, and it was named after the 18th-century British aristocrat.",
    ),
]


def retrieved(name: str, others: int) -> list[RetrievedChunk]:
    """The question's chunk first, then `others` of the other documents (as a wider retrieval returns them)."""
    names = [name, *[n for n in FACTS if n != name][:others]]
    return [
        RetrievedChunk(chunk_id=f"{n}@0a1b2c#0", text=FACTS[n][0], source=n, score=0.8 if n == name else 0.3)
        for n in names
    ]


@pytest.mark.parametrize("others", [0, 2])
@pytest.mark.parametrize(("name", "answer"), [*RECORDED.items(), *EARLIER])
def test_the_questions_chunk_stays_cited_and_the_fact_is_not_contradicted(name: str, answer: str, others: int) -> None:
    _doc, question, fact = FACTS[name]
    chunks = retrieved(name, others)
    grounded = ground(answer, GroundingInput(question=question, chunks=chunks), FLOOR)
    assert any(c.chunk_id == chunks[0].chunk_id for c in grounded.citations), grounded.citations
    assert all(any(c.quote in k.text for k in chunks if k.chunk_id == c.chunk_id) for c in grounded.citations)
    for sentence in grounded.grounding.sentences:
        if fact.lower() in sentence.text.lower():
            assert sentence.verdict is not Verdict.CONTRADICTED, sentence


def test_a_misspelt_name_or_an_ordinal_is_no_rival_of_the_quotes_values() -> None:
    """'Zephyre' (in no chunk) is the quote's Zephyr misspelt; '18th' is no rival of the quote's '6 tonnes'."""
    zephyr, clock = FACTS["zephyr.md"][1], FACTS["clock.md"][1]
    misspelt = "The Zephyre reactor was commissioned by Amelia Hartwell."
    ordinal = "The bell is named Great Tom, from the 18th century."
    for question, answer, name in ((zephyr, misspelt, "zephyr.md"), (clock, ordinal, "clock.md")):
        grounded = ground(answer, GroundingInput(question=question, chunks=retrieved(name, 0)), FLOOR)
        assert grounded.grounding.sentences[0].verdict is not Verdict.CONTRADICTED, grounded.grounding


def test_numbers_are_rivals_only_when_they_count_the_same_thing() -> None:
    """'201 books' contradicts '4.2 million books'; '10 people' is no rival of '1,900 metres' (only unsupported)."""
    library, tea = FACTS["library.md"][1], FACTS["tea.md"][1]
    books = "The Brennan library holds 201 books."
    people = "The Dunmore tea estate was founded by 10 people."
    wrong = ground(books, GroundingInput(question=library, chunks=retrieved("library.md", 0)), FLOOR)
    assert wrong.grounding.sentences[0].verdict is Verdict.CONTRADICTED, wrong.grounding
    assert wrong.grounding.sentences[0].conflict is not None and wrong.grounding.sentences[0].conflict.stated == "201"
    other = ground(people, GroundingInput(question=tea, chunks=retrieved("tea.md", 0)), FLOOR)
    assert other.grounding.sentences[0].verdict is Verdict.UNSUPPORTED, other.grounding


def test_a_value_from_another_table_row_contradicts_the_row_the_sentence_names() -> None:
    """Cactus Hall's 18 degrees given to Tamarind House (labelled corpus, run of 2026-12-06): the row naming Tamarind
    House says 29, so the sentence is contradicted though 18 is in a cited row."""
    question = "At what temperature is the Tamarind House kept?"
    answer = (
        "The Tamarind House, a tropical and arid plant species, was kept at 18 degrees Celsius in a glasshouse. The "
        "house has been named after the famous British botanist, John Taylor, who first discovered the plant."
    )
    grounded = ground(answer, GroundingInput(question=question, chunks=labelled_chunks()), FLOOR)
    borrowed, invented = grounded.grounding.sentences
    assert borrowed.verdict is Verdict.CONTRADICTED and borrowed.conflict is not None, borrowed
    assert (borrowed.conflict.stated, borrowed.conflict.found) == ("18", "29")
    assert borrowed.conflict.quote.startswith("Tamarind House") and invented.verdict is Verdict.UNSUPPORTED
    right = ground(answer.replace("18", "29"), GroundingInput(question=question, chunks=labelled_chunks()), FLOOR)
    assert right.grounding.sentences[0].verdict is Verdict.SUPPORTED, right.grounding


def test_a_number_after_a_cited_sentence_is_checked_against_its_quote() -> None:
    """'So the answer is 1047.' rests on no chunk of its own: it speaks of the quote the sentence before cited, which
    says 1,046 (labelled corpus, run of 2026-12-06); the sentence stating 1,046 stays supported."""
    question = "How many species does Harlow Botanic Garden hold?"
    answer = "The context states that Harlow Botanic Garden holds 1,046 species of plants. So the answer is 1047."
    right, wrong = ground(
        answer, GroundingInput(question=question, chunks=labelled_chunks()), FLOOR
    ).grounding.sentences
    assert right.verdict is Verdict.SUPPORTED, right
    assert wrong.verdict is Verdict.CONTRADICTED and wrong.conflict is not None, wrong
    # 1047 reads as a year (1000-2199), so the rival named is the quote's year; the quote is the species sentence's.
    assert wrong.conflict.stated == "1047" and "1,046" in wrong.conflict.quote, wrong.conflict
    same = ground(answer.replace("1047", "1,046"), GroundingInput(question=question, chunks=labelled_chunks()), FLOOR)
    assert all(s.verdict is Verdict.SUPPORTED for s in same.grounding.sentences), same.grounding


def test_a_number_given_to_the_name_before_it_is_the_rivals_and_a_repeat_stays_contradicted() -> None:
    """Harlan's 812 species given to Harlow, Harlan named only after the number, then repeated (labelled corpus, the
    `make test-real` run of 2026-12-06): both sentences contradicted."""
    question = "How many species does Harlow Botanic Garden hold?"
    answer = (
        "The context states that Harlow Botanic Garden holds 812 species of plants, including the famous Tamarind "
        "House and Harlan Rock Garden. The answer is 812."
    )
    grounded = ground(answer, GroundingInput(question=question, chunks=labelled_chunks()), FLOOR)
    for sentence in grounded.grounding.sentences:
        assert sentence.verdict is Verdict.CONTRADICTED and sentence.conflict is not None, sentence
        assert (sentence.conflict.stated, sentence.conflict.found) == ("Harlow", "Harlan")
    right = answer.replace("812", "1,046")
    fixed = ground(right, GroundingInput(question=question, chunks=labelled_chunks()), FLOOR)
    assert all(s.verdict is not Verdict.CONTRADICTED for s in fixed.grounding.sentences), fixed.grounding


def test_a_pronoun_sentence_speaks_of_the_subject_before_it() -> None:
    """'It holds 812 species' after a sentence about Harlow is Harlow's count, though the quote it matches speaks of
    Harlan (labelled corpus, the `make test-real` run of 2026-12-06, verbatim); Harlow's own count is not
    contradicted, and after a sentence about Harlan the same 812 stays Harlan's."""
    question = "How many species does Harlow Botanic Garden hold?"
    answer = (
        "Context:\n[gardens.md@f9b30f#0] Two gardens in the Orvel valley: Harlow Botanic Garden was founded in 1923 "
        "by Edwin Harlan, a seed merchant. It holds 812 species of plants, including 40 species of cacti and 56 "
        "species of trees.\n"
    )
    source = GroundingInput(question=question, chunks=labelled_chunks())
    _, wrong = ground(answer, source, FLOOR).grounding.sentences
    assert wrong.verdict is Verdict.CONTRADICTED and wrong.conflict is not None, wrong
    assert (wrong.conflict.stated, wrong.conflict.found) == ("Harlow", "Harlan"), wrong.conflict
    right = "Harlow Botanic Garden was founded in 1911 by Edith Harlow. It holds 1,046 species of plants."
    assert all(s.verdict is Verdict.SUPPORTED for s in ground(right, source, FLOOR).grounding.sentences)
    harlan = "Harlan Botanic Garden was founded in 1926 by Edwin Harlan. It holds 812 species of plants."
    assert all(s.verdict is Verdict.SUPPORTED for s in ground(harlan, source, FLOOR).grounding.sentences)
