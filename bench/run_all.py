"""Run every benchmark module under bench/ (files named bench_*.py) and print a summary table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.harness import load_results


def main() -> int:
    """Run each bench module in its own process; exit non-zero if any crashed."""
    failed = []
    for path in sorted(Path(__file__).parent.glob("bench_*.py")):
        module = f"bench.{path.stem}"
        print(f"== {module}", flush=True)
        if subprocess.run([sys.executable, "-m", module], check=False).returncode != 0:
            failed.append(module)
    for result in load_results():
        print(f"{result.name:28} ratio {result.ratio:8.3f}  target {result.target:8}  {'ok' if result.met else 'MISS'}")
    if failed:
        print("crashed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
