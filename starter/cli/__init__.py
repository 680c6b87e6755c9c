"""The `genai-flow` command line, built on the client library in `starter/` (which never imports it)."""
