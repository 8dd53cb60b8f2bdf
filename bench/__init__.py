"""The benchmark: the real bot (`python -m bot`) against the tests' fake Bot API and Mistral.

`python -m bench` (or `make bench`) prints a table (bursts of N=100 and N=200 notes beside a naive
PTB bot run on the same notes, overhead per note on SQLite and on PostgreSQL, Telegram calls per
note, live transcripts' first words, CPU and memory, the one-at-a-time baseline, big files, long
audio in chunks), and writes bench/results.json and
bench/latency.png; `--check` exits 1 when a target is missed, `--readme README.md` rewrites the
README's table (bench/readme.py).
"""
