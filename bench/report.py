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


@dataclass(frozen=True)
class Target:
    """A figure and the bound the issues set for it."""

    name: str
    value: float | None  # None: could not be measured in this build
    limit: float
    unit: str
    at_most: bool = True

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value <= self.limit if self.at_most else self.value >= self.limit

    def verdict(self) -> str:
        return {True: "ok", False: "MISSED", None: "n/a"}[self.met]

    def bound(self) -> str:
        return f"{'≤' if self.at_most else '≥'} {self.limit:g} {self.unit}".rstrip()

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "limit": self.limit,
            "unit": self.unit,
            "at_most": self.at_most,
            "met": self.met,
        }


@dataclass
class Table:
    """Sections of rows: (what, value, target, verdict)."""

    lines: list[tuple[str, str, str, str]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)

    def section(self, title: str) -> None:
        self.lines.append((title, "", "", ""))

    def row(self, label: str, value: str, target: Target | None = None) -> None:
        if target is not None:
            self.targets.append(target)
        self.lines.append(
            (
                f"  {label}",
                value,
                target.bound() if target else "",
                target.verdict() if target else "",
            )
        )

    def note(self, text: str) -> None:
        self.lines.append((f"    {text}", "", "", ""))

    def render(self) -> str:
        width = max(len(label) for label, value, *_ in self.lines if value) + 2
        out = []
        for label, value, bound, verdict in self.lines:
            if not value and not bound:
                out.append(label)
            else:
                out.append(f"{label:<{width}}{value:>12}   {bound:<12}{verdict}".rstrip())
        return "\n".join(out)


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


def plot(
    path: Path,
    *,
    overheads: Sequence[float],
    burst: Sequence[float],
    serial: Sequence[float],
    ideal: float,
    concurrency: int,
    title: str,
) -> None:
    """Two panels: the overhead per note (ms), and when each note of the burst got its
    transcript next to the one-at-a-time run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    ms = np.array(overheads) * 1000
    left.hist(ms, bins=30, color="#4c72b0")
    for q, style in ((50, "-"), (99, "--")):
        value = float(np.percentile(ms, q))
        left.axvline(value, color="black", linestyle=style, label=f"p{q} {value:.1f} ms")
    for limit, name in ((15, "p50"), (60, "p99")):
        left.axvline(
            limit, color="red", linestyle=":", linewidth=1, label=f"{name} target {limit} ms"
        )
    left.set_xlabel("overhead per note: update → transcript, minus Mistral's time (ms)")
    left.set_ylabel("notes")
    left.legend()
    for values, label in (
        (burst, f"C={concurrency} ({len(burst)} notes)"),
        (serial, f"C=1, one at a time ({len(serial)} notes)"),
    ):
        xs = np.sort(np.array(values))
        right.step(xs, np.arange(1, len(xs) + 1), where="post", label=label)
    right.axvline(ideal, color="grey", linestyle=":", label=f"ideal ceil(N/C)·L = {ideal:g} s")
    right.set_xlabel("time from the update to the transcript (s)")
    right.set_ylabel("notes with their transcript")
    right.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
