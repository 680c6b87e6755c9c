"""genai-flow: workflows."""
