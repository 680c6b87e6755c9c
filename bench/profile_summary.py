"""Summarise py-spy's collapsed stacks (`--format raw`): the top frames by own and by inclusive samples.

`python -m bench.profile_summary FILE... [--top N]` prints, per file, the share of samples each frame ran itself
(self) and the share it was on the stack (inclusive, counted once per stack), grouped by package
(`temporalio`, `pydantic`, `redis`, `openai`, `httpx`, ours by folder) as well, for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")


def parse(path: Path) -> list[tuple[list[str], int]]:
    """(frames root first, samples) of each collapsed stack in the file; idle threads' stacks are kept."""
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def package(frame: str) -> str:
    """The package a frame's file belongs to: site-packages' top name, else the project's folder, else the file."""
    match = _FRAME.match(frame)
    file = match["file"] if match else frame
    if "site-packages/" in file:
        return file.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/lib/python3" in file:
        return "stdlib:" + Path(file).stem
    return file.split("/", 1)[0] if "/" in file else file


def label(frame: str) -> str:
    """`func (file)` without the line number, so one function's lines add up."""
    match = _FRAME.match(frame)
    return f"{match['func']} ({match['file']})" if match else frame


def summarise(stacks: list[tuple[list[str], int]], top: int) -> str:
    """The text table: total samples, then top self frames, top inclusive frames and packages by self time."""
    total = sum(n for _, n in stacks) or 1
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    for frames, n in stacks:
        leaf = frames[-1] if frames else "?"
        own[label(leaf)] += n
        packages[package(leaf)] += n
        for name in {label(f) for f in frames}:
            inclusive[name] += n
    lines = [f"{total} samples"]
    for title, counter in (("self", own), ("packages (self)", packages), ("inclusive", inclusive)):
        lines.append(f"-- top {title}")
        lines += [f"{n * 100 / total:5.1f}%  {name}" for name, n in counter.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    """Print the summary of each file given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    for path in args.files:
        print(f"== {path}")
        print(summarise(parse(path), args.top))


if __name__ == "__main__":
    main()
