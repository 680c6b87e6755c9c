"""Documents for ingestion tests: a real multi-page PDF (reportlab), an encrypted and a corrupt one, HTML, text."""

from __future__ import annotations

import io
from pathlib import Path

from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas


def pdf_bytes(pages: list[str]) -> bytes:
    """A PDF with one page per string (each line of a string one text line)."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    for page in pages:
        y = 800
        for line in page.splitlines():
            pdf.drawString(60, y, line)
            y -= 16
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def encrypted_pdf_bytes(text: str, password: str = "s3cret") -> bytes:
    """A PDF that needs a user password to open."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes([text]))))
    writer.encrypt(user_password=password, owner_password=password, algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def corrupt_pdf_bytes() -> bytes:
    """A PDF header followed by garbage: what a truncated or damaged upload looks like."""
    return b"%PDF-1.7\n" + bytes(range(256)) * 8 + b"\n%%EOF"


HTML = """<!doctype html><html><head><title>Lighthouse</title><style>p { color: red }</style>
<script>var secretToken = "do-not-index";</script></head>
<body><h1>Pellworm lighthouse</h1><p>The Pellworm lighthouse was first lit in 1907 and stands
<b>38 metres</b> tall.</p><p>Its keeper, Hanne Brodersen, logged every ship.</p></body></html>"""

TEXTS = {
    "zephyr.md": "# The Zephyr reactor\n\nThe Zephyr reactor was commissioned in 1987 by Dr. Amelia Hartwell.",
    "orchard.txt": "The Harlow orchard grows Bramley apples. It was planted by Thomas Greaves in 1911.",
}


# Long enough that the second page starts a chunk of its own (chunks hold ~800 characters).
COMET_PAGE_1 = "Observing notes.\n\n" + "\n".join(
    f"Night {n}: clear skies over the dunes, the telescope was cooled and aligned before dusk." for n in range(20)
)


def write_folder(root: Path, with_corrupt: bool = True) -> Path:
    """md, txt, html and a two-page PDF (plus hidden and unsupported files, and optionally a corrupt PDF)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in TEXTS.items():
        (root / name).write_text(text)
    (root / "guides").mkdir(exist_ok=True)
    (root / "guides" / "lighthouse.html").write_text(HTML)
    (root / "guides" / "comet.pdf").write_bytes(
        pdf_bytes([COMET_PAGE_1, "Comet Veyra returns every 71 years.\nAstronomer Lucia Moreno catalogued it."])
    )
    (root / ".hidden.md").write_text("never ingested")
    (root / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    if with_corrupt:
        (root / "broken.pdf").write_bytes(corrupt_pdf_bytes())
    return root
