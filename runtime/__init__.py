"""genai-flow: runtime."""
