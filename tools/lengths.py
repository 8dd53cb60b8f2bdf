"""`make lint`: no module of the bot longer than 400 lines, no function longer than 60."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_MODULE = 400
MAX_FUNCTION = 60
PACKAGES = ("bot", "handlers", "storage")


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            source = path.read_text()
            name = path.relative_to(root)
            lines = source.count("\n")
            if lines > MAX_MODULE:
                found.append(f"{name}: {lines} lines (at most {MAX_MODULE})")
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > MAX_FUNCTION:
                        found.append(
                            f"{name}:{node.lineno}: {node.name} is {length} lines "
                            f"(at most {MAX_FUNCTION})"
                        )
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
