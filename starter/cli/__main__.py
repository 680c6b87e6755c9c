"""`python -m starter.cli ARGS`: the `genai-flow` command (the launcher starts workers, gateway and simulator so)."""

from __future__ import annotations

from starter.cli.app import main

if __name__ == "__main__":
    main()
