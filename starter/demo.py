"""What `genai-flow demo` runs once the embedded stack is up: every pipeline that exists, with results printed."""

from __future__ import annotations

from rich.console import Console

from runtime.settings import Settings


async def run_pipelines(settings: Settings, console: Console) -> int:
    """Run the demo jobs against a running stack; returns the exit code. Pipelines extend this."""
    console.print("[yellow]No pipelines are registered yet.[/yellow]")
    return 0
