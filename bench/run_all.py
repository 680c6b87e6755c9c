"""`make bench`: run every benchmark module under bench/ (files named bench_*.py), print each ratio with its target,
and regenerate docs/benchmarks.md's tables from the results (bench/report.py).

`BENCH_ONLY=b2,b6` runs the modules whose names contain one of the given parts (the rest keep their stored results).
`make bench` runs B7 with 30-second provider windows (RUN_ALL_ENV) so that the whole run fits in 40 minutes; the
variable set in the environment wins (`B7_WINDOW_S=60 make bench` for the one-minute windows).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bench import report
from bench.harness import load_results

# Settings make bench gives a module unless the caller's environment sets them: B7's two runs of four one-minute
# windows are ten of the forty minutes, and a 30 s window (the TPM scaled to it) measures the same steady rate.
RUN_ALL_ENV = {"bench.bench_b7_router": {"B7_WINDOW_S": "30"}}


def modules() -> list[str]:
    """The benchmark modules to run, in name order (filtered by BENCH_ONLY)."""
    only = [part for part in os.environ.get("BENCH_ONLY", "").split(",") if part]
    names = [f"bench.{p.stem}" for p in sorted(Path(__file__).parent.glob("bench_*.py"))]
    return [n for n in names if not only or any(part in n for part in only)]


def main() -> int:
    """Run each bench module in its own process; exit non-zero if any crashed."""
    failed = []
    began = time.monotonic()
    for module in modules():
        print(f"== {module}", flush=True)
        start = time.monotonic()
        env = {**RUN_ALL_ENV.get(module, {}), **os.environ}
        if subprocess.run([sys.executable, "-m", module], check=False, env=env).returncode != 0:
            failed.append(module)
        print(f"== {module}: {time.monotonic() - start:.0f} s", flush=True)
    minutes = (time.monotonic() - began) / 60
    print(f"\n{'result':28} {'ratio':>9}  {'target':10} verdict   (this run took {minutes:.1f} min)")
    for result in load_results():
        verdict = "ok" if result.met else "MISS"
        print(f"{result.name:28} {result.ratio:9.3f}  {result.target:10} {verdict:8}  ({result.at[:16]})")
    report.DOC.write_text(report.rewrite(report.DOC.read_text(), report.render(load_results())))
    print(f"{report.DOC.name}'s tables regenerated from bench/results")
    if failed:
        print("crashed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
