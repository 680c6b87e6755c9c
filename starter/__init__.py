"""genai-flow: starter."""
