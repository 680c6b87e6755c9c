"""The `genai-flow` console script's entry point (the same CLI in the repository and in the installed wheel)."""

from __future__ import annotations

from starter.cli.app import main

__all__ = ["main"]
