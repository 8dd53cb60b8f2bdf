"""The README's performance table, rewritten from bench/results.json.

`python -m bench.readme [README.md] [--results bench/results.json]`, or `python -m bench --readme
README.md` at the end of a run: everything between the two marker lines

    <!-- bench:table -->
    <!-- /bench:table -->

is replaced by a line saying when and on what the figures were measured and the table the run
printed, in Markdown (the table is stored in results.json as printed, so the two never differ).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.report import Table

START = "<!-- bench:table -->"
END = "<!-- /bench:table -->"
HERE = Path(__file__).resolve().parent


class MarkersMissing(Exception):
    """The README lacks the markers (or has them in the wrong order)."""


def block(results: dict[str, Any]) -> str:
    """What goes between the markers: the run's circumstances, then its table."""
    info = results["machine"]
    load = ", ".join(f"{x:.2f}" for x in info["load_average_at_start"])
    only = results.get("config", {}).get("only")
    part = f" (`--only {only}`)" if only else ""
    circumstances = (
        f"Measured {info['date']} on {info['cpu_model']}, {info['cpu_count']} CPUs, Python "
        f"{info['python']}, load average at start {load}; the run{part} took "
        f"{results['elapsed_s']:.0f} s."
    )
    return f"{circumstances}\n\n{Table.from_json(results['table']).markdown()}"


def replace_between(text: str, content: str) -> str:
    """`text` with what lies between the markers replaced by `content`."""
    start = text.find(START)
    end = text.find(END, start + len(START)) if start >= 0 else -1
    if start < 0 or end < 0:
        raise MarkersMissing(f"no {START} … {END} pair")
    return f"{text[: start + len(START)]}\n{content}\n{text[end:]}"


def check(readme: Path) -> None:
    """Raise MarkersMissing (or OSError) now if `readme` could not be rewritten later."""
    replace_between(readme.read_text(), "")


def rewrite(readme: Path, results: dict[str, Any]) -> None:
    """Rewrite the table in `readme` from `results` (as written to results.json)."""
    text = readme.read_text()
    try:
        updated = replace_between(text, block(results))
    except MarkersMissing as exc:
        raise MarkersMissing(f"{readme}: {exc}") from None
    if updated != text:
        readme.write_text(updated)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.readme", description=__doc__)
    p.add_argument("readme", type=Path, nargs="?", default=Path("README.md"))
    p.add_argument("--results", type=Path, default=HERE / "results.json")
    args = p.parse_args(argv)
    try:
        rewrite(args.readme, json.loads(args.results.read_text()))
    except (MarkersMissing, OSError, KeyError) as exc:
        print(f"python -m bench.readme: {exc!s}", file=sys.stderr)
        return 1
    print(f"rewrote the table in {args.readme} from {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
