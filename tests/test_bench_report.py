"""docs/benchmarks.md's generated tables match bench/results, and the generator renders what a result holds."""

from __future__ import annotations

import pytest

from bench import report
from bench.harness import BenchResult, load_results


def _result(name: str, ratio: float, target: str, details: dict[str, object]) -> BenchResult:
    return BenchResult(
        name=name,
        target=target,
        baseline=2.0,
        value=2.0 * ratio,
        ratio=ratio,
        unit="jobs/s",
        machine="test",
        command="python -m bench.x",
        at="2026-12-06T12:00:00+00:00",
        details=details,
    )


def test_the_doc_holds_the_tables_of_the_stored_results() -> None:
    doc = report.DOC.read_text()
    assert report.rewrite(doc, report.render(load_results())) == doc, "run `python -m bench.report`"


def test_a_missed_target_is_named_and_cpu_per_job_is_shown_per_process() -> None:
    cpu = {"genai_best": {"cpu_ms_per_job": {"temporal": 55.0, "genai": 48.5, "idle": 0.2}}}
    text = report.render([_result("b2_x", 0.4, ">= 0.5", cpu), _result("b6_x", 0.95, ">= 0.9", {})])
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| `")}
    assert "**no**" in rows["`b2_x`"] and "genai: temporal 55, genai 48.5" in rows["`b2_x`"]
    assert "idle" not in rows["`b2_x`"]  # under a millisecond per job: left out
    assert "| yes |" in rows["`b6_x`"]
    assert "Missed: `b2_x`" in text


def test_the_scaling_tables_come_from_their_results() -> None:
    bursts = {
        str(n): {"jobs_per_s": 1.9, "p50_s": 30.0, "p99_s": 60.0, "cpu_ms_per_job": {"workers": 70.0}} for n in (1, 4)
    }
    workers = _result("scaling_workers", 1.0, ">= 0.9", {"capacity_jobs_per_s": 2.0, "bursts": bursts})
    levels = [{"load": 2.0, "offered": 80, "answered": 80, "failed": 0, "p50_s": 9.5, "p99_s": 21.0}]
    overload = _result("scaling_overload", 1.0, ">= 1.0", {"levels": levels})
    text = report.render([workers, overload])
    assert "| 4 | 1.9 | 0.95 | 30.0 / 60.0 | 70.0 |" in text
    assert "| 2.0x capacity | 80 | 80 | 0 | 9.5 | 21.0 |" in text


def test_a_doc_without_the_markers_is_refused() -> None:
    with pytest.raises(SystemExit, match="no generated section"):
        report.rewrite("# Benchmarks\n", "x")
