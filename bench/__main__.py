"""`python -m bench` (`make bench`): run the benchmark, print the table, write JSON and a plot.

Every figure is measured against a baseline run in this same invocation, on this machine: the
makespan bound max(ceil(N/C)·L, persistent messages ÷ 30/s), the naive bot (bench/naive.py) on
the same notes, the bot on SQLite for the bot on PostgreSQL, the fake Mistral's first streamed
segment for the first words of a live transcript, the one-at-a-time bot
(MAX_CONCURRENT_TRANSCRIPTIONS=1), a 1 MB file for the 100 MB one, and the 60-minute recording
sent whole for the chunked one. `--readme README.md` rewrites the README's table between its
bench:table markers from the results (bench/readme.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench import audio, live, readme, scenarios
from bench.audio import MB
from bench.report import (
    NAIVE,
    POSTGRESQL,
    SQLITE,
    BurstPanel,
    Table,
    Target,
    header,
    machine,
    megabytes,
    percentile_ms,
    plot,
    write_json,
)
from bench.world import NAIVE as NAIVE_MODULE
from bench.world import VOXGRAM as VOXGRAM_MODULE
from bench.world import PostgresUnavailable, start_postgresql
from bot.telegram.drafts import DRAFT_EVERY

HERE = Path(__file__).resolve().parent
LONG_SAMPLE_RATE = 16_000  # what Voxtral listens at; a 60-minute WAV is 115 MB
BIG_SAMPLE_RATE = 48_000  # a 100 MB WAV is then 17 minutes
# The targets (issue: performance). Ratios are to baselines measured in the same run.
MAKESPAN_OVER_BOUND = 1.10  # × max(ceil(N/C)·L, persistent messages ÷ 30/s)
CPU_PER_NOTE_MS = 15
CPU_OVER_NAIVE = 0.25  # Voxgram's CPU per note ÷ the naive bot's, same burst
OVERHEAD_P50_MS = 12
OVERHEAD_P99_MS = 40
POSTGRESQL_OVER_SQLITE_MS = 5  # overhead p50 and p99 on PostgreSQL, above SQLite's
LIVE_AFTER_FIRST_SEGMENT_MS = 300  # update → first words in a draft, after the first segment
PEAK_RSS_IN_FLIGHT_MB = 150
RSS_GROWTH_MB = 30  # 100 MB file against a 1 MB one
# results.json keys of each column's runs.
RUN_KEYS = {SQLITE: "voxgram_sqlite", POSTGRESQL: "voxgram_postgresql", NAIVE: "naive"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--only", choices=["burst", "long"], help="run one part only")
    p.add_argument(
        "-n",
        "--notes",
        type=int,
        nargs="+",
        default=[100, 200],
        help="notes in each burst (N), one burst per value",
    )
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
    p.add_argument(
        "--no-postgresql",
        action="store_true",
        help="skip the overhead run on PostgreSQL (run when the server binaries are installed)",
    )
    p.add_argument(
        "--live-notes", type=int, default=10, help="notes of the live transcripts run, timed"
    )
    p.add_argument("--live-users", type=int, default=2, help="users sending them in turn")
    p.add_argument(
        "--live-first-segment",
        type=float,
        default=0.5,
        help="fake Mistral's wait before its first streamed segment (s), live run",
    )
    p.add_argument(
        "--live-gap",
        type=float,
        default=0.5,
        help="fake Mistral's wait between two streamed segments (s), live run",
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
    p.add_argument(
        "--readme",
        type=Path,
        help="rewrite this README's table between its bench:table markers from the results",
    )
    args = p.parse_args(argv)
    if args.readme is not None:
        try:
            readme.check(args.readme)  # before minutes of running, not after
        except (readme.MarkersMissing, OSError) as exc:
            p.error(f"--readme {args.readme}: {exc}")
    if args.live_notes < 1 or args.live_users < 1:
        p.error("--live-notes and --live-users: at least 1")
    largest = max(*args.notes, args.overhead_notes + args.concurrency, args.serial_notes)
    if max(largest, args.live_notes + 1) > 10_000:
        p.error("at most 10 000 distinct notes")
    return args


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_json(run: scenarios.Run) -> dict[str, Any]:
    return {
        "bot": run.bot,
        "database": run.database if run.bot == VOXGRAM_MODULE else None,
        "notes": run.notes,
        "users": run.users,
        "concurrency": run.concurrency,
        "latency_s": run.latency,
        "makespan_s": run.makespan,
        "ideal_s": run.ideal,
        "persistent_messages": run.persistent_messages,
        "bound_s": run.bound,
        "cpu_s": run.cpu_seconds,
        "cpu_ms_per_note": run.cpu_seconds / run.notes * 1000,
        "ready_rss_mb": megabytes(run.ready_rss),
        "peak_rss_mb": megabytes(run.peak_rss),
        "max_in_flight": run.max_in_flight,
        "note_bytes": run.note_bytes,
        "telegram_calls": run.calls,
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


def cpu_ms(run: scenarios.Run) -> float:
    return run.cpu_seconds / run.notes * 1000


def both(
    fmt: str, runs: dict[str, scenarios.Run], figure: Callable[[scenarios.Run], float]
) -> dict[str, str]:
    """One figure of each bot's run, formatted, by column."""
    return {column: fmt.format(figure(run)) for column, run in runs.items()}


def burst_section(table: Table, runs: dict[str, scenarios.Run]) -> None:
    """One burst, Voxgram beside the naive bot: makespan against its bound, CPU, memory."""
    vox, naive = runs[SQLITE], runs[NAIVE]
    n = vox.notes
    table.section(
        f"Burst: {n} one-sentence voice notes from {vox.users} users at once, "
        f"Mistral latency L={vox.latency:g} s, C={vox.concurrency} (naive bot: all at once)"
    )
    table.row("last transcript after", both("{:.2f} s", runs, lambda r: r.makespan))
    table.row("persistent messages sent", both("{:.0f}", runs, lambda r: r.persistent_messages))
    table.row("bound max(ceil(N/C)·L, messages ÷ 30/s)", both("{:.2f} s", runs, lambda r: r.bound))
    table.row(
        "makespan / bound",
        both("{:.2f} ×", runs, lambda r: r.makespan / r.bound),
        Target(
            f"burst N={n}: makespan / bound", vox.makespan / vox.bound, MAKESPAN_OVER_BOUND, "×"
        ),
    )
    table.row(
        "CPU per note (bot process)",
        both("{:.1f} ms", runs, cpu_ms),
        Target(f"burst N={n}: CPU per note", cpu_ms(vox), CPU_PER_NOTE_MS, "ms"),
    )
    ratio = cpu_ms(vox) / cpu_ms(naive)
    table.row(
        "CPU per note, Voxgram / naive bot",
        f"{ratio:.2f} ×",
        Target(f"burst N={n}: CPU per note / naive bot's", ratio, CPU_OVER_NAIVE, "×"),
    )
    table.row("peak RSS (bot process)", both("{:.0f} MB", runs, lambda r: megabytes(r.peak_rss)))


def overhead_section(
    table: Table, runs: dict[str, scenarios.Run], concurrency: int, postgresql: str | None
) -> dict[str, Any]:
    """Overhead per note under steady load, each bot (Voxgram on SQLite, on PostgreSQL unless
    `postgresql` says why not, the naive bot); returns the JSON of the runs."""
    vox = runs[SQLITE]
    table.section(
        "Overhead per note: update → transcript minus the fake Mistral's time "
        f"({vox.notes} notes, {vox.users} users in turn, C={concurrency})"
    )
    p50 = {c: percentile_ms(r.overheads, 50) for c, r in runs.items()}
    p99 = {c: percentile_ms(r.overheads, 99) for c, r in runs.items()}
    table.row(
        "p50",
        {c: f"{v:.1f} ms" for c, v in p50.items()},
        Target("overhead p50 (SQLite)", p50[SQLITE], OVERHEAD_P50_MS, "ms"),
    )
    table.row(
        "p99",
        {c: f"{v:.1f} ms" for c, v in p99.items()},
        Target("overhead p99 (SQLite)", p99[SQLITE], OVERHEAD_P99_MS, "ms"),
    )
    if POSTGRESQL in runs:
        for q, values in ((50, p50), (99, p99)):
            above = values[POSTGRESQL] - values[SQLITE]
            table.row(
                f"p{q} on PostgreSQL, above SQLite's",
                {POSTGRESQL: f"{above:+.1f} ms"},
                Target(
                    f"overhead p{q}: PostgreSQL's above SQLite's",
                    above,
                    POSTGRESQL_OVER_SQLITE_MS,
                    "ms",
                    offset="SQLite + ",
                ),
            )
    else:
        table.note(f"PostgreSQL: not run ({postgresql})")
    return {
        RUN_KEYS[c]: {
            **run_json(r),
            "p50_ms": p50[c],
            "p99_ms": p99[c],
            "mean_ms": sum(r.overheads) / len(r.overheads) * 1000,
        }
        for c, r in runs.items()
    }


def persistent_count(calls: dict[str, int]) -> int:
    return sum(n for method, n in calls.items() if scenarios.persistent(method))


def calls_section(
    table: Table, runs: dict[str, scenarios.Run], live_run: live.LiveRun
) -> dict[str, Any]:
    """The Bot API calls one short note takes in private, by method: Voxgram with its default
    settings (live transcripts on, from the live run) and the naive bot."""
    table.section(
        "Telegram calls for one short note in private (sent alone to an idle bot; "
        "Voxgram with its default settings, live transcripts on)"
    )
    calls = {SQLITE: live_run.calls_per_note, NAIVE: runs[NAIVE].calls_per_note}
    for method in sorted({m for c in calls.values() for m in c}):
        table.row(method, {col: str(c.get(method, 0)) for col, c in calls.items()})
    count = {col: persistent_count(c) for col, c in calls.items()}
    table.row(
        "persistent messages (not edits, drafts, actions)",
        {col: str(k) for col, k in count.items()},
        Target("persistent messages per short note", count[SQLITE], 1, "", exactly=True),
    )
    return {
        RUN_KEYS[SQLITE]: {
            "live_transcripts": True,
            "calls": live_run.calls_per_note,
            "persistent_messages": count[SQLITE],
        },
        RUN_KEYS[NAIVE]: {"calls": calls[NAIVE], "persistent_messages": count[NAIVE]},
    }


def live_section(table: Table, run: live.LiveRun) -> dict[str, Any]:
    """Live transcripts with the defaults: update → first words in a draft, against the fake
    Mistral's first streamed segment; update → the transcript. Returns the run's JSON."""
    first_ms = run.first_segment * 1000
    table.section(
        f"Live transcripts (defaults, LIVE_TRANSCRIPTS on): {run.notes} short notes one at a "
        f"time from {run.users} users in private; the fake Mistral streams its first segment "
        f"{first_ms:.0f} ms after the request, then one every {run.gap * 1000:.0f} ms"
    )
    table.row(
        "update → transcription request at the fake Mistral, p50",
        f"{percentile_ms(run.to_request, 50):.0f} ms",
    )
    table.row(
        'update → first draft (the empty "thinking" placeholder), p50',
        f"{percentile_ms(run.placeholders, 50):.0f} ms",
    )
    table.row(
        "update → first words in a draft, p50", f"{percentile_ms(run.first_words, 50):.0f} ms"
    )
    after = percentile_ms(run.after_first_segment, 50)
    table.row(
        f"the same minus the first segment's {first_ms:.0f} ms, p50",
        f"{after:.0f} ms",
        Target(
            "live transcripts: update → first words in a draft",
            after,
            LIVE_AFTER_FIRST_SEGMENT_MS,
            "ms",
            offset="first streamed segment + ",
        ),
    )
    table.row(
        "update → transcript (a new message replying to the note), p50",
        f"{percentile_ms(run.finals, 50):.0f} ms",
    )
    table.row("drafts per note (the placeholder included)", f"{np.mean(run.drafts):.1f}")
    table.note(
        f"The bot sends one note's drafts of lines at least {DRAFT_EVERY:g} s apart "
        "(DRAFT_EVERY, bot/telegram/drafts.py); the first lines follow the placeholder at once."
    )
    if run.worded < run.notes:
        table.note(
            f"{run.notes - run.worded} of {run.notes} notes showed no words in a draft before "
            "their transcript: their first words are counted when the transcript came."
        )
    if run.streamed < run.notes + 1:
        table.note(f"WARNING: only {run.streamed} of {run.notes + 1} transcriptions streamed")
    return {
        "notes": run.notes,
        "users": run.users,
        "first_segment_s": run.first_segment,
        "gap_s": run.gap,
        "to_request_s": run.to_request,
        "placeholder_s": run.placeholders,
        "first_words_s": run.first_words,
        "first_words_after_first_segment_p50_ms": after,
        "first_words_p50_ms": percentile_ms(run.first_words, 50),
        "first_words_p99_ms": percentile_ms(run.first_words, 99),
        "final_s": run.finals,
        "final_p50_ms": percentile_ms(run.finals, 50),
        "drafts_per_note": run.drafts,
        "notes_with_words_in_a_draft": run.worded,
        "streamed_requests": run.streamed,
        "telegram_calls": run.calls,
        "persistent_messages": persistent_count(run.calls),
    }


async def run_bursts(
    notes: list[audio.Note], args: argparse.Namespace
) -> dict[int, dict[str, scenarios.Run]]:
    """Each burst size, run by Voxgram then by the naive bot on the same notes."""
    m, latency, c = args.users, args.latency, args.concurrency
    runs: dict[int, dict[str, scenarios.Run]] = {}
    for n in sorted(set(args.notes)):
        say(f"burst: {n} notes from {m} users, L={latency:g} s, C={c}…")
        vox = await scenarios.burst(notes[:n], users=m, latency=latency, concurrency=c)
        say(f"burst: the same {n} notes, naive bot…")
        naive = await scenarios.burst(
            notes[:n],
            users=m,
            latency=latency,
            concurrency=scenarios.NAIVE_CONCURRENCY,
            bot=NAIVE_MODULE,
        )
        runs[n] = {SQLITE: vox, NAIVE: naive}
    return runs


async def run_steady(
    notes: list[audio.Note], args: argparse.Namespace, senders: int
) -> tuple[dict[str, scenarios.Run], str | None]:
    """The steady overhead run: Voxgram on SQLite, on PostgreSQL (a throwaway server), the naive
    bot. Returns the runs by column and, when PostgreSQL was not run, why not."""
    latency, c = args.latency, args.concurrency

    async def steady(column: str, bot: str, database_url: str = "") -> scenarios.Run:
        say(
            f"overhead ({column}): one note alone, then {args.overhead_notes} notes, "
            f"{senders} users each waiting for their last…"
        )
        return await scenarios.steady(
            notes,
            senders=senders,
            latency=latency,
            concurrency=c,
            bot=bot,
            database_url=database_url,
        )

    runs = {SQLITE: await steady(SQLITE, VOXGRAM_MODULE)}
    skipped: str | None = "--no-postgresql" if args.no_postgresql else None
    if skipped is None:
        try:
            server = await asyncio.to_thread(start_postgresql)
        except PostgresUnavailable as exc:
            skipped = str(exc)
        else:
            try:
                url = await asyncio.to_thread(server.create_database)
                runs[POSTGRESQL] = await steady(POSTGRESQL, VOXGRAM_MODULE, url)
            finally:
                await asyncio.to_thread(server.stop)
    if skipped is not None:
        say(f"overhead ({POSTGRESQL}): skipped, {skipped}")
    runs[NAIVE] = await steady(NAIVE, NAIVE_MODULE)
    return runs, skipped


async def bursts(args: argparse.Namespace, table: Table, results: dict[str, Any]) -> None:
    """Issue #7: the bursts beside the naive bot, the overhead per note, Telegram calls per
    note, CPU and memory, the one-at-a-time bot."""
    m, latency, c = args.users, args.latency, args.concurrency
    senders = max(1, c // 2)
    steady_count = args.overhead_notes + senders + 1  # + one alone and a warm-up round
    largest = max(args.notes)
    count = max(largest, steady_count, args.serial_notes, args.live_notes + 1)
    say(f"generating {count} voice notes…")
    notes = audio.distinct_notes(count)
    heavy = audio.sized_voice_note(round(args.in_flight_mb * MB))

    pairs = await run_bursts(notes, args)
    steady, postgresql = await run_steady(notes[:steady_count], args, senders)
    say(
        f"live transcripts: one note alone, then {args.live_notes} one at a time, "
        f"{args.live_users} users…"
    )
    live_run = await live.live(
        notes[: args.live_notes + 1],
        users=args.live_users,
        first_segment=args.live_first_segment,
        gap=args.live_gap,
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

    for runs in pairs.values():
        burst_section(table, runs)
    table.note(
        "The naive bot (bench/naive.py) takes every update at once "
        f"({scenarios.NAIVE_CONCURRENCY}, PTB's concurrent_updates(True)) and does not pace its"
        " messages, so it may beat the bound."
    )
    results["overhead"] = overhead_section(table, steady, c, postgresql)
    if postgresql is not None:
        results["overhead"]["postgresql_not_run"] = postgresql
    results["calls_per_note"] = calls_section(table, steady, live_run)
    results["live_transcripts"] = live_section(table, live_run)

    # The one-at-a-time bot's throughput is steady, so N notes take N times its time per note.
    serial_per_note = serial.makespan / serial.notes
    serial_n = serial_per_note * largest
    speedup = serial_n / pairs[largest][SQLITE].makespan
    peak = megabytes(in_flight.peak_rss)
    table.section(
        f"Memory: {k} notes of {in_flight.note_bytes / MB:.1f} MB at once "
        f"({in_flight.max_in_flight} at the fake Mistral together)"
    )
    table.row(
        "peak RSS (bot process)",
        f"{peak:.0f} MB",
        Target("peak RSS in flight", peak, PEAK_RSS_IN_FLIGHT_MB, "MB"),
    )
    table.section("One at a time (MAX_CONCURRENT_TRANSCRIPTIONS=1), the same notes and L")
    table.row(f"{serial.notes} notes took (measured)", f"{serial.makespan:.2f} s")
    table.row(f"{largest} notes would take (extrapolated)", f"{serial_n:.1f} s")
    table.row(
        f"C={c} is faster by",
        f"{speedup:.1f} ×",
        Target("speedup over one at a time", speedup, 10, "×", at_most=False),
    )
    table.note(
        f"The one-at-a-time run sends {serial.notes} notes, not {largest}: at L={latency:g} s it"
        f" would take {serial_n:.0f} s. Its time per note ({serial_per_note:.3f} s) is steady, so"
        " it is multiplied by N."
    )
    results["bursts"] = {
        str(n): {RUN_KEYS[col]: run_json(run) for col, run in runs.items()}
        for n, runs in pairs.items()
    }
    results["in_flight"] = run_json(in_flight)
    results["serial"] = {
        **run_json(serial),
        "per_note_s": serial_per_note,
        "extrapolated_makespan_s": serial_n,
        "speedup": speedup,
    }
    panels = [
        BurstPanel(
            f"burst N={n}, M={runs[SQLITE].users}",
            {f"Voxgram, C={c}": runs[SQLITE].latencies, NAIVE: runs[NAIVE].latencies},
            runs[SQLITE].bound,
        )
        for n, runs in pairs.items()
    ]
    panels[-1].latencies["Voxgram, C=1"] = serial.latencies
    plot(
        args.out / "latency.png",
        overheads={col: run.overheads for col, run in steady.items()},
        overhead_targets={"p50": OVERHEAD_P50_MS, "p99": OVERHEAD_P99_MS},
        bursts=panels,
        title=f"Voxgram beside the naive bot: M={m}, L={latency:g} s, C={c}",
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
        Target("peak RSS growth, 100 MB vs 1 MB file", growth, RSS_GROWTH_MB, "MB"),
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
    results["table"] = table.as_json()
    results["elapsed_s"] = elapsed
    write_json(args.out / "results.json", results)
    print(header(info))
    print()
    print(table.render())
    print()
    written = [args.out / "results.json"]
    if "bursts" in results:
        written.append(args.out / "latency.png")
    if args.readme is not None:
        readme.rewrite(args.readme, results)
        written.append(args.readme)
    print(f"{elapsed:.0f} s in all; wrote {', '.join(str(p) for p in written)}")
    missed = [t for t in table.targets if t.met is False]
    if missed:
        print(f"\n{len(missed)} of {len(table.targets)} targets missed:")
        for target in missed:
            print(f"  {target.describe()}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    # The fakes' and the HTTP libraries' chatter would bury the table.
    logging.basicConfig(level=logging.WARNING)
    raise SystemExit(asyncio.run(main(parse_args(None))))
