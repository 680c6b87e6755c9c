"""`genai-flow ask`: start an AnswerQuestion job, optionally follow it live and print the answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from schemas.defaults import DEFAULT_COLLECTION, DEFAULT_TOP_K
from starter.cli.exit_codes import ExitCode
from starter.cli.support import brief, console, fail, start_and_report

if TYPE_CHECKING:
    from schemas.jobs import JobInfo


def register(app: typer.Typer) -> None:
    """Add `ask`."""
    app.command("ask")(ask)


def ask(
    question: Annotated[str, typer.Argument(help="The question to answer from the indexed corpus.")],
    collection: Annotated[str, typer.Option(help="Vector collection to retrieve from.")] = DEFAULT_COLLECTION,
    top_k: Annotated[int, typer.Option("--top-k", help="How many chunks to retrieve.")] = DEFAULT_TOP_K,
    token_limit: Annotated[
        int | None, typer.Option("--token-limit", help="Fail the job past this many tokens.")
    ] = None,
    score_gap: Annotated[
        float | None,
        typer.Option(
            "--score-gap", help="Drop chunks scoring more than this below the best (default GENAI_FLOW_SCORE_GAP)."
        ),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow progress live and print the answer.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the HTTP API's JSON model.")] = False,
) -> None:
    """Ask a question; prints the job id (or, with --wait, the answer with citations)."""
    from pydantic import ValidationError

    from schemas.answer import AnswerRequest
    from schemas.jobs import Pipeline

    try:
        request = AnswerRequest(
            question=question, collection=collection, top_k=top_k, token_limit=token_limit, score_gap=score_gap
        )
    except ValidationError as err:
        raise fail(brief(err), ExitCode.USAGE) from None

    start_and_report(lambda client: client.start(Pipeline.ANSWER, request), wait, as_json, print_answer)


def print_answer(info: JobInfo) -> None:
    """The answer, its citations and the token ledger, for people."""
    from rich.markup import escape

    from starter.cli.textfit import shorten

    if info.result is None:
        message = info.error.message if info.error else ""
        console.print(f"[red]{info.status}[/red] {escape(message)}")
        return
    result = info.result
    # Answers and quotes are model text: escape them, or rich reads `[chunk-id]` as markup.
    console.print(f"[bold]Q:[/bold] {escape(result['question'])}\n[bold]A:[/bold] {escape(result['answer'])}")
    _print_grounding(result.get("grounding"))
    for citation in result.get("citations", []):
        # Inferred: the model named no chunk; the quote was attributed to it by word overlap. Context: the passage
        # the question points at, not evidence for any sentence.
        how = " [dim](inferred)[/dim]" if citation.get("inferred") else ""
        how += " [dim](context)[/dim]" if citation.get("label") == "context" else ""
        quote = escape(shorten(citation.get("quote", "")))
        console.print(f"  [cyan]{escape('[' + citation['chunk_id'] + ']')}[/cyan]{how} {quote}")
    if result.get("truncated"):
        console.print("[yellow]the answer was cut at its max_tokens bound (GENAI_FLOW_MAX_TOKENS)[/yellow]")
    usage = result.get("usage", {})
    console.print(
        f"[dim]{usage.get('billed_tokens', 0)} tokens billed · ${result.get('cost_usd', 0):.6f} · "
        f"{result.get('duration_ms', 0):.0f} ms · job {info.job_id}[/dim]"
    )


def _print_grounding(grounding: dict[str, Any] | None) -> None:
    """The grounding check: the verdict and score, why the answer is not in the documents, each doubtful sentence."""
    from rich.markup import escape

    from starter.cli.textfit import shorten

    if not grounding:
        return
    colour = {"supported": "green", "partly_supported": "yellow"}.get(grounding["verdict"], "red")
    line = f"[{colour}]grounding: {grounding['verdict']}[/{colour}] (score {grounding['score']:.2f})"
    if grounding.get("reason"):
        line += f": {escape(grounding['reason'])}"
    console.print(line)
    for sentence in grounding.get("sentences", []):
        if sentence["verdict"] == "supported":
            continue
        conflict, missing = sentence.get("conflict"), ", ".join(sentence.get("missing", []))
        why = f" (not in the documents: {escape(missing)})" if missing else ""
        if conflict:
            found, quote = escape(conflict["found"]), escape(shorten(conflict["quote"], 100))
            why = f' (says {escape(conflict["stated"])}; the source says {found}: "{quote}")'
        console.print(f"  [red]{sentence['verdict']}[/red] {escape(shorten(sentence['text'], 100))}{why}")
    if grounding.get("model_answer"):
        console.print(f"  [dim]the model answered: {escape(shorten(grounding['model_answer'], 200))}[/dim]")

