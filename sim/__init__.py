"""genai-flow: sim."""
