"""Measuring engines: latency statistics, the machine description, and the `ganrt bench` runner."""
