"""extract_text's parsers: what each format yields, and the reasons a person reads when a document cannot be read."""

from __future__ import annotations

import pytest

from activities.chunking import chunk_spans
from activities.extraction import UnreadableDocument, extract
from activities.ingest_support import chunk_id
from tests.ingest_docs import HTML, corrupt_pdf_bytes, encrypted_pdf_bytes, pdf_bytes


def test_pdf_pages_and_their_offsets() -> None:
    extracted = extract(pdf_bytes(["First page text.", "Second page text."]), "report.PDF")
    assert extracted.content_type == "application/pdf" and len(extracted.page_starts) == 2
    second = extracted.text[extracted.page_starts[1] :]
    assert second.startswith("Second page text.") and "First" in extracted.text[: extracted.page_starts[1]]


def test_html_keeps_visible_text_in_paragraphs() -> None:
    text = extract(HTML.encode(), "page.html").text
    assert "Pellworm lighthouse\n\nThe Pellworm lighthouse was first lit in 1907 and stands 38 metres tall." in text
    assert "secretToken" not in text and "color: red" not in text and "<b>" not in text


def test_text_decoding() -> None:
    assert extract("\ufeffnaïve café".encode(), "a.md").text == "naïve café"  # BOM dropped
    assert extract("Grüße".encode("latin-1"), "old.txt").text == "Grüße"  # not UTF-8: Latin-1


@pytest.mark.parametrize(
    ("data", "name", "reason"),
    [
        (encrypted_pdf_bytes("secret"), "locked.pdf", "encrypted PDF: it needs a password to open"),
        (corrupt_pdf_bytes(), "broken.pdf", "corrupt PDF: pypdf could not read it"),
        (b"<html>not a pdf</html>", "fake.pdf", "corrupt PDF: the file does not start with a PDF header"),
        (pdf_bytes([""]), "scan.pdf", "PDF without a text layer"),
        (b"\x00\x01\x02binary", "data.txt", "data.txt is binary, not text"),
        (b"PK\x03\x04", "letter.docx", "unsupported file type '.docx'"),
    ],
)
def test_unreadable_documents_say_why(data: bytes, name: str, reason: str) -> None:
    with pytest.raises(UnreadableDocument, match=reason.replace("(", r"\(").replace(".", r"\.")):
        extract(data, name)


def test_chunk_spans_point_into_the_source_and_ids_are_citable() -> None:
    text = "# Title\n\n" + "\n\n".join(f"Paragraph {i}. " + "word " * 150 for i in range(4))
    spans = chunk_spans(text, max_chars=500, overlap_chars=50)
    assert all(len(s.text) <= 500 and 0 <= s.start < s.end <= len(text) for s in spans)
    assert all(
        " ".join(text[s.start : s.end].split()) in (s.text, s.text.replace("Title: ", "# Title ")) for s in spans
    )
    assert all(not text[s.start - 1].isalnum() for s in spans if s.start)  # overlaps start at a word
    cid = chunk_id("my notes [draft].md", "s3://b/my notes [draft].md", 3)
    assert " " not in cid and "[" not in cid and cid.startswith("my_notes_draft_.md@") and cid.endswith("#3")
