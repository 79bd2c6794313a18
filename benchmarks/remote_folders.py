"""What fsspec URLs cost: ``ganrt restore`` between local folders against the same job between S3
folders (a real S3 protocol server on this machine: moto's, from the test extra).

As in ray_overhead.py, each mode runs the whole command on N and 2N images and the per-image part
comes from the difference: marginal images/s = N / (t(2N) − t(N)). A local endpoint has no network
latency or bandwidth limit, so the difference is ganrt's own cost per image (fetch to a temporary
file, upload, one listing per folder) plus the endpoint's Python server; a real bucket adds its
round trips (two per image: one GET, one PUT, overlapped by the reader and writer threads).

    python benchmarks/remote_folders.py [--count 16] [--size 256]
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import cv2
import numpy as np
from _results import write
from archive_throughput import make_archive
from ray_overhead import command_options, run


def main() -> None:
    args = command_options(__doc__).parse_args()
    import logging

    import s3fs
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the endpoint's request log

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": "us-east-1", "FSSPEC_S3_ENDPOINT_URL": endpoint})
    fs = s3fs.S3FileSystem(endpoint_url=endpoint, key="bench", secret="bench")
    fs.mkdir("bench-archive")
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            for n in (args.count, 2 * args.count):
                make_archive(root / f"in{n}", n, args.size)
                for path in (root / f"in{n}").rglob("*.jpg"):
                    fs.put_file(str(path), f"bench-archive/in{n}/{path.relative_to(root / f'in{n}').as_posix()}")
            run(root / f"in{args.count}", root / "warm", args, ray=False)  # weights and graph made once
            modes = (("local folders", lambda n: (str(root / f"in{n}"), str(root / f"out{n}"))),
                     ("s3:// folders (local endpoint)", lambda n: (f"s3://bench-archive/in{n}",
                                                                   f"s3://bench-archive/out{n}")))
            for mode, where in modes:
                t = {n: run(*where(n), args, ray=False) for n in (args.count, 2 * args.count)}
                marginal = args.count / max(t[2 * args.count] - t[args.count], 1e-9)
                rows.append({"mode": mode, f"wall {args.count} images (s)": round(t[args.count], 2),
                             f"wall {2 * args.count} images (s)": round(t[2 * args.count], 2),
                             "start-up (s)": round(t[args.count] - args.count / marginal, 2),
                             "marginal images/s": round(marginal, 3)})
            worst = 0
            for path in (root / f"out{2 * args.count}").rglob("*.jpg"):
                rel = path.relative_to(root / f"out{2 * args.count}").as_posix()
                remote = cv2.imdecode(np.frombuffer(fs.cat(f"bench-archive/out{2 * args.count}/{rel}"), np.uint8), 1)
                worst = max(worst, int(np.abs(cv2.imread(str(path)).astype(int) - remote).max()))
    finally:
        server.stop()
    base = rows[0]["marginal images/s"]
    for row in rows:
        row["marginal vs local"] = f"{row['marginal images/s'] / base:.2f}×"
    write("remote_folders", rows, list(rows[0]), f"ganrt restore between local and s3:// folders ({args.model}, "
          f"{args.size}² JPEG, CPU, one process)",
          notes=f"Largest output difference between the modes: {worst} level(s). The S3 endpoint is moto's "
                "server in the same machine: no network, so this is ganrt's own per-image cost.")


if __name__ == "__main__":
    main()
