"""The Python client library: `GenAIFlowClient` and its collaborators (`genai_flow` is its public façade).

The `genai-flow` CLI in `starter.cli` is built on it; nothing here imports the CLI (tests/test_layering.py checks).
"""
