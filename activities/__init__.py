"""genai-flow: activities."""
