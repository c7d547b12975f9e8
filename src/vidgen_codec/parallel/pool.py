"""Where parallel work runs: in this process (one worker), or as Ray tasks (Ray, Moritz et al.,
OSDI 2018; docs.ray.io): an embedded local Ray by default, or an existing cluster.

    ordered(fn, args, workers): fn(*a) for each a, results in the order of `args`, at most
    2 x workers tasks in flight (so results wait in memory for at most that many tasks)

The embedded Ray binds to the loopback address only (node IP 127.0.0.1, no dashboard, no
usage reporting): on a machine with several addresses Ray would otherwise advertise the one it
finds by looking outwards. A worker process that dies in a task (killed, out of memory) is
replaced and the task runs again (TASK_RETRIES times); an error raised by the task itself is
not retried and reaches the caller as itself (a vgc InputError stays one).
"""

from __future__ import annotations

import os
from collections import deque

TASK_RETRIES = 3
LOOPBACK = "127.0.0.1"


def ordered(fn, args: list[tuple], workers: int, address: str | None = None):
    """Yield fn(*a) for each a in `args`, in order."""
    if workers <= 1 and address is None:
        yield from (fn(*a) for a in args)
        return
    ray, task = _remote(fn, workers, address)
    pending: deque = deque()
    todo = iter(args)
    try:
        for a in todo:
            pending.append(task.remote(*a))
            if len(pending) >= 2 * workers:
                break
        while pending:
            yield _get(ray, pending.popleft())
            for a in todo:
                pending.append(task.remote(*a))
                break
    finally:
        for ref in pending:  # the caller stopped early (an error): drop what is left
            ray.cancel(ref, force=True)


def unordered(fn, args: list[tuple], workers: int, address: str | None = None):
    """Yield fn(*a) for each a in `args` as the tasks finish. A task that Ray could not run
    (its worker died TASK_RETRIES + 1 times) yields (a[0], {"status": "failed", ...})."""
    if workers <= 1 and address is None:
        yield from (fn(*a) for a in args)
        return
    ray, task = _remote(fn, workers, address)
    todo = iter(args)
    running: dict = {}
    try:
        while True:
            for a in todo:
                running[task.remote(*a)] = a
                if len(running) >= 2 * workers:
                    break
            if not running:
                return
            (ref,), _ = ray.wait(list(running), num_returns=1)
            a = running.pop(ref)
            try:
                yield ray.get(ref)
            except (ray.exceptions.RayError, OSError) as e:
                yield a[0], {"status": "failed", "retry": True,
                             "error": " ".join(str(e).split())[:300]}
    finally:
        for ref in running:
            ray.cancel(ref, force=True)


def _remote(fn, workers: int, address: str | None):
    """(ray, fn as a Ray task of one CPU, run again when its worker dies)."""
    ray = start(workers, address)
    return ray, ray.remote(num_cpus=1, max_retries=TASK_RETRIES)(fn)


def start(workers: int, address: str | None = None):
    """Ray, initialised: connected to `address` (or RAY_ADDRESS), or an embedded local
    instance with `workers` CPUs on the loopback address. Reused when already initialised."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is None:
        # Ray's node IP: the loopback address instead of the outward-facing one
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    try:
        import ray
    except ImportError:
        from ..errors import InputError

        raise InputError("--workers above 1 needs Ray: pip install -e '.[ray]'") from None
    if ray.is_initialized():
        return ray
    if address is not None:
        check_address(address)
        try:
            ray.init(address=address, configure_logging=False, log_to_driver=False)
        except (ConnectionError, RuntimeError) as e:
            from ..errors import InputError

            raise InputError(f"cannot connect to the Ray cluster at {address}: "
                             f"{' '.join(str(e).split())[:200]}") from None
        return ray
    # the variable above is read when ray is imported: if it was imported before, set what
    # it sets (Ray's node IP lookup reads it at each call)
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False
    # address "local": a new instance, never one that `ray start` left running here
    try:
        ray.init(address="local", num_cpus=workers, include_dashboard=False,
                 _node_ip_address=LOOPBACK, configure_logging=False, log_to_driver=False)
    except (ConnectionError, RuntimeError) as e:
        from ..errors import InputError

        raise InputError(f"cannot start a local Ray: {' '.join(str(e).split())[:200]}") \
            from None
    found = {n["NodeManagerAddress"] for n in ray.nodes()}
    if found != {LOOPBACK}:
        ray.shutdown()
        from ..errors import InputError

        raise InputError(f"the local Ray came up on {', '.join(sorted(found))}, not "
                         f"{LOOPBACK} only: not started")
    return ray


def check_pool(address: str | None) -> None:
    """Before any work: Ray is installed, and a cluster address (else RAY_ADDRESS) answers."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        from ..errors import InputError

        raise InputError("--workers above 1 needs Ray: pip install -e '.[ray]'")
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address not in (None, "auto", "local"):
        check_address(address)


def check_address(address: str, seconds: float = 5.0) -> None:
    """Refuse at once a cluster address that does not answer (Ray itself retries for
    minutes): one TCP connection to its GCS port."""
    import socket

    from ..errors import InputError

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"--ray-address {address!r}: expected HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=seconds).close()
    except OSError as e:
        raise InputError(f"cannot reach the Ray cluster at {address}: "
                         f"{e.strerror or e}") from None


def _get(ray, ref):
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as e:
        cause = e.cause if getattr(e, "cause", None) is not None else None
        if isinstance(cause, OSError):  # not this process's output failing: say whose
            from ..errors import InputError

            raise InputError(f"a worker failed: {cause}") from None
        if isinstance(cause, Exception):
            raise cause from None
        raise
