"""Text out of documents: plain text as it is, Markdown and HTML as blocks (activities/blocks.py), PDF through pypdf.

`extract(data, name)` raises `UnreadableDocument` with a reason a person understands (unsupported type, encrypted,
corrupt, no text layer); the extract step turns it into a `Permanent` failure, which dead-letters the job.
"""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import PurePosixPath

from activities.blocks import code_block, heading, markdown_blocks, table_row
from schemas.ingest import SUPPORTED_SUFFIXES
from schemas.ingest_steps import ExtractedText

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".rst"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
# Elements whose text is not the document's (code a browser runs, styling, page chrome).
HTML_DROP = ("script", "style", "noscript", "template", "svg", "head", "nav")
_CODE_MARK = "\x00code-block-"  # stands in for a <pre> while the page's whitespace is folded
HEADINGS = {f"h{n}": n for n in range(1, 7)}
HTML_BLOCKS = ("p", "div", "section", "article", "li", "tr", "br", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table")


class UnreadableDocument(ValueError):
    """The document cannot be turned into text; the message says why, for the person reading the dead letter."""


def extract(data: bytes, name: str) -> ExtractedText:
    """The text of a document, by its name's extension."""
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in MARKDOWN_SUFFIXES:
        return ExtractedText(text=markdown_blocks(_decode(data, name)), content_type="text/markdown")
    if suffix in TEXT_SUFFIXES:
        return ExtractedText(
            text=_decode(data, name), content_type="text/markdown" if suffix != ".txt" else "text/plain"
        )
    if suffix in HTML_SUFFIXES:
        return ExtractedText(text=html_text(data), content_type="text/html")
    if suffix == ".pdf":
        return pdf_text(data)
    supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
    raise UnreadableDocument(f"unsupported file type {suffix or '(no extension)'!r}: genai-flow reads {supported}")


def _decode(data: bytes, name: str) -> str:
    if b"\x00" in data[:8192]:
        raise UnreadableDocument(f"{PurePosixPath(name).name} is binary, not text (NUL bytes in its first 8 KiB)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Not UTF-8: Latin-1 maps every byte, which beats refusing an old text file outright.
        return data.decode("latin-1")


def html_text(data: bytes) -> str:
    """Visible text of an HTML page, one block element per paragraph (scripts, styles and <head> dropped).

    Table rows become ` | `-separated cells and headings `#` lines (activities/blocks.py), so neither runs together.
    """
    from bs4 import BeautifulSoup  # imported here: only the io worker parses documents

    soup = BeautifulSoup(data, "lxml")
    for tag in soup(HTML_DROP):
        tag.decompose()
    for row in soup.find_all("tr"):
        row.replace_with(f"\n\n{table_row([cell.get_text(' ') for cell in row.find_all(['td', 'th'])])}\n\n")
    for tag in soup.find_all(list(HEADINGS)):
        tag.replace_with(f"\n\n{heading(HEADINGS[tag.name], tag.get_text(' '))}\n\n")
    code = [pre.get_text() for pre in soup.find_all("pre")]
    for i, pre in enumerate(soup.find_all("pre")):
        pre.replace_with(f"\n\n{_CODE_MARK}{i}\n\n")  # kept out of the whitespace folding below
    for tag in soup.find_all(HTML_BLOCKS):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    lines = (" ".join(line.split()) for line in soup.get_text().splitlines())
    paragraphs, current = [], []
    for line in lines:
        if line:
            current.append(line)
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return "\n\n".join(code_block(code[int(p[len(_CODE_MARK) :])]) if _is_code(p, len(code)) else p for p in paragraphs)


def _is_code(paragraph: str, count: int) -> bool:
    index = paragraph.removeprefix(_CODE_MARK)
    return paragraph.startswith(_CODE_MARK) and index.isdigit() and int(index) < count


def pdf_text(data: bytes) -> ExtractedText:
    """Text of every page of a PDF (pages joined by blank lines, with each page's start offset)."""
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PyPdfError

    if not data.lstrip()[:5] == b"%PDF-":
        raise UnreadableDocument("corrupt PDF: the file does not start with a PDF header")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pypdf warns about every small defect it repairs
            logging.getLogger("pypdf").setLevel(logging.ERROR)
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted and not _opens_without_password(reader):
                raise UnreadableDocument("encrypted PDF: it needs a password to open, and none is configured")
            pages = [page.extract_text() or "" for page in reader.pages]
    except UnreadableDocument:
        raise
    except FileNotDecryptedError:
        raise UnreadableDocument("encrypted PDF: it needs a password to open, and none is configured") from None
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as err:
        raise UnreadableDocument(f"corrupt PDF: pypdf could not read it ({type(err).__name__}: {err})") from None
    if not any(page.strip() for page in pages):
        raise UnreadableDocument(
            f"PDF without a text layer ({len(pages)} page(s) of images?): OCR is not part of genai-flow"
        )
    starts, parts, offset = [], [], 0
    for page in pages:
        starts.append(offset)
        parts.append(page)
        offset += len(page) + 2
    return ExtractedText(text="\n\n".join(parts), page_starts=starts, content_type="application/pdf")


def _opens_without_password(reader: object) -> bool:
    # Many PDFs are "encrypted" with an empty user password (permissions only): those open as they are.
    try:
        return bool(reader.decrypt(""))  # type: ignore[attr-defined]
    except Exception:
        return False
