"""The grounding check on recorded answers (activities/grounding.py): verdicts, "not in the documents", entities."""

from __future__ import annotations

import pytest

from activities.grounding import NOT_IN_DOCUMENTS, ground, trim_run_on
from schemas.answer import Entity, RetrievedChunk
from schemas.grounded import GroundedAnswer, GroundingInput
from schemas.grounding import AnswerVerdict, Verdict
from tests.grounding_corpus import UNANSWERABLE, labelled_chunks

CHUNKS = labelled_chunks()
FLOOR = 0.12


def check(question: str, answer: str, chunks: list[RetrievedChunk] = CHUNKS, **kw: object) -> GroundedAnswer:
    return ground(answer, GroundingInput(question=question, chunks=chunks, **kw), FLOOR)  # type: ignore[arg-type]


def verbatim(grounded: GroundedAnswer) -> bool:
    texts = {c.chunk_id: c.text for c in CHUNKS}
    return all(c.quote in texts[c.chunk_id] for c in grounded.citations)


# Answers whose number, date or name differs from the same kind of value in the quote they cite (recorded from
# SmolLM2-135M's failures, names and values moved onto the labelled corpus).
CONTRADICTED = [
    # (question, answer, the values either of which the conflict may name)
    ("When was Harlow Botanic Garden founded?", "Harlow Botanic Garden opened in 1926 [gardens.md#0].", "1926 Harlow"),
    ("At what temperature is the Tamarind House kept?", "The Tamarind House is kept at 20 degrees.", "20"),
    ("Who founded Harlan Botanic Garden?", "Harlan Botanic Garden was founded by Edith Harlan in 1926.", "Edith"),
    ("How many species does Harlan Botanic Garden hold?", "Harlan Botanic Garden holds 1,046 species.", "Harlan"),
    ("When was the Harlan rock garden laid out?", "The Harlan rock garden was laid out in 1923.", "1923 Harlan"),
]


@pytest.mark.parametrize(("question", "answer", "stated"), CONTRADICTED)
def test_a_value_that_differs_from_its_quote_is_contradicted(question: str, answer: str, stated: str) -> None:
    grounded = check(question, answer)
    [sentence] = grounded.grounding.sentences
    assert sentence.verdict is Verdict.CONTRADICTED and sentence.conflict is not None
    assert sentence.conflict.stated in stated.split() and sentence.conflict.found in sentence.conflict.quote
    assert any(sentence.conflict.quote in c.text for c in CHUNKS if c.chunk_id == sentence.conflict.chunk_id)
    assert grounded.grounding.verdict is AnswerVerdict.CONTRADICTED and grounded.grounding.score == 0
    # Never presented as cited: what remains is the passage the question points at, labelled context.
    assert all(c.label == "context" for c in grounded.citations) and verbatim(grounded)


def test_the_right_values_are_supported_however_they_are_written() -> None:
    answers = {
        "When was Harlow Botanic Garden founded?": "Harlow Botanic Garden was founded in 1911 by Edith Harlow.",
        "How many species does Harlow Botanic Garden hold?": "Harlow Botanic Garden holds 1046 species of plants.",
        "At what temperature is the Tamarind House kept?": "The Tamarind House is kept at 29 °C [glasshouses.html#0].",
        "Who founded Harlan Botanic Garden?": "Edwin Harlan founded it in 1926 [gardens.md].",
        "What is the notable plant of Cactus Hall?": "The notable plant of Cactus Hall is the Saguaro.",
    }
    for question, answer in answers.items():
        grounded = check(question, answer)
        assert grounded.grounding.verdict is AnswerVerdict.SUPPORTED, (answer, grounded.grounding)
        assert grounded.grounding.score == 1.0 and grounded.answer == answer
        assert any(c.label == "evidence" for c in grounded.citations) and verbatim(grounded)


def test_an_invented_value_is_unsupported_and_the_answer_says_it_is_not_in_the_documents() -> None:
    # The ticket price: an invented figure cited to a real chunk that has no price.
    grounded = check(UNANSWERABLE[0], "A ticket to Harlow Botanic Garden costs 12 pounds [gardens.md#0].")
    [sentence] = grounded.grounding.sentences
    assert sentence.verdict is Verdict.UNSUPPORTED and sentence.missing == ["12"]  # "12 degrees" elsewhere is no price
    assert grounded.grounding.verdict is AnswerVerdict.NOT_IN_DOCUMENTS
    assert grounded.answer.startswith(NOT_IN_DOCUMENTS) and "closest passage" in grounded.answer
    assert grounded.grounding.model_answer is not None and "12 pounds" in grounded.grounding.model_answer
    assert grounded.grounding.reason == "no sentence of the answer is supported by the retrieved chunks"
    assert [c.label for c in grounded.citations] == ["context"] and verbatim(grounded)


def test_a_mixed_answer_keeps_only_its_supported_sentences_as_cited() -> None:
    answer = "Harlow Botanic Garden was founded in 1911 [gardens.md#0]. Entry costs 8 euros for adults."
    grounded = check("When was Harlow Botanic Garden founded?", answer)
    assert [s.verdict for s in grounded.grounding.sentences] == [Verdict.SUPPORTED, Verdict.UNSUPPORTED]
    assert grounded.grounding.verdict is AnswerVerdict.PARTLY_SUPPORTED and grounded.grounding.score == 0.5
    assert all("euros" not in c.quote for c in grounded.citations)


def test_a_refusal_or_nothing_relevant_is_not_in_the_documents() -> None:
    refused = check(UNANSWERABLE[1], "The context does not mention the cafe.")
    assert refused.grounding.verdict is AnswerVerdict.NOT_IN_DOCUMENTS
    assert refused.grounding.reason == "the model found no answer in the retrieved chunks"
    far = [c.model_copy(update={"score": 0.05}) for c in CHUNKS]
    floored = check(UNANSWERABLE[4], "Harlow Botanic Garden was founded in 1911.", far)
    assert floored.grounding.verdict is AnswerVerdict.NOT_IN_DOCUMENTS
    assert floored.grounding.reason is not None and "below the floor 0.12" in floored.grounding.reason
    assert check("Anything?", "Something.", []).answer == NOT_IN_DOCUMENTS


def test_a_run_on_turn_is_cut() -> None:
    answer = "Harlow Botanic Garden was founded in 1911.\n\nQuestion: How many inches is the lily?\nAnswer: 3"
    grounded = check("When was Harlow Botanic Garden founded?", answer)
    assert grounded.answer == "Harlow Botanic Garden was founded in 1911." and grounded.grounding.trimmed
    assert grounded.grounding.verdict is AnswerVerdict.SUPPORTED
    assert trim_run_on("Question: is this the answer?") == ("Question: is this the answer?", False)
    assert trim_run_on("It opened in 1911.<|im_end|>junk") == ("It opened in 1911.", True)


def test_entity_evidence_is_always_a_retrieved_chunk() -> None:
    entities = [
        Entity(text="Edith Harlow", type="person", evidence_chunk_id="gardens.md#0"),  # right
        Entity(text="Saguaro", type="plant", evidence_chunk_id="2024-05-01T10:00:00Z"),  # invented: repaired
        Entity(text="Tamarind House", type="place", evidence_chunk_id="gardens.md#0"),  # wrong chunk: repaired
        Entity(text="Kew Gardens", type="place", evidence_chunk_id="https://example.com/kew"),  # in no chunk: dropped
    ]
    grounded = check("Who founded Harlow Botanic Garden?", "Edith Harlow founded it in 1911.", entities=entities)
    ids = {c.chunk_id for c in CHUNKS}
    assert [(e.text, e.evidence_chunk_id) for e in grounded.entities] == [
        ("Edith Harlow", "gardens.md#0"),
        ("Saguaro", "glasshouses.html#0"),
        ("Tamarind House", "glasshouses.html#0"),
    ]
    assert all(e.evidence_chunk_id in ids for e in grounded.entities)
    assert (grounded.grounding.entities_repaired, grounded.grounding.entities_dropped) == (2, 1)
