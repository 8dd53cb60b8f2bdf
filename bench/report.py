"""The benchmark's outputs: the printed table, bench/results.json and the latency plot."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.audio import MB

# The table's value columns. PostgreSQL's is filled by the overhead run only (the bot with
# DATABASE_URL); a column no row fills is not printed.
SQLITE = "Voxgram (SQLite)"
POSTGRESQL = "Voxgram (PostgreSQL)"
NAIVE = "naive bot"
COLUMNS = (SQLITE, POSTGRESQL, NAIVE)
BOUND_WIDTH = 10  # the printed table's target column, in characters


@dataclass(frozen=True)
class Target:
    """A figure and the bound the issues set for it."""

    name: str
    value: float | None  # None: could not be measured in this build
    limit: float
    unit: str
    at_most: bool = True
    exactly: bool = False  # the value must equal the limit (a count)
    offset: str = ""  # what the limit is added to, e.g. "first segment + "

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        if self.exactly:
            return self.value == self.limit
        return self.value <= self.limit if self.at_most else self.value >= self.limit

    def verdict(self) -> str:
        return {True: "ok", False: "MISSED", None: "n/a"}[self.met]

    def bound(self) -> str:
        sign = "=" if self.exactly else "≤" if self.at_most else "≥"
        return f"{sign} {self.offset}{self.limit:g} {self.unit}".rstrip()

    def describe(self) -> str:
        """One line for a missed target: its name, the value and the bound."""
        value = "n/a" if self.value is None else f"{self.value:.4g} {self.unit}".rstrip()
        return f"{self.name}: {value}, target {self.bound()}"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "limit": self.limit,
            "unit": self.unit,
            "at_most": self.at_most,
            "exactly": self.exactly,
            "bound": self.bound(),
            "met": self.met,
        }


@dataclass(frozen=True)
class Line:
    """One line of the table: a section title, a row of values, or a note under a row."""

    kind: str  # "section" | "row" | "note"
    label: str
    values: dict[str, str] = field(default_factory=dict)  # column -> value as printed
    bound: str = ""
    verdict: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "values": self.values,
            "bound": self.bound,
            "verdict": self.verdict,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Line:
        return cls(
            kind=str(data["kind"]),
            label=str(data["label"]),
            values={str(k): str(v) for k, v in data.get("values", {}).items()},
            bound=str(data.get("bound", "")),
            verdict=str(data.get("verdict", "")),
        )


@dataclass
class Table:
    """Sections of rows: what, a value per column (Voxgram, the naive bot, …), target, verdict.

    A target applies to the row's first column (Voxgram's figure, or a ratio of it).
    """

    columns: tuple[str, ...] = COLUMNS
    lines: list[Line] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)

    def section(self, title: str) -> None:
        self.lines.append(Line("section", title))

    def row(self, label: str, value: str | dict[str, str], target: Target | None = None) -> None:
        """A row; `value` alone is the first column's."""
        values = {self.columns[0]: value} if isinstance(value, str) else dict(value)
        if target is not None:
            self.targets.append(target)
        self.lines.append(
            Line(
                "row",
                label,
                values,
                target.bound() if target else "",
                target.verdict() if target else "",
            )
        )

    def note(self, text: str) -> None:
        self.lines.append(Line("note", text))

    def used_columns(self) -> list[str]:
        return [c for c in self.columns if any(c in line.values for line in self.lines)]

    def render(self) -> str:
        columns = self.used_columns()
        rows = [line for line in self.lines if line.kind == "row"]
        width = max([len(line.label) for line in rows], default=0) + 4
        widths = [
            max([len(c), *(len(line.values.get(c, "")) for line in rows)]) + 3 for c in columns
        ]
        # A long bound (a relative one) overflows rather than pushing every verdict right.
        bound_width = min(max([len(line.bound) for line in rows], default=0), BOUND_WIDTH) + 3
        out = [
            f"{'':<{width}}" + "".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True))
        ]
        for line in self.lines:
            if line.kind == "section":
                out.append(line.label)
            elif line.kind == "note":
                out.append(f"    {line.label}")
            else:
                cells = "".join(
                    f"{line.values.get(c, ''):>{w}}" for c, w in zip(columns, widths, strict=True)
                )
                bound = f"{line.bound:<{bound_width}}"
                if len(line.bound) >= bound_width:
                    bound = f"{line.bound}   "
                out.append(f"  {line.label:<{width - 2}}{cells}   {bound}{line.verdict}".rstrip())
        return "\n".join(out)

    def markdown(self) -> str:
        """The same table in Markdown, for the README."""
        columns = self.used_columns()
        out = [
            "| figure | " + " | ".join(columns) + " | target | |",
            "|---|" + "---:|" * len(columns) + "---|---|",
        ]
        blank = " |" * (len(columns) + 2)
        for line in self.lines:
            label = _md(line.label)
            if line.kind == "section":
                out.append(f"| **{label}** |{blank}")
            elif line.kind == "note":
                out.append(f"| *{label}* |{blank}")
            else:
                cells = " | ".join(_md(line.values.get(c, "")) for c in columns)
                verdict = f"**{line.verdict}**" if line.verdict == "MISSED" else line.verdict
                out.append(f"| {label} | {cells} | {_md(line.bound)} | {verdict} |")
        return "\n".join(out)

    def as_json(self) -> dict[str, Any]:
        return {"columns": list(self.columns), "lines": [line.as_json() for line in self.lines]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Table:
        return cls(
            columns=tuple(str(c) for c in data["columns"]),
            lines=[Line.from_json(line) for line in data["lines"]],
        )


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def percentile_ms(seconds: Sequence[float], q: float) -> float:
    return float(np.percentile(np.array(seconds) * 1000, q))


def megabytes(n: int) -> float:
    return n / MB


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = platform.processor() or "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_average_at_start": list(os.getloadavg()),
    }


def header(info: dict[str, Any]) -> str:
    load = ", ".join(f"{x:.2f}" for x in info["load_average_at_start"])
    return (
        f"Voxgram benchmark · {info['date']} · {info['cpu_model']}, {info['cpu_count']} CPUs · "
        f"Python {info['python']} · load average at start {load}\n"
        "The real bot (python -m bot, its own process) against the fake Bot API and fake "
        "Mistral over loopback."
    )


def write_json(path: Path, results: dict[str, Any]) -> None:
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")


@dataclass(frozen=True)
class BurstPanel:
    """One burst in the plot: each bot's update → transcript times and the makespan bound."""

    title: str
    latencies: dict[str, Sequence[float]]  # label -> seconds per note
    bound: float


def plot(
    path: Path,
    *,
    overheads: dict[str, Sequence[float]],
    overhead_targets: dict[str, float],
    bursts: Sequence[BurstPanel],
    title: str,
) -> None:
    """Side by side: the overhead per note (ms) of each bot, then for each burst when each note
    got its transcript, Voxgram next to the naive bot (and the one-at-a-time run)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 1 + len(bursts)
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4.5), squeeze=False)
    left = axes[0][0]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    every = np.concatenate([np.asarray(v, dtype=float) for v in overheads.values()]) * 1000
    bins = np.linspace(0.0, float(np.percentile(every, 99.5)) * 1.1 + 1.0, 40)
    for (label, values), color in zip(overheads.items(), colors, strict=False):
        ms = np.asarray(values, dtype=float) * 1000
        left.hist(ms, bins=bins, color=color, alpha=0.5, label=label)
        for q, style in ((50, "-"), (99, "--")):
            value = float(np.percentile(ms, q))
            left.axvline(value, color=color, linestyle=style, label=f"{label} p{q} {value:.1f} ms")
    for name, limit in overhead_targets.items():
        left.axvline(
            limit, color="red", linestyle=":", linewidth=1, label=f"{name} target {limit:g} ms"
        )
    left.set_xlabel("overhead per note: update → transcript, minus Mistral's time (ms)")
    left.set_ylabel("notes")
    left.legend(fontsize="small")
    for ax, panel in zip(axes[0][1:], bursts, strict=True):
        for label, values in panel.latencies.items():
            xs = np.sort(np.asarray(values, dtype=float))
            ax.step(xs, np.arange(1, len(xs) + 1), where="post", label=f"{label} ({len(xs)} notes)")
        ax.axvline(
            panel.bound, color="grey", linestyle=":", label=f"Voxgram's bound {panel.bound:.3g} s"
        )
        ax.set_title(panel.title, fontsize="medium")
        ax.set_xlabel("time from the update to the transcript (s)")
        ax.set_ylabel("notes with their transcript")
        ax.legend(fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
