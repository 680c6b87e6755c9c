"""Long text in tables and printed lines is shortened at word boundaries, never mid-word."""

from __future__ import annotations

import pytest

from starter.cli.textfit import shorten

REASON = "corrupt PDF: the file does not start with a PDF header"


@pytest.mark.parametrize("width", range(8, len(REASON) + 2))
def test_shortened_text_ends_on_a_whole_word(width: int) -> None:
    short = shorten(REASON, width)
    assert len(short) <= width
    if short == REASON:
        return
    assert short.endswith("…")
    kept, words = short.removesuffix("…").split(), REASON.split()
    # Whole words, in order: the last one is never cut (a trailing colon or comma may go).
    assert kept[:-1] == words[: len(kept) - 1] and kept[-1] == words[len(kept) - 1].rstrip(",;:-")


def test_short_text_is_kept_and_whitespace_collapsed() -> None:
    assert shorten("  two\n words ", 20) == "two words"


def test_a_single_long_word_is_cut_rather_than_dropped() -> None:
    assert shorten("https://example.com/a/very/long/path", 12) == "https://exa…"


def test_citation_quotes_are_printed_whole(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from schemas.jobs import JobInfo, JobStatus
    from starter.cli.cmd_answer import print_answer

    monkeypatch.setenv("COLUMNS", "80")
    quote = (
        "A transient failure is retried five times with a backoff that starts at one second and doubles up to "
        "sixty seconds, after which the job is dead-lettered."
    )
    result = {"question": "q", "answer": "a", "citations": [{"chunk_id": "resilience.md@1#0", "quote": quote}]}
    print_answer(JobInfo(job_id="answer-x", status=JobStatus.COMPLETED, result=result))
    assert " ".join(capsys.readouterr().out.split()).count(quote) == 1
