"""The benchmark: the real bot (`python -m bot`) against the tests' fake Bot API and Mistral.

`python -m bench` (or `make bench`) prints the table of issue #7 (bursts, overhead per note,
CPU and memory, the one-at-a-time baseline) and of issue #4 (big files, long audio in chunks),
and writes bench/results.json and bench/latency.png.
"""
