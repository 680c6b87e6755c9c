"""A small corpus for the real models: ten one-paragraph documents, each holding one fact a question asks for."""

from __future__ import annotations

from pathlib import Path

# name -> (document, question, the fact the answer and its cited chunk must hold)
FACTS: dict[str, tuple[str, str, str]] = {
    "zephyr.md": (
        "The Zephyr reactor was commissioned in 1987 by Dr. Amelia Hartwell in Lisbon. Its coolant is molten "
        "fluoride salt.",
        "Who commissioned the Zephyr reactor?",
        "Amelia Hartwell",
    ),
    "orchard.md": (
        "The Harlow orchard grows Bramley apples and Conference pears. It was planted by Thomas Greaves in 1911 "
        "near Canterbury.",
        "Who planted the Harlow orchard?",
        "Thomas Greaves",
    ),
    "comet.md": (
        "Comet Veyra returns every 71 years. Astronomer Lucia Moreno first catalogued it from the Atacama desert.",
        "How often does Comet Veyra return?",
        "71 years",
    ),
    "bridge.md": (
        "The Kessing suspension bridge spans the Orvel river. Its main span is 1,240 metres long and it opened "
        "to traffic in 2004.",
        "How long is the main span of the Kessing bridge?",
        "1,240 metres",
    ),
    "violin.md": (
        "The Marlowe violin was made by the luthier Giovanni Castel in Cremona. It is varnished in amber and "
        "kept at the Tessaly museum.",
        "Who made the Marlowe violin?",
        "Giovanni Castel",
    ),
    "lake.md": (
        "Lake Morrow is fed by the Anvel glacier. The lake is 312 metres deep at its deepest point.",
        "How deep is Lake Morrow?",
        "312 metres",
    ),
    "library.md": (
        "The Brennan library holds 4.2 million books. It was founded by Margaret Brennan, a shipping merchant.",
        "How many books does the Brennan library hold?",
        "4.2 million",
    ),
    "ferry.md": (
        "The Saltcoat ferry crosses to Inishmore island. The crossing takes 45 minutes in calm weather.",
        "How long does the Saltcoat ferry crossing take?",
        "45 minutes",
    ),
    "tea.md": (
        "Dunmore tea estate grows its tea at 1,900 metres above sea level. Its most famous blend is called "
        "Silver Mist.",
        "What is the most famous blend of the Dunmore tea estate called?",
        "Silver Mist",
    ),
    "clock.md": (
        "The Aldgate clock tower has a bell named Great Tom. The bell weighs 6 tonnes and was cast in 1843.",
        "What is the name of the bell in the Aldgate clock tower?",
        "Great Tom",
    ),
}


def write_corpus(directory: Path) -> Path:
    """The ten documents as files in directory (chunk ids `<name>#0`)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, (text, _question, _fact) in FACTS.items():
        (directory / name).write_text(text + "\n")
    return directory
