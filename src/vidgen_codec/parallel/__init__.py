"""Parallel work (issue 16): chunked encoding and decoding of one file, batch jobs over many,
on an embedded local Ray or a cluster (`pool.py`)."""
