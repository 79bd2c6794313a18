"""Remote folders and clusters, tried as a careless or hostile user would: an object-store key never writes
outside OUTPUT, and an address that answers but is not Ray is one line within seconds.

A real S3 endpoint (moto's server) and real sockets; the commands run in their own processes."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image
from s3_store import bucket, s3_endpoint  # noqa: F401 - fixtures

FAST = ["-m", "realesr-animevideov3", "--backend", "onnxruntime", "--device", "cpu", "--precision", "fp32", "-q"]


def ganrt(*args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganrt", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def png_bytes(photo: np.ndarray) -> bytes:
    import io

    out = io.BytesIO()
    Image.fromarray(photo).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.slow
def test_keys_with_dot_dot_never_write_outside_output(tmp_path, photos, bucket):
    pytest.importorskip("s3fs")
    url, fs = bucket
    root = url.removeprefix("s3://")
    photo = png_bytes(photos["chelsea_45x59"])
    for key in ("scans/a.png", "scans/../escape.png", "scans/sub/../../escape2.png", "scans/../../victim.png",
                "scans/./dot.png", "scans//double.png"):
        fs.pipe_file(f"{root}/{key}", photo)
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"the user's own file")
    out = tmp_path / "local" / "out"
    for extra in ([], ["--overwrite"]):
        done = ganrt("restore", f"{url}/scans", out, *FAST, *extra)
        assert done.returncode == 1, done.stderr  # the odd keys are failure rows; a.png is restored
        failed = [line for line in done.stderr.splitlines() if line.startswith("failed: ")]
        assert len(failed) == 5 and all("outside OUTPUT" in line for line in failed), done.stderr
    assert victim.read_bytes() == b"the user's own file"
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))
    assert written == ["local/out/a.png", "victim.png"]
    # and a remote OUTPUT: nothing lands beside it either
    done = ganrt("restore", f"{url}/scans", f"{url}/restored", *FAST, "--overwrite")
    assert done.returncode == 1, done.stderr
    assert sorted(k[len(root) + 1:] for k in fs.find(root) if not k.startswith(f"{root}/scans")) == [
        "restored/.ganrt-state.sqlite", "restored/a.png"]


def serve(handler) -> tuple[int, threading.Event]:
    """A TCP server on a free port of this machine answering each connection with ``handler(conn)``."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def loop():
        listener.settimeout(0.5)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                handler(conn)
        listener.close()

    threading.Thread(target=loop, daemon=True).start()
    return listener.getsockname()[1], stop


def http_server(conn) -> None:
    conn.recv(1024)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


def silent_server(conn) -> None:
    time.sleep(12)


@pytest.mark.parametrize("handler, says", [(http_server, "not as a Ray head does"),
                                           (silent_server, "said nothing")])
@pytest.mark.slow
def test_an_address_that_answers_but_is_not_ray_is_one_line_within_seconds(tmp_path, photos, handler, says):
    pytest.importorskip("ray")
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(photos["chelsea_45x59"]).save(src / "a.png")
    port, stop = serve(handler)
    began = time.perf_counter()
    try:
        done = ganrt("restore", src, tmp_path / "out", *FAST, "--ray", f"127.0.0.1:{port}", timeout=120)
    finally:
        stop.set()
    assert done.returncode == 2 and done.stderr.startswith("error: ") and len(done.stderr.splitlines()) == 1, \
        done.stderr
    assert says in done.stderr and time.perf_counter() - began < 40
    assert not (tmp_path / "out" / "a.png").exists()
