"""The embedded stack launcher (`genai-flow up`, `demo`): above workers and gateway, so runtime never imports them."""
