"""Join (or start) a Ray cluster for ``--ray`` and size the engine's actor pool on it.

Only the commands given ``--ray`` import this module, and it imports Ray
inside its functions: ganrt starts and runs without Ray installed.

- ``--ray`` alone starts a local Ray head for this run (the embedded default)
  and stops it at the end; ``--ray ADDRESS`` joins a running cluster
  (``ray start --head`` on one machine, ``ray start --address …`` on the
  others), whose nodes need ganrt installed and the inputs and outputs on
  shared storage.
- The engine runs in an actor pool: one actor per GPU when the engine runs
  on CUDA, else ``--ray-actors`` CPU actors (default: one per two cores),
  each with its share of the cores as engine threads.
- ``GANRT_*`` variables (the cache folder, say) travel to the workers.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ganrt.errors import BackendUnavailableError, ResourceError, UsageError

log = logging.getLogger(__name__)

LOCAL = "local"


@dataclass(frozen=True)
class ActorPlan:
    """How many engine actors, what each one reserves, and the threads its engine may use."""

    actors: int
    num_cpus: float
    num_gpus: float
    threads: int | None
    task_cpus: float  # what each read/write task reserves
    per_node: int = 1  # engine actors sharing one node's memory

    def describe(self) -> str:
        what = f"{self.num_gpus:g} GPU" if self.num_gpus else f"{self.threads} thread(s)"
        return f"{self.actors} Ray actor(s), {what} each"


def import_ray():
    try:
        import ray
    except ImportError:
        raise BackendUnavailableError("--ray needs Ray: pip install 'ganrt[ray]'") from None
    return ray


def worker_env() -> dict[str, str]:
    """The environment the workers need from the driver's: ganrt's own variables."""
    return {k: v for k, v in os.environ.items() if k.startswith("GANRT_")}


def native_log_path() -> Path:
    return Path(tempfile.gettempdir()) / f"ganrt-ray-{os.getuid()}.log"


@contextmanager
def native_logs_aside() -> Iterator[None]:
    """Ray's C++ layers log to file descriptor 2 (a line per actor it starts, per worker it loses):
    send that descriptor to :func:`native_log_path` while Python's own ``sys.stderr`` (ganrt's
    messages and progress) keeps the terminal. ``GANRT_DEBUG=1`` leaves both on the terminal."""
    if os.environ.get("GANRT_DEBUG") == "1":
        yield
        return
    sys.stderr.flush()
    keep = os.dup(2)
    target = os.open(native_log_path(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    old = sys.stderr
    sys.stderr = os.fdopen(keep, "w", buffering=1, encoding=old.encoding, errors=old.errors)
    os.dup2(target, 2)
    os.close(target)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(keep, 2)
        sys.stderr.close()
        sys.stderr = old


@contextmanager
def connected(address: str | None) -> Iterator[object]:
    """Ray, initialised for this run: a local head (``address`` None or "local") or a cluster's."""
    with native_logs_aside():
        with _connected(address) as ray:
            yield ray


@contextmanager
def _connected(address: str | None) -> Iterator[object]:
    joining = address not in (None, "", LOCAL)
    if joining:
        _use_token_if_any()  # before Ray is imported: it reads its auth mode once, on import
    ray = import_ray()
    quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR,
             "runtime_env": {"env_vars": worker_env()}}
    os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    if ray.is_initialized():  # a caller (a test, a notebook) already joined one: use it, leave it running
        _quiet_data(ray)
        yield ray
        return
    try:
        if not joining:
            ray.init(address=LOCAL, num_cpus=os.cpu_count() or 1, **quiet)  # its own, not one already running here
        else:
            _check_reachable(address)
            ray.init(address=address, **quiet)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = "a local Ray" if not joining else f"the Ray cluster at {address}"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"cannot start or join {where}: {first[:200]}") from None
    from ganrt import signals

    signals.install()  # ray.init replaced SIGTERM's handler by sys.exit(15): ganrt's ends in 143, work kept
    try:
        _quiet_data(ray)
        yield ray
    finally:
        ray.shutdown()


def _use_token_if_any() -> None:
    """Clusters of ``ray start`` (2.5x) ask for the token it wrote to ~/.ray/auth_token; a client
    that joins by address sends it only in token mode, which also joins clusters that ask for none."""
    if "RAY_AUTH_MODE" in os.environ:
        return
    token_file = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", Path.home() / ".ray" / "auth_token"))
    if os.environ.get("RAY_AUTH_TOKEN") or token_file.is_file():
        os.environ["RAY_AUTH_MODE"] = "token"


_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # + empty SETTINGS


def _check_reachable(address: str, seconds: float = 10.0) -> None:
    """Ray retries an address for minutes, whether nothing answers there or something that is not Ray: try it
    once, briefly, first. Ray's head (its GCS, and the ``ray://`` client server) speaks gRPC, so it answers an
    HTTP/2 greeting with HTTP/2 settings; a web server, a database or a closed port does not."""
    import socket

    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto" and kin: Ray finds the address itself
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=seconds) as sock:
            sock.sendall(_HTTP2_PREFACE)
            head = b""
            while len(head) < 9:
                part = sock.recv(9 - len(head))
                if not part:
                    break
                head += part
    except socket.timeout:
        raise ConnectionError(f"something at {hostport} accepted the connection but said nothing in {seconds:g} s: "
                              "it is not a Ray head (its GCS port, 6379 by default, or ray://HOST:10001)") from None
    except OSError as exc:
        raise ConnectionError(f"nothing answers at {hostport} ({exc.strerror or exc})") from None
    if len(head) < 9 or head[3] != 0x04:  # the first frame of an HTTP/2 server is its SETTINGS
        raise ConnectionError(f"{hostport} answers, but not as a Ray head does (no gRPC there): is it the cluster's "
                              "GCS port (6379 by default, or ray://HOST:10001)?")


def _quiet_data(ray) -> None:
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    for name in ("print_on_execution_start", "enable_operator_progress_bars"):
        if hasattr(ctx, name):
            setattr(ctx, name, False)
    for name in ("ray.data", "ray"):
        logging.getLogger(name).setLevel(logging.ERROR)


def plan_actors(ray, device: str, requested: int | None) -> ActorPlan:
    """One actor per GPU for CUDA engines; else ``requested`` CPU actors (default: one per two cores)."""
    resources = ray.cluster_resources()
    cpus = float(resources.get("CPU", 1.0))
    gpus = int(resources.get("GPU", 0))
    nodes = max(1, sum(1 for n in ray.nodes() if n.get("Alive")))
    if device.startswith("cuda"):
        if gpus < 1:
            raise ResourceError("the engine runs on CUDA but the Ray cluster has no GPU; use --device cpu")
        actors = requested or gpus
        if actors > gpus:
            raise UsageError(f"--ray-actors {actors}: the Ray cluster has {gpus} GPU(s), one per actor")
        return ActorPlan(actors, num_cpus=min(1.0, cpus / (2 * actors)), num_gpus=1, threads=None,
                         task_cpus=_task_cpus(cpus, actors))
    actors = requested or max(1, int(cpus) // 2)
    per_node = math.ceil(actors / nodes)
    threads = max(1, int(cpus / nodes) // per_node)
    return ActorPlan(actors, num_cpus=min(1.0, cpus / (actors + 1)), num_gpus=0, threads=threads,
                     task_cpus=_task_cpus(cpus, actors), per_node=per_node)


def _task_cpus(cpus: float, actors: int) -> float:
    """A reservation small enough that reads and writes run beside the engine actors (it is logical:
    the decoders and encoders share the cores with the engines, as the threads of one process do)."""
    return 0.25 if cpus >= 2 else 0.1
