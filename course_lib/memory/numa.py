"""NUMA: which memory is near which CPU, and where the pages of a NumPy array really live (c06).

A server with two sockets has two memory controllers; each socket reaches its own memory
directly and the other's through the link between the sockets. Linux calls each group of CPUs
plus its memory a *node*. This module shows the nodes and puts a node number on every page.

1. :func:`nodes` / :func:`topology`: the nodes, their CPUs and memory, and the distance
   matrix from ``/sys/devices/system/node/nodeN/distance``. Distances follow ACPI's SLIT
   (System Locality Information Table, ACPI spec section 5.2.17): 10 means local, other values
   are relative to it, so a remote 21 says "about 2.1 times as far"; the firmware writes these
   numbers, nobody measures them.
2. :func:`page_nodes`: the node of each page of an array, through the ``move_pages`` system
   call in query mode (``course_lib/_c/numa.c``). A page the program never touched has no
   node yet: it shows as :data:`NOT_PRESENT` (``-ENOENT``); a page only ever read from
   zero-initialised memory maps the kernel's shared zero page and shows :data:`ZERO_PAGE`
   (``-EFAULT``).
3. :func:`first_touch_demo`: Linux places a page on the node of the CPU that *first writes*
   it, not the one that allocated it ("first touch"). Allocate, look (no pages), touch from a
   pinned thread, look again.
4. :func:`libnuma`: whether the libnuma library is here (the course does not need it).
5. :func:`expected_remote_penalty`: what remote memory typically costs on a two-socket server,
   so a one-node laptop can still tell the story.

Everything works on a one-node machine, without ``/sys/devices/system/node`` and on macOS: a
feature that is missing is reported ("not available here, because ..."), never raised.

Sources: Linux man-pages move_pages(2), numa(7) and set_mempolicy(2) (first-touch is the
default local policy); kernel Documentation/admin-guide/mm/numa_memory_policy.rst; ACPI
specification 6.4, section 5.2.17 (SLIT).

Thread-safety: the functions keep no state; :func:`page_nodes` is a snapshot (a page may be
touched or migrated right after).
"""
from __future__ import annotations

import ctypes.util
import errno
import mmap
import os
import platform
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from course_lib.measure.machine import NumaNode, _numa_linux, _read, format_bytes, format_cpulist

__all__ = ["NOT_PRESENT", "ZERO_PAGE", "NumaUnavailable", "NumaTopology", "nodes", "topology",
           "move_pages_reason", "page_nodes", "page_counts", "page_summary", "FirstTouch",
           "first_touch_demo", "LibNuma", "libnuma", "RemotePenalty", "expected_remote_penalty"]

#: Status of a page that was never touched: no physical page behind it yet (``-ENOENT``).
NOT_PRESENT = -errno.ENOENT
#: Status of a page that maps the kernel's shared zero page (read, never written), or of an
#: address outside every mapping (``-EFAULT``).
ZERO_PAGE = -errno.EFAULT

PAGE_SIZE = mmap.PAGESIZE
_NODE_DIR = "sys/devices/system/node"


class NumaUnavailable(RuntimeError):
    """Page placement cannot be queried here (only raised when asked to be strict)."""


# ----------------------------------------------------------------------------- topology
@dataclass(frozen=True)
class NumaTopology:
    """The NUMA nodes of a machine and the distances between them.

    Attributes:
        nodes: one :class:`~course_lib.measure.machine.NumaNode` per node (id, CPUs, memory).
        distances: ``distances[i][j]`` is the ACPI SLIT distance from ``nodes[i]`` to
            ``nodes[j]`` (10 = local); ``()`` when unknown.
        reason: why no nodes are known (None when they are).
        notes: other remarks (e.g. a distance file that could not be read).
    """

    nodes: tuple[NumaNode, ...] = ()
    distances: tuple[tuple[int, ...], ...] = ()
    reason: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def available(self) -> bool:
        """True when the OS reported at least one node."""
        return bool(self.nodes)

    def distance(self, a: int, b: int) -> int | None:
        """SLIT distance from node id ``a`` to node id ``b``, or None when unknown."""
        ids = [n.id for n in self.nodes]
        if not self.distances or a not in ids or b not in ids:
            return None
        return self.distances[ids.index(a)][ids.index(b)]

    def node_of_cpu(self, cpu: int) -> int | None:
        """The node id that CPU ``cpu`` belongs to, or None."""
        return next((n.id for n in self.nodes if cpu in n.cpus), None)

    def __str__(self) -> str:
        if not self.nodes:
            return f"NUMA nodes: not available here, because {self.reason}"
        count = len(self.nodes)
        lines = [f"{count} NUMA node{'s' * (count > 1)}"]
        for n in self.nodes:
            lines.append(f"  node {n.id}: CPUs {format_cpulist(n.cpus) or '-'} "
                         f"({len(n.cpus)}), memory {format_bytes(n.memory_bytes)}")
        if self.distances:
            ids = [n.id for n in self.nodes]
            lines.append("distances (ACPI SLIT: 10 = local, 21 = 2.1 times as far):")
            lines.append("  from\\to " + "".join(f"{i:>6}" for i in ids))
            for i, row in zip(ids, self.distances):
                lines.append(f"  {i:>7} " + "".join(f"{d:>6}" for d in row))
        if count == 1:
            lines.append("one node: every access is local here; expected_remote_penalty() "
                         "says what a two-socket server adds")
        return "\n".join(lines + [f"note: {n}" for n in self.notes])

    __repr__ = __str__


def _no_nodes_reason(root: str) -> str:
    system = platform.system()
    if root == "/" and system == "Darwin":
        return ("macOS does not report NUMA nodes (a Mac has one memory system, so it is a "
                "single node)")
    if root == "/" and system != "Linux":
        return f"{system or 'this OS'} does not expose NUMA nodes the way Linux's sysfs does"
    return (f"there is no {os.path.join(root, _NODE_DIR)}: the kernel was built without NUMA "
            "support (CONFIG_NUMA off) or sysfs is not mounted; treat the machine as one node")


def nodes(root: str = "/") -> NumaTopology:
    """Read the NUMA nodes, their CPUs and memory, and the distance matrix.

    Args:
        root: the file-system root to read ``sys/devices/system/node`` under; tests point it at
            a fake tree.

    Returns:
        A :class:`NumaTopology`; with ``reason`` set and no nodes when the OS does not say.
        Never raises.
    """
    if root == "/" and platform.system() != "Linux":
        return NumaTopology(reason=_no_nodes_reason(root))
    try:
        found = _numa_linux(root)
    except OSError:
        return NumaTopology(reason=_no_nodes_reason(root))
    if not found:
        return NumaTopology(reason=f"{os.path.join(root, _NODE_DIR)} lists no node")
    rows, notes = [], []
    for n in found:
        text = _read(os.path.join(root, _NODE_DIR), f"node{n.id}/distance")
        try:
            row = tuple(int(x) for x in (text or "").split())
        except ValueError:
            row = ()
        rows.append(row)
    # The kernel writes one distance per *online* node, in id order: it matches our rows when
    # every node's file is there and has one entry per node.
    if all(len(r) == len(found) for r in rows):
        distances = tuple(rows)
    else:
        distances = ()
        notes.append("the distance files are missing or do not list one distance per node")
    return NumaTopology(nodes=found, distances=distances, notes=tuple(notes))


def topology(root: str = "/") -> NumaTopology:
    """Print a readable summary of the NUMA nodes (see :func:`nodes`) and return them."""
    topo = nodes(root)
    print(topo)
    return topo


# ----------------------------------------------------------------------------- page placement
def _lib() -> tuple[Any, Any] | None:
    try:
        from course_lib._c._numa import ffi, lib
    except ImportError:  # pragma: no cover - only without a build
        return None
    return ffi, lib


def _error_text(code: int, lib: Any) -> str:
    if code == lib.NUMA_ERR_NOT_LINUX:
        return (f"move_pages is a Linux system call; {platform.system() or 'this OS'} has no way "
                "to ask which memory node holds a page")
    if code == lib.NUMA_ERR_NO_SYSCALL:
        return "the C library here does not define the move_pages system call number"
    if code in (errno.EPERM, errno.EACCES):
        return ("the kernel refused move_pages (EPERM): a container's seccomp filter may block "
                "it (Docker's default profile allows it only with CAP_SYS_NICE)")
    if code == errno.ENOSYS:
        return ("this kernel has no move_pages (ENOSYS): it was built without NUMA support, "
                "so all memory is one node")
    return f"move_pages failed: {os.strerror(code)} (errno {code})"


def move_pages_reason() -> str | None:
    """Why :func:`page_nodes` cannot work here, or None when it can (one real query)."""
    loaded = _lib()
    if loaded is None:
        return ("course_lib._c._numa is not built: run `make setup` (or `python setup.py "
                "build_ext --inplace`) in the course folder")
    code = loaded[1].numa_probe_move_pages()
    return None if code == 0 else _error_text(code, loaded[1])


def _page_addresses(array: np.ndarray) -> np.ndarray:
    """Start address of every page the array's elements lie on (any strides)."""
    if array.size == 0:
        return np.empty(0, dtype=np.uintp)
    start = array.__array_interface__["data"][0]
    low = start + sum(min(0, (n - 1) * s) for n, s in zip(array.shape, array.strides))
    high = start + sum(max(0, (n - 1) * s) for n, s in zip(array.shape, array.strides))
    high += array.itemsize
    first = low - low % PAGE_SIZE
    return np.arange(first, high, PAGE_SIZE, dtype=np.uintp)


def page_nodes(array: np.ndarray, strict: bool = False) -> np.ndarray | None:
    """The NUMA node of every page that ``array``'s memory spans.

    Args:
        array: a NumPy array (a view works; the pages between its first and last element
            count, including the partial first and last pages).
        strict: raise :class:`NumaUnavailable` where the query is impossible, instead of
            warning and returning None.

    Returns:
        An int32 array, one entry per page in address order: the node number (0, 1, ...), or
        a negative errno for that page: :data:`NOT_PRESENT` (``-ENOENT``) for a page never
        touched (no physical memory yet), :data:`ZERO_PAGE` (``-EFAULT``) for a page that was
        only read from zero-filled memory (the shared zero page). None, with a RuntimeWarning
        that gives the reason, where the OS cannot answer (macOS, a sandbox, no build).

    Raises:
        TypeError: ``array`` is not a NumPy array.
        NumaUnavailable: the query is impossible and ``strict`` is True.

    Example:
        >>> a = np.empty(1 << 23)            # 64 MiB: mmap'd, no page touched yet
        >>> page_summary(page_nodes(a))      # doctest: +SKIP
        '16385 pages: not present 16384, node 0 1'
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"page_nodes needs a NumPy array, got {type(array).__name__}")
    reason = move_pages_reason()
    if reason is not None:
        if strict:
            raise NumaUnavailable(f"page placement is not available here, because {reason}")
        warnings.warn(f"page placement is not available here, because {reason}",
                      RuntimeWarning, stacklevel=2)
        return None
    ffi, lib = _lib()
    pages = _page_addresses(array)
    status = np.full(len(pages), NOT_PRESENT, dtype=np.int32)
    if len(pages):
        code = lib.numa_page_nodes(ffi.cast("void **", pages.ctypes.data), len(pages),
                                   ffi.cast("int *", status.ctypes.data))
        if code != 0:  # worked for the probe, failed now: say so rather than guess
            text = _error_text(code, lib)
            if strict:
                raise NumaUnavailable(text)
            warnings.warn(text, RuntimeWarning, stacklevel=2)
            return None
    return status


def page_counts(status: np.ndarray | None) -> dict[str, int]:
    """How many pages are on each node, not present, the zero page...: ``{"node 0": 12, ...}``.

    Labels: ``"node N"``, ``"not present"``, ``"zero page"`` (or unmapped), ``"error NAME"``;
    ``{}`` for None.
    """
    if status is None:
        return {}
    counts: dict[str, int] = {}
    values, numbers = np.unique(np.asarray(status), return_counts=True)
    for v, k in sorted(zip(values.tolist(), numbers.tolist()), key=lambda p: (p[0] < 0, p[0])):
        if v >= 0:
            label = f"node {v}"
        elif v == NOT_PRESENT:
            label = "not present"
        elif v == ZERO_PAGE:
            label = "zero page"
        else:
            label = f"error {errno.errorcode.get(-v, -v)}"
        counts[label] = k
    return counts


def page_summary(status: np.ndarray | None) -> str:
    """One line: ``"16385 pages: node 0 16385"``; says so when ``status`` is None."""
    if status is None:
        return "page placement: not available here"
    parts = ", ".join(f"{k} {v}" for k, v in page_counts(status).items())
    return f"{len(status)} pages: {parts}" if len(status) else "0 pages"


# ----------------------------------------------------------------------------- first touch
@dataclass(frozen=True)
class FirstTouch:
    """What :func:`first_touch_demo` saw.

    Attributes:
        nbytes, pages: the array's size and the pages it spans.
        before, after: :func:`page_counts` before and after the touch (``{}`` when page
            placement is not available).
        cpu: the CPU the touching thread ran on (None when unknown).
        cpu_node: that CPU's node (None when unknown).
        pinned: whether the touching thread was pinned to ``cpu``.
        notes: what was not available, and why.
    """

    nbytes: int
    pages: int
    before: dict[str, int]
    after: dict[str, int]
    cpu: int | None
    cpu_node: int | None
    pinned: bool
    notes: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        def show(counts: dict[str, int]) -> str:
            return ", ".join(f"{k} {v}" for k, v in counts.items()) or "not available here"

        where = "unknown CPU" if self.cpu is None else f"CPU {self.cpu}"
        if self.cpu_node is not None:
            where += f" (node {self.cpu_node})"
        lines = [f"np.empty of {format_bytes(self.nbytes)} ({self.pages} pages)",
                 f"  before the first write: {show(self.before)}",
                 f"  written by a {'pinned' if self.pinned else 'unpinned'} thread on {where}",
                 f"  after the first write:  {show(self.after)}"]
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])

    __repr__ = __str__


def _touch_cpu(topo: NumaTopology) -> int | None:
    """A CPU this thread may use, on the highest-numbered node that has one."""
    from course_lib.memory.affinity import allowed_cpus

    allowed = set(allowed_cpus())
    for node in reversed(topo.nodes):
        mine = [c for c in node.cpus if c in allowed]
        if mine:
            return mine[0]
    return max(allowed) if allowed else None


def first_touch_demo(n: int | None = None, cpu: int | None = None,
                     verbose: bool = True) -> FirstTouch:
    """Show first-touch placement: untouched pages have no node; the writer's node gets them.

    1. ``a = np.empty(n)``: NumPy asks malloc, malloc asks the kernel for address space
       (``mmap``); no page exists yet, every page is "not present".
    2. A thread pinned to ``cpu`` writes every element: each first write faults, and the
       kernel allocates the page on that CPU's node.
    3. Every page now shows a node. On a two-node machine, choose a CPU on node 1 and the
       pages land on node 1, whichever thread allocated the array.

    Args:
        n: float64 elements (default 8 Mi = 64 MiB). Keep it above 32 MiB: glibc serves
            smaller blocks from its heap, where pages freed earlier may still be present.
        cpu: the CPU to write from; default one on the highest-numbered node.
        verbose: print the result.

    Returns:
        A :class:`FirstTouch`. Runs everywhere: what is missing is reported in ``notes``.
    """
    n = (1 << 23) if n is None else int(n)
    topo = nodes()
    notes: list[str] = []
    if topo.reason:
        notes.append(f"no NUMA nodes known here, because {topo.reason}")
    from course_lib.memory.affinity import current_cpu, pin_unavailable_reason, pinned

    pin_reason = pin_unavailable_reason()
    if pin_reason is not None:
        notes.append(f"the writer runs unpinned, because {pin_reason}")
        cpu = None
    elif cpu is None:
        cpu = _touch_cpu(topo)
    where_reason = move_pages_reason()
    if where_reason is not None:
        notes.append(f"page placement is not available here, because {where_reason}")

    a = np.empty(n, dtype=np.float64)
    before = page_counts(page_nodes(a)) if where_reason is None else {}
    seen: dict[str, Any] = {}

    def touch() -> None:
        try:
            if cpu is not None:
                with pinned(cpu):
                    a[...] = 1.0
                    seen["cpu"] = current_cpu()
            else:
                a[...] = 1.0
                seen["cpu"] = current_cpu()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            seen["error"] = exc

    worker = threading.Thread(target=touch, name="first-touch")
    worker.start()
    worker.join()
    if "error" in seen:
        raise seen["error"]
    after = page_counts(page_nodes(a)) if where_reason is None else {}
    ran_on = seen.get("cpu")
    result = FirstTouch(nbytes=a.nbytes, pages=len(_page_addresses(a)), before=before,
                        after=after, cpu=ran_on,
                        cpu_node=None if ran_on is None else topo.node_of_cpu(ran_on),
                        pinned=cpu is not None, notes=tuple(notes))
    if verbose:
        print(result)
    return result


# ----------------------------------------------------------------------------- libnuma
@dataclass(frozen=True)
class LibNuma:
    """Whether libnuma (the library behind ``numactl``) is present and what it says.

    Attributes:
        found: the shared library was found and loaded.
        path: the name it was found under (e.g. ``libnuma.so.1``), or None.
        available: ``numa_available()`` returned 0 (the kernel has the NUMA calls).
        max_node: ``numa_max_node()``, the highest node number (0 on a one-node machine).
        reason: why it is not usable, or None.
    """

    found: bool
    path: str | None = None
    available: bool = False
    max_node: int | None = None
    reason: str | None = None

    def __str__(self) -> str:
        if self.reason:
            return f"libnuma: not available here, because {self.reason}"
        return f"libnuma: {self.path}, numa_available() = 0, numa_max_node() = {self.max_node}"


def libnuma() -> LibNuma:
    """Look for libnuma and, when it is there, ask it ``numa_available()`` and ``numa_max_node()``.

    The library is loaded with cffi's ABI mode (``ffi.dlopen``): no headers, no compiler. The
    course itself never needs libnuma (it calls ``move_pages`` directly); this tells you
    whether tools built on it (``numactl``, ``numastat``) can work here.

    Returns:
        A :class:`LibNuma`, with ``reason`` set when libnuma is absent or unusable. Never raises.
    """
    name = ctypes.util.find_library("numa")
    if name is None:
        if platform.system() != "Linux":
            return LibNuma(False, reason=f"libnuma is a Linux library; {platform.system()} "
                                         "has no NUMA API for it")
        return LibNuma(False, reason="libnuma is not installed (Debian/Ubuntu: libnuma1, "
                                     "Fedora: numactl-libs); the course does not need it")
    try:
        from cffi import FFI

        ffi = FFI()
        ffi.cdef("int numa_available(void); int numa_max_node(void);")
        lib = ffi.dlopen(name)
        ok = lib.numa_available()
        if ok < 0:  # the man page: then no other libnuma function may be called
            return LibNuma(True, name, reason="numa_available() returned -1: the kernel has "
                                              "no NUMA support (or the calls are blocked)")
        return LibNuma(True, name, True, int(lib.numa_max_node()))
    except Exception as exc:  # noqa: BLE001 - a broken install is a reason, not a crash
        return LibNuma(False, name, reason=f"{name} could not be used: {exc}")


# ----------------------------------------------------------------------------- the penalty
@dataclass(frozen=True)
class RemotePenalty:
    """Typical cost of remote memory on a two-socket server (figures, not a measurement).

    Attributes:
        latency_ratio: remote / local latency of one access, typical range.
        bandwidth_ratio: remote / local bandwidth of streaming reads, typical range.
        slit_local, slit_remote: the distance-matrix convention (ACPI SLIT): 10 for local,
            21 the usual value firmware writes for the other socket.
        this_machine: the distances read here, e.g. ``{(0, 1): 21}``; ``{}`` on one node.
        nodes: nodes on this machine (0 when unknown).
    """

    latency_ratio: tuple[float, float] = (1.5, 2.0)
    bandwidth_ratio: tuple[float, float] = (0.5, 0.7)
    slit_local: int = 10
    slit_remote: int = 21
    this_machine: dict[tuple[int, int], int] = field(default_factory=dict)
    nodes: int = 0

    def __str__(self) -> str:
        lat, bw = self.latency_ratio, self.bandwidth_ratio
        lines = ["On a typical two-socket server (Intel Xeon or AMD EPYC), memory on the other "
                 "socket costs",
                 f"  latency:   {lat[0]:g}-{lat[1]:g} x the local latency (e.g. ~90 ns local, "
                 "~140 ns remote)",
                 f"  bandwidth: {bw[0]:g}-{bw[1]:g} x the local bandwidth (the inter-socket "
                 "link is narrower than a socket's memory channels)",
                 f"The distance matrix uses ACPI's SLIT convention: {self.slit_local} = local, "
                 f"{self.slit_remote} = 'about {self.slit_remote / self.slit_local:g} times as "
                 "far'.",
                 "The firmware writes those numbers; they rank nodes, they are not measured "
                 "ratios (remote latency is usually nearer 1.5x than 2.1x).",
                 "These are typical figures, not this machine's: measure yours with Intel's "
                 "Memory Latency Checker (mlc) or numactl --cpunodebind/--membind."]
        if self.this_machine:
            pairs = ", ".join(f"{a}->{b}: {d}" for (a, b), d in sorted(self.this_machine.items()))
            lines.append(f"This machine ({self.nodes} nodes) reports remote distances {pairs}.")
        elif self.nodes == 1:
            lines.append("This machine has one node: every access is local, so there is no "
                         "penalty to see here.")
        else:
            lines.append("This machine does not report NUMA nodes.")
        return "\n".join(lines)

    __repr__ = __str__


def expected_remote_penalty(root: str = "/") -> RemotePenalty:
    """What remote memory typically costs, next to the distances this machine reports.

    Args:
        root: where to read the node tree (tests use a fake one).

    Returns:
        A :class:`RemotePenalty`: typical latency and bandwidth ratios of a two-socket server,
        the ACPI SLIT convention (10 local, 21 remote), and this machine's remote distances.
    """
    topo = nodes(root)
    remote = {}
    for i, a in enumerate(topo.nodes):
        for j, b in enumerate(topo.nodes):
            if i != j and topo.distances:
                remote[(a.id, b.id)] = topo.distances[i][j]
    return RemotePenalty(this_machine=remote, nodes=len(topo.nodes))
