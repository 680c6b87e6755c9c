"""A labelled corpus for the grounding check: near-duplicate names and years, an HTML table, unanswerable questions.

Used by the unit tests on recorded answers (tests/test_grounding.py), the extraction tests and the same questions on
the real model (tests_real/test_grounding_real.py).
"""

from __future__ import annotations

from pathlib import Path

from activities.chunking import chunk_text
from activities.extraction import extract
from schemas.answer import RetrievedChunk

GARDENS_MD = """# Two gardens in the Orvel valley

Harlow Botanic Garden was founded in 1911 by Edith Harlow, a seed merchant. It holds 1,046 species of plants.

Harlan Botanic Garden, in the next valley, was founded in 1926 by Edwin Harlan. It holds 812 species of plants.

The Harlow rock garden was laid out in 1923. The Harlan rock garden followed in 1932.
"""

GLASSHOUSES_HTML = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Glasshouses - Harlow Botanic Garden</title></head>
<body>
<nav><a href="/">Home</a> | <a href="/visit">Visit</a></nav>
<main>
<h1>Glasshouses</h1>
<p>Three glasshouses stand on the south lawn of Harlow Botanic Garden.</p>
<table>
<thead><tr><th>Glasshouse</th><th>Kept at</th><th>Notable plant</th></tr></thead>
<tbody>
<tr><td>Tamarind House (tropical)</td><td>29 degrees Celsius</td><td>Giant water lily</td></tr>
<tr><td>Cactus Hall (arid)</td><td>18 degrees Celsius</td><td>Saguaro</td></tr>
<tr><td>Fern Court (temperate)</td><td>12 degrees Celsius</td><td>Tree fern</td></tr>
</tbody>
</table>
</main>
<footer>Harlow Botanic Garden</footer>
</body>
</html>
"""

DOCUMENTS = {"gardens.md": GARDENS_MD, "glasshouses.html": GLASSHOUSES_HTML}

# question -> the fact a right answer states
ANSWERABLE = {
    "When was Harlow Botanic Garden founded?": "1911",
    "When was Harlan Botanic Garden founded?": "1926",
    "Who founded Harlan Botanic Garden?": "Edwin Harlan",
    "How many species does Harlow Botanic Garden hold?": "1,046",
    "At what temperature is the Tamarind House kept?": "29",
    "What is the notable plant of Cactus Hall?": "Saguaro",
}

# What the documents state values about, as the model may write them ("Harlow Garden", "the Harlan Botanic Gardens").
HARLOW, HARLAN = r"Harlow (?:Botanic(?:al)? )?Gardens?", r"Harlan (?:Botanic(?:al)? )?Gardens?"
SUBJECTS = (HARLOW, HARLAN, r"Harlow rock garden", r"Harlan rock garden", r"Tamarind", r"Cactus Hall", r"Fern Court")

# question -> what it asks about (a pattern of SUBJECTS), the kind of value the fact is, and the other values of that
# kind the documents hold for it to be confused with (the near-duplicate names and years). A test grades a real answer
# with these labels, never with the grounding check's own value parser: a sentence about the subject that states a
# rival, or another value of the kind, states a wrong fact.
KINDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "When was Harlow Botanic Garden founded?": (HARLOW, "year", ("1926", "1923", "1932")),
    "When was Harlan Botanic Garden founded?": (HARLAN, "year", ("1911", "1923", "1932")),
    "Who founded Harlan Botanic Garden?": (
        HARLAN,
        "name",
        ("Edith Harlow", "Edith Harlan", "Edwin Harlow", "Edith"),
    ),
    "How many species does Harlow Botanic Garden hold?": (HARLOW, "number", ("812",)),
    "At what temperature is the Tamarind House kept?": (r"Tamarind", "number", ("18", "12")),
    "What is the notable plant of Cactus Hall?": (r"Cactus Hall", "name", ("Giant water lily", "Tree fern")),
}
# question -> the words by which a sentence states what is asked (the relation, not just the subject): "maintained
# since 1923" says nothing of when Harlow was founded. "The answer is …" always states it.
ASKS = {
    "When was Harlow Botanic Garden founded?": r"found|establish|open",
    "When was Harlan Botanic Garden founded?": r"found|establish|open",
    "Who founded Harlan Botanic Garden?": r"found|establish",
    "How many species does Harlow Botanic Garden hold?": r"species",
    "At what temperature is the Tamarind House kept?": r"kept|degree|temperature|°",
    "What is the notable plant of Cactus Hall?": r"plant",
}

# No document answers these.
UNANSWERABLE = [
    "What is the ticket price of Harlow Botanic Garden?",
    "What time does the garden cafe close on Sundays?",
    "Who is the current mayor of Canterbury?",
    "How many parking spaces does the visitor car park have?",
    "What is the capital city of Australia?",
    "Which football club won the 1998 league cup?",
    "What is the password of the visitor wifi network?",
    "How tall is Mount Everest?",
    "Who wrote the novel Middlemarch?",
    "In which year did the gift shop open?",
]


def write_corpus(directory: Path) -> Path:
    """The documents as files in directory."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in DOCUMENTS.items():
        (directory / name).write_text(text)
    return directory


def labelled_chunks() -> list[RetrievedChunk]:
    """The documents extracted and chunked as ingestion does, ids `<name>#<ordinal>`, all retrieved."""
    return [
        RetrievedChunk(chunk_id=f"{name}#{i}", text=text, source=name, score=0.5)
        for name, doc in DOCUMENTS.items()
        for i, text in enumerate(chunk_text(extract(doc.encode(), name).text))
    ]
