"""The OpenAI-compatible inference simulator (`genai-flow sim`): deterministic answers, markers, faults, ledger."""
