"""genai-flow: gateway."""
