"""A real S3 endpoint on this machine (moto's server, from the test extra) for the fsspec-URL tests.

The fixture points every ganrt command the tests start (and their Ray workers, which inherit the
environment) at it, as an operator's credentials and endpoint settings would."""

from __future__ import annotations

import os
import socket
import uuid

import pytest


@pytest.fixture(scope="session")
def s3_endpoint():
    pytest.importorskip("s3fs")
    server_mod = pytest.importorskip("moto.server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"AWS_ACCESS_KEY_ID": "ganrt-test", "AWS_SECRET_ACCESS_KEY": "ganrt-test", "AWS_DEFAULT_REGION": "us-east-1",
           "FSSPEC_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env["FSSPEC_S3_ENDPOINT_URL"]
    server.stop()
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def bucket(s3_endpoint):
    """A fresh bucket: (its s3:// URL, an s3fs filesystem on the test endpoint)."""
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=s3_endpoint, key="ganrt-test", secret="ganrt-test")
    name = f"ganrt-{uuid.uuid4().hex[:12]}"
    fs.mkdir(name)
    return f"s3://{name}", fs


def upload_folder(fs, local, url: str) -> None:
    from pathlib import Path

    for path in sorted(Path(local).rglob("*")):
        if path.is_file():
            fs.put_file(str(path), f"{url.removeprefix('s3://')}/{path.relative_to(local).as_posix()}")
