"""Citations that do not depend on obedience (activities/citations.py): verbatim quotes, inferred attribution."""

from __future__ import annotations

from activities.citations import MAX_QUOTE_CHARS, cite
from schemas.answer import RetrievedChunk
from starter.cli.corpus import SAMPLE_DOCS

ZEPHYR = SAMPLE_DOCS["zephyr.md"]
CHUNKS = [
    RetrievedChunk(chunk_id="zephyr.md#0", text=ZEPHYR, source="zephyr.md"),
    RetrievedChunk(
        chunk_id="guide.md#1", text="Chroma   listens\non port 8002. The gateway listens on port 8000.", source="g.md"
    ),
]


def verbatim(citations: list, chunks: list[RetrievedChunk] = CHUNKS) -> bool:  # type: ignore[type-arg]
    by_id = {c.chunk_id: c.text for c in chunks}
    return all(c.quote and c.quote in by_id[c.chunk_id] for c in citations)


def test_named_chunks_are_cited_with_their_own_sentence() -> None:
    answer = "Amelia Hartwell commissioned it in 1987 [zephyr.md#0]. Chroma uses port 8002 [guide.md#1]."
    found = cite(answer, CHUNKS)
    assert [(c.chunk_id, c.inferred) for c in found] == [("zephyr.md#0", False), ("guide.md#1", False)]
    # The quote is the chunk's sentence, cut from the chunk's own text (spacing and all), not the model's words.
    assert found[0].quote == "The Zephyr reactor was commissioned in 1987 by Dr. Amelia Hartwell in Lisbon."
    assert found[1].quote == "Chroma   listens\non port 8002."
    assert found[0].source == "zephyr.md"
    assert verbatim(found)


def test_answer_without_ids_gets_inferred_citations() -> None:
    answer = "The Zephyr reactor was commissioned by Dr. Amelia Hartwell in 1987. Its coolant is molten fluoride salt."
    found = cite(answer, CHUNKS)
    assert [(c.chunk_id, c.inferred) for c in found] == [("zephyr.md#0", True)] * 2
    assert "Amelia Hartwell" in found[0].quote and "molten fluoride salt" in found[1].quote
    assert verbatim(found)


def test_each_uncited_sentence_finds_its_own_chunk() -> None:
    answer = "The gateway listens on port 8000. The reactor produced 40 megawatts [zephyr.md#0]."
    found = cite(answer, CHUNKS)
    assert [(c.chunk_id, c.inferred) for c in found] == [("guide.md#1", True), ("zephyr.md#0", False)]
    assert found[0].quote == "The gateway listens on port 8000."
    assert found[1].quote == "The reactor produced 40 megawatts at full power."


def test_unknown_ids_do_not_count_as_citations() -> None:
    found = cite("Chroma listens on port 8002 [made-up#3].", CHUNKS)
    assert [(c.chunk_id, c.inferred) for c in found] == [("guide.md#1", True)]


def test_each_sentence_keeps_its_own_quote_of_a_chunk() -> None:
    answer = "Dr. Amelia Hartwell commissioned it [zephyr.md#0]. Its coolant is molten fluoride salt [zephyr.md#0]."
    found = cite(answer, CHUNKS)
    assert [c.quote for c in found] == [
        "The Zephyr reactor was commissioned in 1987 by Dr. Amelia Hartwell in Lisbon.",
        "Its coolant is molten fluoride salt.",
    ]


def test_an_explicit_citation_anywhere_wins_over_an_inferred_one() -> None:
    answer = "Chroma listens on port 8002. Again: Chroma listens on port 8002 [guide.md#1]."
    [citation] = cite(answer, CHUNKS)
    assert (citation.chunk_id, citation.inferred) == ("guide.md#1", False)


def test_no_citation_without_enough_shared_words() -> None:
    assert cite("I do not know.", CHUNKS) == []
    assert cite("Bananas grow on trees in Lisbon.", CHUNKS) == []  # one shared word of several is not support


def test_long_sentences_are_quoted_verbatim_within_the_limit() -> None:
    long = RetrievedChunk(chunk_id="long#0", text=" ".join(f"word{i}" for i in range(200)) + " ends here.")
    [citation] = cite("word1 word2 word3 [long#0]", [long])
    assert len(citation.quote) <= MAX_QUOTE_CHARS and citation.quote in long.text
    assert citation.quote.startswith("word0 word1")


def test_a_paraphrased_answer_is_attributed_as_a_whole_with_the_question() -> None:
    # No sentence covers half its words in one chunk sentence (a misspelt name, facts run together), yet the answer
    # and the question it answers point at one chunk: cited as a whole, inferred, quote verbatim.
    answer = "Dr. Amelia Hartlaw did it, back when nuclear fission plants were being built across Portugal and Spain."
    [citation] = cite(answer, CHUNKS, question="Who commissioned the Zephyr reactor?")
    assert (citation.chunk_id, citation.inferred) == ("zephyr.md#0", True)
    assert "Amelia Hartwell" in citation.quote and verbatim([citation])
    # An answer that shares nothing of its own with the chunk is not attributed, whatever the question says.
    assert cite("I cannot tell from the context.", CHUNKS, question="Who commissioned the Zephyr reactor?") == []


def test_a_sentence_that_runs_two_chunks_together_cites_both() -> None:
    answer = "Chroma listens on port 8002, and the Zephyr reactor was commissioned in 1987 by Dr. Amelia Hartwell."
    found = cite(answer, CHUNKS)
    assert [(c.chunk_id, c.inferred) for c in found] == [("zephyr.md#0", True), ("guide.md#1", True)]
    assert found[1].quote == "Chroma   listens\non port 8002." and verbatim(found)


def test_a_named_chunk_the_sentence_says_nothing_of_is_a_wrong_id() -> None:
    # Small models paste an id of the context that has nothing to do with the sentence: attributed as unnamed.
    found = cite("Chroma listens on port 8002 [zephyr.md#0].", CHUNKS)
    assert [(c.chunk_id, c.inferred) for c in found] == [("guide.md#1", True)]


def test_an_id_without_its_chunk_number_names_its_document() -> None:
    found = cite("The gateway listens on port 8000 [guide.md].", CHUNKS)
    assert [(c.chunk_id, c.inferred, c.quote) for c in found] == [
        ("guide.md#1", False, "The gateway listens on port 8000.")
    ]
    # Ids and no sentence with content: they still name the chunks, quoted where the question points.
    [citation] = cite("The answer is: [zephyr.md#0]", CHUNKS, question="Who commissioned the Zephyr reactor?")
    assert (citation.chunk_id, citation.inferred) == ("zephyr.md#0", False)
    assert "Amelia Hartwell" in citation.quote


def test_a_sentence_made_of_two_chunks_cites_each_part() -> None:
    # Neither chunk sentence is restated almost whole, but each covers its own part of the sentence's words.
    found = cite("The Zephir reactor was commissioned by the gateway on port 8000.", CHUNKS)
    assert [(c.chunk_id, c.inferred) for c in found] == [("zephyr.md#0", True), ("guide.md#1", True)]
    assert "commissioned in 1987" in found[0].quote and found[1].quote == "The gateway listens on port 8000."


def test_the_chunk_the_question_is_about_is_cited_when_the_answer_touches_it() -> None:
    question = "Who commissioned the Zephyr reactor?"
    answer = "The reactor's owner runs it from the gateway, which listens on port 8000."
    found = cite(answer, CHUNKS, question=question)
    assert [(c.chunk_id, c.inferred) for c in found] == [("guide.md#1", True), ("zephyr.md#0", True)]
    assert "Amelia Hartwell" in found[1].quote and verbatim(found)
    # An answer that shares no word with it does not cite it, whatever the question asks.
    found = cite("The gateway listens on port 8000.", CHUNKS, question=question)
    assert [c.chunk_id for c in found] == ["guide.md#1"]
