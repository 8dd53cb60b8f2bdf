"""The benchmark: the real bot (`python -m bot`) against the tests' fake Bot API and Mistral.

`python -m bench` (or `make bench`) prints a table (bursts, overhead per note, CPU and memory,
the one-at-a-time baseline, big files, long audio in chunks), and writes bench/results.json and
bench/latency.png.
"""
