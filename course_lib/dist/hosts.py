"""Several "hosts" on one Linux machine: network namespaces joined by a virtual cable.

Running across hosts changes one thing in the code: an address. A Dask worker on another host
is started with the scheduler's address (``dask worker tcp://10.0.0.5:8786``), and the client
connects to it (``COURSE_DASK_SCHEDULER=tcp://10.0.0.5:8786``); MPI gets a hostfile (one
``host:slots`` per line: ``mpiexec -f hosts -n 8 python prog.py``). To test that path without a
second machine, a network namespace gives a process its own network stack (interfaces,
addresses, ports) as a second host would have:

1. ``ip netns add A`` and ``ip netns add B``: two empty network stacks.
2. ``ip link add va type veth peer name vb``: a virtual cable with two ends; move one end into
   each namespace and give them private addresses (``10.231.0.1/24`` and ``10.231.0.2/24``).
3. Start the scheduler in A, listening on A's address only, and a worker in B given that
   address; run the client in A. Every byte between worker and scheduler crosses the cable.
4. Always: kill the processes, delete the namespaces (which deletes the cable).

Needs root (or CAP_NET_ADMIN) and iproute2; :func:`namespaces_available` says why not.

MPI across namespaces (:func:`mpi_across_namespaces`): Hydra starts the ranks of other hosts
through a *launcher*, ``ssh`` by default, which needs an ssh server and password-less keys on
every host; with those, :func:`~course_lib.dist.mpirun` with ``hostfile=`` is all it takes.
Namespaces have no ssh server, so here Hydra's ``manual`` launcher prints the command of each
host's proxy (``hydra_pmi_proxy --control-port ...``) and we run each one inside its namespace
with ``ip netns exec``: the same thing ssh would do on a real cluster.

Source: ip-netns(8) and veth(4) manual pages; the Dask documentation, "Deploy Dask
Clusters: Command Line".
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from typing import Iterator

__all__ = ["namespaces_available", "namespaces", "dask_across_namespaces", "mpi_across_namespaces"]

_SUBNET = "10.231.{}"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=20)


def namespaces_available() -> tuple[bool, str]:
    """``(True, "")`` when this process may create network namespaces, else ``(False, why)``."""
    if not sys.platform.startswith("linux"):
        return False, "network namespaces are a Linux feature"
    if shutil.which("ip") is None:
        return False, "the `ip` command (iproute2) is not installed"
    if os.geteuid() != 0:
        return False, "creating network namespaces needs root (or CAP_NET_ADMIN)"
    name = f"c10probe{os.getpid()}"
    probe = _ip("netns", "add", name, check=False)
    if probe.returncode != 0:
        return False, f"`ip netns add` failed: {probe.stderr.strip()}"
    _ip("netns", "delete", name, check=False)
    return True, ""


@contextlib.contextmanager
def namespaces(count: int = 2) -> Iterator[list[tuple[str, str]]]:
    """Create ``count`` (2 or more) namespaces on one private subnet, all joined to the first
    by veth pairs; yield ``[(name, address), ...]``; delete them all on exit.

    Raises:
        PermissionError: namespaces cannot be created here (the reason is in the message).

    Example:
        >>> with namespaces() as hosts:                                  # doctest: +SKIP
        ...     subprocess.run(["ip", "netns", "exec", hosts[1][0], "ping", "-c1", hosts[0][1]])
    """
    ok, why = namespaces_available()
    if not ok:
        raise PermissionError(why)
    tag = f"{os.getpid() % 100000}"
    subnet = _SUBNET.format(int(tag) % 200 + 20)
    names = [f"c10-{tag}-{i}" for i in range(count)]
    hosts = [(name, f"{subnet}.{i + 1}") for i, name in enumerate(names)]
    try:
        for name in names:
            _ip("netns", "add", name)
            _ip("-n", name, "link", "set", "lo", "up")
        bridge = [f"c10b{tag}", f"c10h{tag}"]      # hub side: a bridge joining every cable
        _ip("-n", names[0], "link", "add", bridge[0], "type", "bridge")
        _ip("-n", names[0], "link", "set", bridge[0], "up")
        _ip("-n", names[0], "addr", "add", f"{hosts[0][1]}/24", "dev", bridge[0])
        for i, (name, address) in enumerate(hosts[1:], start=1):
            hub, leaf = f"c10a{tag}{i}", f"c10z{tag}{i}"
            _ip("link", "add", hub, "type", "veth", "peer", "name", leaf)
            _ip("link", "set", hub, "netns", names[0])
            _ip("link", "set", leaf, "netns", name)
            _ip("-n", names[0], "link", "set", hub, "master", bridge[0])
            _ip("-n", names[0], "link", "set", hub, "up")
            _ip("-n", name, "addr", "add", f"{address}/24", "dev", leaf)
            _ip("-n", name, "link", "set", leaf, "up")
        yield hosts
    finally:
        for name in names:
            _ip("netns", "delete", name, check=False)


def _start(namespace: str, args: list[str], log) -> subprocess.Popen:
    return subprocess.Popen(["ip", "netns", "exec", namespace, sys.executable, *args],
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                            start_new_session=True)


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()


_CLIENT = """
import json, os
import numpy as np
from course_lib.dist.tasks import start_client
client = start_client()
client.wait_for_workers(1, timeout=30)
import dask.array as da
a = np.arange(1.0, 100_001.0)
x = da.from_array(a, chunks=10_000)
total = float((x ** 2).sum().compute())
hosts = sorted(w["host"] for w in client.scheduler_info()["workers"].values())
print(json.dumps({"total": total, "expected": float((a ** 2).sum()), "workers": hosts,
                  "scheduler": client.scheduler.address}))
client.close()
"""


def dask_across_namespaces(timeout: float = 90.0) -> dict:
    """Run a Dask computation whose scheduler lives in one namespace and whose only worker lives
    in another, joined by a veth cable; the client sets only ``COURSE_DASK_SCHEDULER``.

    Returns:
        ``{"total", "expected", "workers" (the workers' host addresses), "scheduler"}``.

    Raises:
        PermissionError: namespaces cannot be created here.
        RuntimeError: the computation failed or took longer than ``timeout`` (the logs of the
            scheduler and the worker are in the message).
    """
    import tempfile

    with namespaces(2) as hosts, tempfile.TemporaryFile("w+") as log:
        (ns_a, addr_a), (ns_b, addr_b) = hosts
        address = f"tcp://{addr_a}:8786"
        quiet = ["--no-dashboard"]
        procs = [_start(ns_a, ["-m", "distributed.cli.dask_scheduler", "--host", addr_a,
                               "--port", "8786", *quiet], log)]
        try:
            procs.append(_start(ns_b, ["-m", "distributed.cli.dask_worker", address, "--host", addr_b,
                                       "--nworkers", "1", "--nthreads", "1", *quiet], log))
            env = dict(os.environ, COURSE_DASK_SCHEDULER=address)
            client = subprocess.run(["ip", "netns", "exec", ns_a, sys.executable, "-c", _CLIENT],
                                    capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            client = None
        finally:
            _stop(procs)
        if client is None or client.returncode != 0:
            log.seek(0)
            detail = "timed out" if client is None else client.stderr[-1500:]
            raise RuntimeError(f"the Dask computation across namespaces failed: {detail}\n"
                               f"scheduler and worker logs:\n{log.read()[-2500:]}")
        return json.loads(client.stdout.strip().splitlines()[-1])


_RANK = (
    "import json, subprocess, sys\n"
    "from mpi4py import MPI\n"
    "c = MPI.COMM_WORLD\n"
    "ips = sorted(l.split()[3].split('/')[0] for l in subprocess.run(['ip', '-4', '-o', 'addr'],"
    " capture_output=True, text=True).stdout.splitlines() if not l.split()[3].startswith('127.'))\n"
    "total = c.allreduce(c.rank + 1)\n"
    "sys.stdout.write(json.dumps({'rank': c.rank, 'size': c.size, 'allreduce': total, "
    "'addresses': ips}) + '\\n')\n")


def mpi_across_namespaces(timeout: float = 60.0) -> list[dict]:
    """Run 2 MPI ranks, one per namespace, via Hydra's manual launcher and a hostfile; each rank
    reports its addresses and the result of an ``allreduce`` of ``rank + 1``.

    Returns:
        One dict per rank, sorted by rank: ``rank``, ``size``, ``allreduce`` (3 when it
        worked), ``addresses`` (the namespace's IPv4 addresses, loopback excluded).

    Raises:
        PermissionError: namespaces cannot be created here.
        course_lib.dist.MPIUnavailable: MPI is missing here.
        RuntimeError: the launch failed or ran past ``timeout``.
    """
    import tempfile

    from course_lib.dist.launch import MPIUnavailable, mpi_available

    status = mpi_available()
    if not status:
        raise MPIUnavailable(status.reason)
    # The proxies' own output goes to a file, never to this process's stderr (in a notebook a
    # proxy's message on shutdown would land in the cell's output as an error); its tail goes
    # into the error message when the launch fails.
    with namespaces(2) as hosts, tempfile.NamedTemporaryFile("w", suffix=".hosts") as hostfile, \
            tempfile.TemporaryFile("w+") as proxy_log:
        hostfile.write("".join(f"{address}:1\n" for _, address in hosts))
        hostfile.flush()
        launcher = subprocess.Popen(
            ["ip", "netns", "exec", hosts[0][0], status.mpiexec, "-launcher", "manual", "-f",
             hostfile.name, "-n", "2", sys.executable, "-c", _RANK],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
            start_new_session=True)
        proxies, lines = [], []
        try:
            deadline = time.monotonic() + timeout
            for line in launcher.stdout:            # 1. read the proxies' commands
                if line.startswith("HYDRA_LAUNCH:"):
                    command = line.split(":", 1)[1].strip()
                    namespace = hosts[len(proxies)][0]  # 2. run proxy i on host i
                    proxies.append(subprocess.Popen(["ip", "netns", "exec", namespace, "sh", "-c", command],
                                                    stdin=subprocess.DEVNULL, stdout=proxy_log,
                                                    stderr=subprocess.STDOUT, start_new_session=True))
                elif line.startswith("HYDRA_LAUNCH_END"):
                    break
            output, _ = launcher.communicate(timeout=max(1.0, deadline - time.monotonic()))
            lines = output.splitlines()
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"MPI across namespaces did not finish within {timeout:g} s") from None
        finally:
            _stop([launcher, *proxies])
            proxy_log.seek(0)
            proxy_output = proxy_log.read()
    ranks = [json.loads(x) for x in lines if x.startswith("{")]
    if launcher.returncode != 0 or len(ranks) != 2:
        raise RuntimeError("MPI across namespaces failed: " + "\n".join(lines)[-2000:]
                           + (f"\nproxies: {proxy_output[-1000:]}" if proxy_output.strip() else ""))
    return sorted(ranks, key=lambda r: r["rank"])
