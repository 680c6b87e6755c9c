"""The checkable values of a text: numbers, years, quantities and names, normalised so equal values compare equal.

"1,046" and "1046" are one number; "29 °C", "29 degrees" and "twenty-nine degrees Celsius" are all 29. A number also
keeps the word it counts ("10 people": "people"; "4.2 million books": "book"; "" when none follows), so that rivals
can be told apart: "10 people" is no rival of "1,900 metres", while "201 books" is one of "4.2 million books", and a
number with no such word ("29 °C") is a rival of any. "1911" is a year (a whole number from 1000 to 2199 with no
unit); "18th" is an ordinal. Names are capitalised words that are not a sentence's first word (unless a name
continues after it) and not common words; they are compared by the lowercased word, so "Harlow's" is "harlow".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


def _word_list(text: str) -> list[str]:
    return text.split()


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


_NUMBER = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?![\d])")
_NUMBER_WORDS = {
    word: n
    for n, word in enumerate(
        _word_list("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen")
        + _word_list("sixteen seventeen eighteen nineteen twenty")
    )
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_WORDED = re.compile(
    r"\b("
    + "|".join(_TENS)
    + r")[- ]("
    + "|".join(list(_NUMBER_WORDS)[1:10])
    + r")\b|\b("
    + "|".join([*list(_NUMBER_WORDS)[2:], *_TENS])
    + r")\b",
    re.IGNORECASE,
)
_ORDINAL = re.compile(r"(?:st|nd|rd|th)\b", re.IGNORECASE)
_CAPITALISED = re.compile(r"\b[A-Z][A-Za-z'\u2019-]*[A-Za-z]")
_TOKEN = re.compile(r"[A-Za-z0-9'\u2019-]+")
_WORD = re.compile(r"[a-z0-9]+")
# Capitalised words that are no name: sentence openers, pronouns, and words small models capitalise at random.
_COMMON = _word_set(
    "a about after all also an and any are as at be because been but by can could did do does for from had "
    "has have he her his how i if in into is it its may might more most my no not of on or our over she so "
    "some such than that the their them then there these they this those to under up was we were what when "
    "where which while who whom why will with would yes you your however although according based answer "
    "context document documents question chunk summary note here yet still both each every many much other "
    "another one two first second"
)
_MONTHS = _word_set("january february march april may june july august september october november december")
YEAR_RANGE = range(1000, 2200)


@dataclass(frozen=True)
class Value:
    """One checkable value: its kind (year, number or name), its normal form, the text it came from, what it counts."""

    kind: str
    norm: str
    text: str
    counts: str = ""


def values(text: str) -> list[Value]:
    """The numbers, years and names a text states, in order, each once."""
    found: dict[tuple[str, str], Value] = {}
    for value in [*_numbers(text), *_names(text)]:
        found.setdefault((value.kind, value.norm), value)
    return list(found.values())


@lru_cache(maxsize=4096)  # the same chunk sentences are looked up for every value of every answer sentence
def words(text: str) -> frozenset[str]:
    """Lowercased words of a text: where names are looked up (a name's parts must all be there)."""
    return frozenset(_WORD.findall(_plain(text).lower()))


@lru_cache(maxsize=4096)
def numbers(text: str) -> frozenset[tuple[str, str]]:
    """The (kind, normal form) of every number and year in a text."""
    return frozenset((v.kind, v.norm) for v in _numbers(text))


def _numbers(text: str) -> list[Value]:
    out = []
    for match in _NUMBER.finditer(text):
        whole, fraction = match.group(1).replace(",", ""), (match.group(2) or "").rstrip("0")
        norm = str(int(whole)) + (f".{fraction}" if fraction else "")
        kind = "year" if not fraction and int(whole) in YEAR_RANGE and "," not in match.group(1) else "number"
        if _ORDINAL.match(text, match.end()):
            kind = "ordinal"  # "the 18th century" is no rival of "6 tonnes"
        out.append(Value(kind, norm, match.group(0), _counted(text, match.end())))
    for match in _WORDED.finditer(text):
        if match.group(1):
            n = _TENS[match.group(1).lower()] + _NUMBER_WORDS[match.group(2).lower()]
        else:
            word = match.group(3).lower()
            n = _TENS.get(word, _NUMBER_WORDS.get(word, 0))
        out.append(Value("number", str(n), match.group(0), _counted(text, match.end())))
    return out


_COUNTED = re.compile(r"\s*(?:(?:hundred|thousand|million|billion)\s+)?([A-Za-z]+)")


def _counted(text: str, end: int) -> str:
    """The word a number counts ("people" in "10 people", singular), or "" when none follows ("29 °C", "5 of")."""
    match = _COUNTED.match(text, end)
    word = match.group(1).lower() if match else ""
    if word in _COMMON or _ORDINAL.fullmatch(word):
        return ""
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


def _names(text: str) -> list[Value]:
    out = []
    plain = _plain(text)
    tokens = list(_TOKEN.finditer(plain))
    for i, match in enumerate(tokens):
        word = match.group(0)
        if not _CAPITALISED.fullmatch(word):
            continue
        norm = word.lower().replace("\u2019", "'").removesuffix("'s").rstrip("'")
        if norm in _COMMON or len(norm) < 2:
            continue
        opens = i == 0 or plain[tokens[i - 1].end() : match.start()].strip() in {".", "!", "?", ":", "\n"}
        follows = i + 1 < len(tokens) and _CAPITALISED.fullmatch(tokens[i + 1].group(0)) is not None
        if opens and not follows and norm not in _MONTHS:
            continue  # "Founded in 1911 …": a capital that only opens a sentence says nothing
        out.append(Value("name", norm, word))
    return out


def _plain(text: str) -> str:
    """Text with markup that is no content removed: Markdown emphasis and heading marks."""
    return re.sub(r"[*_#`]+", " ", text)
