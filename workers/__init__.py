"""genai-flow: workers."""
