"""The ``--report`` file of a folder job: JSON (the summary, the settings, every failure, every warning
on what an output lost of its input, every ignored file), or CSV for a spreadsheet (one row per
failure, warning or ignored file: path, outcome, reason).

A CSV is written in UTF-8 with a byte-order mark, which is how Excel knows the names are UTF-8.
A rerun replaces the report its job wrote without ``--overwrite`` (the job state records it, content and all);
any other file of that name is the user's.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ganrt.fsutil import atomic_write_bytes

SUFFIXES = (".json", ".csv")
MARK = "ganrt-report"
CSV_HEADER = ("path", "outcome", "reason")


def write(path: Path, report: dict) -> None:
    """Write ``report`` (``ArchiveResult.report``, its mark first) in the format ``path``'s suffix names."""
    if path.suffix.lower() == ".csv":
        text = io.StringIO(newline="")
        rows = csv.writer(text, lineterminator="\r\n")
        rows.writerow(CSV_HEADER)
        for outcome, key, why in (("failed", "failures", "reason"), ("warning", "warnings", "note"),
                                  ("ignored", "ignored_files", "reason")):
            for entry in report[key]:
                rows.writerow((entry["path"], outcome, entry[why]))
        atomic_write_bytes(path, text.getvalue().encode("utf-8-sig"))
    else:
        atomic_write_bytes(path, (json.dumps(report, indent=2) + "\n").encode())
