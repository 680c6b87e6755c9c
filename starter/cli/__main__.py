"""`python -m starter.cli ARGS` runs `genai-flow`: how the launcher starts workers, the gateway and the simulator."""

from __future__ import annotations

from starter.cli.app import main

if __name__ == "__main__":
    main()
