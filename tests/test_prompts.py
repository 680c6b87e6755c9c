"""Prompt building and citation parsing of the answer pipeline (pure functions used inside the workflow)."""

from __future__ import annotations

from activities.chunking import chunk_text
from schemas.answer import RetrievedChunk, Summary
from workflows import prompts

CHUNKS = [
    RetrievedChunk(chunk_id="guide.md#0", text="The gateway listens on port 8000.", source="guide.md"),
    RetrievedChunk(chunk_id="guide.md#1", text="Chroma   listens\non port 8002.", source="guide.md"),
]


def test_context_block_labels_each_chunk_on_one_line() -> None:
    block = prompts.context_block(CHUNKS)
    assert block.splitlines() == [
        "[guide.md#0] The gateway listens on port 8000.",
        "[guide.md#1] Chroma listens on port 8002.",
    ]


def test_answer_messages_carry_context_question_and_summary() -> None:
    messages = prompts.answer_messages("Which port?", CHUNKS, Summary(summary="Ports of services."))
    user = messages[-1].content or ""
    assert "[guide.md#1] Chroma listens on port 8002." in user
    assert user.rstrip().endswith("Question: Which port?")
    assert "Summary of the context: Ports of services." in user


def test_citations_keep_known_ids_in_order_with_quotes() -> None:
    answer = "Chroma listens on port 8002 [guide.md#1]. The gateway uses 8000 [guide.md#0]. Nope [other.md#9]."
    found = prompts.citations(answer, CHUNKS)
    assert [c.chunk_id for c in found] == ["guide.md#1", "guide.md#0"]
    assert [c.quote for c in found] == ["Chroma listens on port 8002", "The gateway uses 8000"]
    assert found[0].source == "guide.md"


def test_citation_after_the_full_stop_quotes_the_sentence() -> None:
    answer = "Dr. Ada Byron set the port to 8002. [guide.md#1] Two ids back this. [guide.md#0] [guide.md#1]"
    found = prompts.citations(answer, CHUNKS)
    assert [(c.chunk_id, c.quote) for c in found] == [
        ("guide.md#1", "Dr. Ada Byron set the port to 8002."),
        ("guide.md#0", "Two ids back this."),
    ]


def test_citations_empty_when_answer_cites_nothing() -> None:
    assert prompts.citations("I do not know.", CHUNKS) == []


def test_chunks_respect_size_and_keep_every_word() -> None:
    text = "\n\n".join(f"Paragraph {i}. " + " ".join(f"word{i}_{j}." for j in range(60)) for i in range(5))
    chunks = chunk_text(text, max_chars=300, overlap_chars=40)
    assert all(len(c) <= 300 for c in chunks)
    joined = " ".join(chunks)
    assert all(f"word{i}_{j}." in joined for i in range(5) for j in range(60))
    assert not any(c.startswith(("ord", "rd")) for c in chunks)  # overlap never starts mid-word


def test_short_paragraphs_are_merged_into_one_chunk() -> None:
    assert chunk_text("One.\n\nTwo.\n\nThree.", max_chars=100, overlap_chars=10) == ["One. Two. Three."]


def test_markdown_headings_introduce_their_paragraph() -> None:
    text = "# The Zephyr reactor\n\nThe reactor was built.\n\n## Facts ##\nIt is hot."
    assert chunk_text(text, max_chars=200, overlap_chars=20) == [
        "The Zephyr reactor: The reactor was built. Facts: It is hot."
    ]
