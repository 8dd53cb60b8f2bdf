"""`python -m bench` (`make bench`): run the benchmark, print the table, write JSON and a plot.

Every figure is measured against a baseline run in this same invocation, on this machine: the
ideal makespan ceil(N/C)·L, the one-at-a-time bot (MAX_CONCURRENT_TRANSCRIPTIONS=1), a 1 MB file
for the 100 MB one, and the 60-minute recording sent whole for the chunked one.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

from bench import audio, scenarios
from bench.audio import MB
from bench.report import Table, Target, header, machine, megabytes, percentile_ms, plot, write_json

HERE = Path(__file__).resolve().parent
LONG_SAMPLE_RATE = 16_000  # what Voxtral listens at; a 60-minute WAV is 115 MB
BIG_SAMPLE_RATE = 48_000  # a 100 MB WAV is then 17 minutes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--only", choices=["burst", "long"], help="run one part only")
    p.add_argument("-n", "--notes", type=int, default=200, help="notes in the burst (N)")
    p.add_argument("-m", "--users", type=int, default=50, help="users sending them (M)")
    p.add_argument("-l", "--latency", type=float, default=1.0, help="Mistral's answer time (L, s)")
    p.add_argument(
        "-c", "--concurrency", type=int, default=16, help="MAX_CONCURRENT_TRANSCRIPTIONS (C)"
    )
    p.add_argument(
        "--serial-notes",
        type=int,
        default=20,
        help="notes of the one-at-a-time run, whose throughput is extrapolated to N",
    )
    p.add_argument(
        "--overhead-notes", type=int, default=80, help="notes of the steady overhead run"
    )
    p.add_argument("--in-flight-notes", type=int, default=50, help="1 MB notes in flight at once")
    p.add_argument("--in-flight-mb", type=float, default=1.0, help="size of those notes (MB)")
    p.add_argument("--big-mb", type=float, default=100.0, help="the big file (MB)")
    p.add_argument("--small-mb", type=float, default=1.0, help="the small file it is compared to")
    p.add_argument("--long-minutes", type=float, default=60.0, help="the long recording")
    p.add_argument("--chunk-seconds", type=int, default=600, help="CHUNK_SECONDS when chunked")
    p.add_argument(
        "--per-audio-second",
        type=float,
        default=0.01,
        help="fake Mistral's extra answer time per second of audio (long recording)",
    )
    p.add_argument("--out", type=Path, default=HERE, help="folder for results.json, latency.png")
    p.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = p.parse_args(argv)
    if max(args.notes, args.overhead_notes + args.concurrency, args.serial_notes) > 10_000:
        p.error("at most 10 000 distinct notes")
    return args


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_json(run: scenarios.Run) -> dict[str, Any]:
    return {
        "notes": run.notes,
        "users": run.users,
        "concurrency": run.concurrency,
        "latency_s": run.latency,
        "makespan_s": run.makespan,
        "ideal_s": run.ideal,
        "cpu_s": run.cpu_seconds,
        "cpu_ms_per_note": run.cpu_seconds / run.notes * 1000,
        "ready_rss_mb": megabytes(run.ready_rss),
        "peak_rss_mb": megabytes(run.peak_rss),
        "max_in_flight": run.max_in_flight,
        "note_bytes": run.note_bytes,
        "latencies_s": run.latencies,
        "overheads_s": run.overheads,
    }


def long_json(run: scenarios.LongRun) -> dict[str, Any]:
    return {
        "audio_s": run.seconds,
        "file_mb": megabytes(run.file_bytes),
        "chunk_seconds": run.chunk_seconds,
        "makespan_s": run.makespan,
        "cpu_s": run.cpu_seconds,
        "ready_rss_mb": megabytes(run.ready_rss),
        "peak_rss_mb": megabytes(run.peak_rss),
        "transcription_requests": run.requests,
        "words_sent": run.words_sent,
        "words_heard": run.words_heard,
        "job_status": run.status,
    }


async def bursts(args: argparse.Namespace, table: Table, results: dict[str, Any]) -> None:
    """Issue #7: the burst, the overhead per note, CPU and memory, the one-at-a-time bot."""
    n, m, latency, c = args.notes, args.users, args.latency, args.concurrency
    senders = max(1, c // 2)
    count = max(n, args.overhead_notes + senders, args.serial_notes)
    say(f"generating {count} voice notes…")
    notes = audio.distinct_notes(count)
    heavy = audio.sized_voice_note(round(args.in_flight_mb * MB))

    say(f"burst: {n} notes from {m} users, L={latency:g} s, C={c}…")
    burst = await scenarios.burst(notes[:n], users=m, latency=latency, concurrency=c)
    say(f"overhead: {args.overhead_notes} notes, {senders} users each waiting for their last…")
    steady = await scenarios.steady(
        notes[: args.overhead_notes + senders], senders=senders, latency=latency, concurrency=c
    )
    k = args.in_flight_notes
    say(f"memory: {k} notes of {len(heavy.data) / MB:.1f} MB in flight…")
    in_flight = await scenarios.burst(
        [heavy] * k, users=m, latency=latency, concurrency=max(c, k), hold=3.0
    )
    say(f"one at a time: {args.serial_notes} notes, C=1…")
    serial = await scenarios.burst(
        notes[: args.serial_notes], users=m, latency=latency, concurrency=1
    )

    # The one-at-a-time bot's throughput is steady, so N notes take N times its time per note.
    serial_per_note = serial.makespan / serial.notes
    serial_n = serial_per_note * n
    speedup = serial_n / burst.makespan
    p50, p99 = percentile_ms(steady.overheads, 50), percentile_ms(steady.overheads, 99)

    table.section(
        f"Burst: {n} voice notes from {burst.users} users at once, Mistral latency L={latency:g} s"
    )
    table.row(f"last transcript after (C={c})", f"{burst.makespan:.2f} s")
    table.row("ideal ceil(N/C)·L", f"{burst.ideal:.2f} s")
    table.row(
        "makespan / ideal",
        f"{burst.makespan / burst.ideal:.2f} ×",
        Target("burst makespan / ideal", burst.makespan / burst.ideal, 1.15, "×"),
    )
    table.row("CPU per note (bot process)", f"{burst.cpu_seconds / n * 1000:.1f} ms")
    table.row("peak RSS (bot process)", f"{megabytes(burst.peak_rss):.0f} MB")
    table.section(
        f"Overhead per note: update → transcript minus the fake Mistral's time "
        f"({steady.notes} notes, {senders} users in turn, C={c})"
    )
    table.row("p50", f"{p50:.1f} ms", Target("overhead p50", p50, 15, "ms"))
    table.row("p99", f"{p99:.1f} ms", Target("overhead p99", p99, 60, "ms"))
    peak = megabytes(in_flight.peak_rss)
    table.section(
        f"Memory: {k} notes of {in_flight.note_bytes / MB:.1f} MB at once "
        f"({in_flight.max_in_flight} at the fake Mistral together)"
    )
    table.row(
        "peak RSS (bot process)", f"{peak:.0f} MB", Target("peak RSS in flight", peak, 150, "MB")
    )
    table.section("One at a time (MAX_CONCURRENT_TRANSCRIPTIONS=1), the same notes and L")
    table.row(f"{serial.notes} notes took (measured)", f"{serial.makespan:.2f} s")
    table.row(f"{n} notes would take (extrapolated)", f"{serial_n:.1f} s")
    table.row(
        f"C={c} is faster by",
        f"{speedup:.1f} ×",
        Target("speedup over one at a time", speedup, 10, "×", at_most=False),
    )
    table.note(
        f"The one-at-a-time run sends {serial.notes} notes, not {n}: at L={latency:g} s it would"
        f" take {serial_n:.0f} s. Its time per note ({serial_per_note:.3f} s) is steady, so it is"
        " multiplied by N."
    )
    results["burst"] = run_json(burst)
    results["overhead"] = {
        **run_json(steady),
        "senders": senders,
        "p50_ms": p50,
        "p99_ms": p99,
        "mean_ms": sum(steady.overheads) / len(steady.overheads) * 1000,
    }
    results["in_flight"] = run_json(in_flight)
    results["serial"] = {
        **run_json(serial),
        "per_note_s": serial_per_note,
        "extrapolated_makespan_s": serial_n,
        "speedup": speedup,
    }
    plot(
        args.out / "latency.png",
        overheads=steady.overheads,
        burst=burst.latencies,
        serial=serial.latencies,
        ideal=burst.ideal,
        concurrency=c,
        title=f"Voxgram: N={n}, M={m}, L={latency:g} s, C={c}",
    )


async def long_audio(args: argparse.Namespace, table: Table, results: dict[str, Any]) -> None:
    """Issue #4: memory with a 100 MB file, and a long recording chunked versus whole."""
    latency, c = args.latency, args.concurrency
    runs: dict[str, scenarios.LongRun] = {}
    for name, size in (("small", args.small_mb), ("big", args.big_mb)):
        data, seconds, words = audio.wav_of_size(round(size * MB), BIG_SAMPLE_RATE)
        say(f"memory: one {len(data) / MB:.0f} MB WAV ({seconds / 60:.1f} min)…")
        runs[name] = await scenarios.recording(
            data,
            seconds=seconds,
            words=words,
            latency=latency,
            latency_per_audio_second=0.0,
            concurrency=c,
            chunk_seconds=args.chunk_seconds,
        )
        del data
    seconds = args.long_minutes * 60
    data, words = audio.wav_recording(seconds, LONG_SAMPLE_RATE)
    for name, chunk in (("whole", math.ceil(seconds) * 2), ("chunked", args.chunk_seconds)):
        say(f"long: {args.long_minutes:g} min, CHUNK_SECONDS={chunk}…")
        runs[name] = await scenarios.recording(
            data,
            seconds=seconds,
            words=words,
            latency=latency,
            latency_per_audio_second=args.per_audio_second,
            concurrency=c,
            chunk_seconds=chunk,
        )
    del data

    small, big, whole, chunked = runs["small"], runs["big"], runs["whole"], runs["chunked"]
    table.section("Big files (local Bot API server mode, WAV)")
    table.row(
        f"peak RSS, {small.file_bytes / MB:.0f} MB file", f"{megabytes(small.peak_rss):.0f} MB"
    )
    table.row(f"peak RSS, {big.file_bytes / MB:.0f} MB file", f"{megabytes(big.peak_rss):.0f} MB")
    growth = megabytes(big.peak_rss - small.peak_rss)
    table.row(
        "difference",
        f"{growth:.1f} MB",
        Target("peak RSS growth, 100 MB vs 1 MB file", growth, 30, "MB"),
    )
    table.row("ratio", f"{big.peak_rss / small.peak_rss:.2f} ×")
    table.section(
        f"A {args.long_minutes:g}-minute recording, fake Mistral answering in "
        f"{latency:g} s + {args.per_audio_second:g} s per second of audio"
    )
    table.row(f"sent whole ({whole.requests} request)", f"{whole.makespan:.1f} s")
    table.row(
        f"chunked, CHUNK_SECONDS={args.chunk_seconds}, C={c} ({chunked.requests} requests)",
        f"{chunked.makespan:.1f} s",
    )
    speedup = whole.makespan / chunked.makespan
    table.row(
        "chunked is faster by",
        f"{speedup:.1f} ×",
        Target(
            "long audio: chunked / whole speedup",
            speedup if chunked.requests > 1 else None,
            4,
            "×",
            at_most=False,
        ),
    )
    if chunked.requests <= 1:
        table.note("n/a: this build sent the recording in one request (no chunking yet)")
    for run in runs.values():
        if run.status != "done" or run.words_heard != run.words_sent:
            table.note(
                f"WARNING: {run.seconds:.0f} s recording: job {run.status}, "
                f"{run.words_heard} of {run.words_sent} words heard"
            )
    results["long"] = {name: long_json(run) for name, run in runs.items()}
    results["long"]["rss_growth_mb"] = growth
    results["long"]["rss_ratio"] = big.peak_rss / small.peak_rss
    results["long"]["chunked_speedup"] = speedup


async def main(args: argparse.Namespace) -> int:
    started = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    info = machine()
    table = Table()
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    results: dict[str, Any] = {"machine": info, "config": config}
    if args.only in (None, "burst"):
        await bursts(args, table, results)
    if args.only in (None, "long"):
        await long_audio(args, table, results)
    elapsed = time.monotonic() - started
    results["targets"] = [t.as_json() for t in table.targets]
    results["elapsed_s"] = elapsed
    write_json(args.out / "results.json", results)
    print(header(info))
    print()
    print(table.render())
    print()
    written = [args.out / "results.json"]
    if "burst" in results:
        written.append(args.out / "latency.png")
    print(f"{elapsed:.0f} s in all; wrote {', '.join(str(p) for p in written)}")
    missed = [t for t in table.targets if t.met is False]
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    # The fakes' and the HTTP libraries' chatter would bury the table.
    logging.basicConfig(level=logging.WARNING)
    raise SystemExit(asyncio.run(main(parse_args(None))))
