"""What this machine can do (cores, caches, SIMD, NUMA, perf counters), read from the OS.

How each field is found:

- Linux: ``/proc/cpuinfo`` (model, SIMD flags, physical cores), ``/proc/meminfo`` (RAM),
  ``/sys/devices/system/cpu`` (online CPUs, ``cpu0/cache/index*``, ``cpu*/topology``),
  ``/sys/devices/system/node/node*`` (NUMA CPUs and memory), ``os.sched_getaffinity`` plus the
  cgroup v2 ``cpu.max`` quota (usable cores) and one real ``perf_event_open`` call (counters).
  No subprocess is started.
- macOS: a single ``sysctl`` call (``hw.*`` sizes and counts, ``machdep.cpu.*`` model and
  features); NUMA is not reported there and perf counters are ``None``.
- Both: ``platform`` for OS and architecture; numba (imported lazily, optional) for its version,
  threading layer and thread count.

A field the OS does not reveal, or whose probe fails, is ``None`` (an empty tuple for the
collections); :func:`describe` never raises.
"""
from __future__ import annotations

import ctypes
import dataclasses
import functools
import html
import math
import os
import platform
import subprocess
from dataclasses import dataclass
from typing import Any, Callable, Iterable

__all__ = ["Machine", "NumaNode", "Cache", "describe", "usable_cores", "usable_physical_cores",
           "perf_counters_usable"]

SIMD_FEATURES = ("sse4.2", "avx", "avx2", "avx512f", "fma", "neon")
# Name of each feature in /proc/cpuinfo "flags" (x86 Linux) and in machdep.cpu.* (macOS, upper).
_X86_LINUX = {"sse4.2": "sse4_2", "avx": "avx", "avx2": "avx2", "avx512f": "avx512f",
              "fma": "fma"}
_MACOS_NAMES = {"sse4.2": "SSE4.2", "avx": "AVX1.0", "avx2": "AVX2", "avx512f": "AVX512F",
                "fma": "FMA", "neon": "NEON"}
# Common ARM server cores (implementer, part), so that they show more than hex numbers.
_ARM_PARTS = {("0x41", "0xd0c"): "ARM Neoverse-N1", ("0x41", "0xd40"): "ARM Neoverse-V1",
              ("0x41", "0xd49"): "ARM Neoverse-N2", ("0x41", "0xd4f"): "ARM Neoverse-V2",
              ("0x41", "0xd08"): "ARM Cortex-A72", ("0x41", "0xd0b"): "ARM Cortex-A76"}
_KIND_SUFFIX = {"data": "d", "instruction": "i"}


# ----------------------------------------------------------------------------- pure helpers
def parse_cpulist(text: str) -> tuple[int, ...]:
    """Parse a kernel CPU list such as ``"0-3,8,10-11"``.

    Args:
        text: the list as sysfs writes it; blank means no CPUs.
    Returns:
        The sorted CPU numbers, e.g. ``(0, 1, 2, 3, 8, 10, 11)``.
    Raises:
        ValueError: if a part is not a number or a range.
    """
    cpus: set[int] = set()
    for part in text.strip().split(","):
        if part.strip():
            lo, _, hi = part.partition("-")
            cpus.update(range(int(lo), int(hi or lo) + 1))
    return tuple(sorted(cpus))


def format_cpulist(cpus: Iterable[int]) -> str:
    """Write CPU numbers compactly (``"0-3,8"``; ``""`` for none), undoing parse_cpulist."""
    runs: list[list[int]] = []
    for cpu in sorted(set(cpus)):
        if runs and cpu == runs[-1][1] + 1:
            runs[-1][1] = cpu
        else:
            runs.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def parse_size(text: str) -> int | None:
    """Bytes in ``"48K"``, ``"32M"``, ``"64"``, ``"16 kB"`` (powers of 1024); None if not a size."""
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(t[-1:], 1)
    number = t[:-1] if scale > 1 else t
    try:
        return int(float(number.strip()) * scale)
    except ValueError:
        return None


def format_bytes(n: int | None) -> str:
    """Write a byte count in binary units (``"48 KiB"``, ``"7.5 GiB"``); ``"unknown"`` for None."""
    if n is None:
        return "unknown"
    value, unit = float(n), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            break
        value /= 1024
    return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"


def parse_cpuinfo(text: str) -> list[dict[str, str]]:
    """Split ``/proc/cpuinfo`` text into one ``key -> value`` dict per blank-line block."""
    blocks: list[dict[str, str]] = [{}]
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not line.strip():
            if blocks[-1]:
                blocks.append({})
        elif sep:
            blocks[-1][key.strip()] = value.strip()
    return [b for b in blocks if b]


def simd_from_cpuinfo(text: str) -> tuple[tuple[str, bool], ...]:
    """``(feature, present)`` for SIMD_FEATURES from cpuinfo text (x86 flags or ARM Features)."""
    for block in parse_cpuinfo(text):
        if "flags" in block:
            flags = set(block["flags"].split())
            return tuple((f, _X86_LINUX.get(f) in flags) for f in SIMD_FEATURES)
        if "Features" in block:
            neon = bool({"asimd", "neon"} & set(block["Features"].split()))
            return tuple((f, f == "neon" and neon) for f in SIMD_FEATURES)
    return ()


def parse_sysctl(text: str) -> dict[str, str]:
    """Parse the ``name: value`` lines that ``sysctl name1 name2 ...`` prints."""
    pairs = (line.partition(":") for line in text.splitlines())
    return {k.strip(): v.strip() for k, sep, v in pairs if sep}


# ----------------------------------------------------------------------------- data classes
@dataclass(frozen=True)
class Cache:
    """One CPU cache as seen from CPU 0.

    Attributes:
        level: 1, 2, 3...
        kind: ``"data"``, ``"instruction"`` or ``"unified"``.
        size_bytes: capacity in bytes.
        line_bytes: cache line size in bytes.
        shared_by: how many logical CPUs share this cache.
    """

    level: int
    kind: str
    size_bytes: int | None = None
    line_bytes: int | None = None
    shared_by: int | None = None


@dataclass(frozen=True)
class NumaNode:
    """One NUMA node: the CPUs and memory attached to one memory controller.

    Attributes:
        id: the node number.
        cpus: its logical CPUs.
        memory_bytes: its memory.
    """

    id: int
    cpus: tuple[int, ...]
    memory_bytes: int | None = None


@dataclass(frozen=True, repr=False)
class Machine:
    """A snapshot of what this machine can do; any field may be None (unknown).

    Attributes:
        os, os_release, arch: ``platform.system()``, ``.release()``, ``.machine()``.
        cpu_model: the CPU's marketing name.
        logical_cores, physical_cores: hardware threads and cores (all sockets).
        usable_cores: what this process may use (affinity mask, cgroup v2 quota rounded up).
        caches, cache_line_bytes: the caches seen from CPU 0 and the line size.
        simd: ``(feature, present)`` for :data:`SIMD_FEATURES`; ``()`` when unknown.
        numa_nodes: NUMA nodes; ``()`` when the OS does not say.
        python, numba_version: versions (numba None when not installed).
        numba_threading_layer: the layer running, or the configured one "(not started yet)".
        numba_num_threads: numba's thread count.
        perf_counters: whether hardware counters can be opened (see :func:`perf_counters_usable`).
        memory_bytes: total RAM.
    """

    os: str | None = None
    os_release: str | None = None
    arch: str | None = None
    cpu_model: str | None = None
    logical_cores: int | None = None
    physical_cores: int | None = None
    usable_cores: int | None = None
    caches: tuple[Cache, ...] = ()
    cache_line_bytes: int | None = None
    simd: tuple[tuple[str, bool], ...] = ()
    numa_nodes: tuple[NumaNode, ...] = ()
    python: str | None = None
    numba_version: str | None = None
    numba_threading_layer: str | None = None
    numba_num_threads: int | None = None
    perf_counters: bool | None = None
    memory_bytes: int | None = None

    def _cache(self, level: int) -> int | None:
        sizes = [c.size_bytes for c in self.caches if c.level == level and c.kind != "instruction"]
        return sizes[0] if sizes else None

    @property
    def l1d_bytes(self) -> int | None:
        """Size of the L1 data cache, or None."""
        return self._cache(1)

    @property
    def l2_bytes(self) -> int | None:
        """Size of the L2 cache, or None."""
        return self._cache(2)

    @property
    def l3_bytes(self) -> int | None:
        """Size of the L3 cache, or None."""
        return self._cache(3)

    def has(self, feature: str) -> bool | None:
        """Tell whether the CPU has a SIMD feature.

        Args:
            feature: one of ``"sse4.2", "avx", "avx2", "avx512f", "fma", "neon"``.
        Returns:
            True or False, or None when the OS did not say.
        Raises:
            ValueError: for a feature name outside that list (catches typos like ``"avx512"``).
        """
        if feature not in SIMD_FEATURES:
            raise ValueError(f"unknown feature {feature!r}; choose from {SIMD_FEATURES}")
        return dict(self.simd).get(feature)

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as plain, JSON-ready data (lists and dicts).

        Returns:
            One entry per field; ``simd`` as a dict, caches and nodes as lists of dicts.
        """
        d = {name: getattr(self, name) for name in self.__dataclass_fields__}
        d["caches"] = [dataclasses.asdict(c) for c in self.caches]
        d["numa_nodes"] = [{"id": n.id, "cpus": list(n.cpus), "memory_bytes": n.memory_bytes}
                           for n in self.numa_nodes]
        d["simd"] = dict(self.simd)
        return d

    def _rows(self) -> list[tuple[str, str]]:
        def show(v: object) -> str:
            return "unknown" if v is None else str(v)

        rows = [("OS", f"{show(self.os)} {self.os_release or ''}".strip()),
                ("architecture", show(self.arch)), ("CPU model", show(self.cpu_model)),
                ("logical cores", show(self.logical_cores)),
                ("physical cores", show(self.physical_cores)),
                ("usable cores", show(self.usable_cores)),
                ("memory", format_bytes(self.memory_bytes))]
        for c in self.caches:
            name = f"L{c.level}{_KIND_SUFFIX.get(c.kind, '')} cache"
            extra = [f"line {c.line_bytes} B"] if c.line_bytes else []
            if c.shared_by:
                extra.append(f"shared by {c.shared_by} CPU{'s' * (c.shared_by > 1)}")
            size = format_bytes(c.size_bytes)
            rows.append((name, f"{size} ({', '.join(extra)})" if extra else size))
        rows.append(("cache line", "unknown" if self.cache_line_bytes is None
                     else f"{self.cache_line_bytes} B"))
        rows.append(("SIMD", " ".join(f for f, ok in self.simd if ok) or
                     ("none of " + " ".join(SIMD_FEATURES) if self.simd else "unknown")))
        for n in self.numa_nodes:
            rows.append((f"NUMA node {n.id}",
                         f"CPUs {format_cpulist(n.cpus) or '-'}, {format_bytes(n.memory_bytes)}"))
        if not self.numa_nodes:
            rows.append(("NUMA nodes", "unknown"))
        perf = {True: "usable", False: "not usable", None: "unknown"}[self.perf_counters]
        return rows + [("perf counters", perf),
                       ("Python", show(self.python)), ("numba", show(self.numba_version)),
                       ("numba threading layer", show(self.numba_threading_layer)),
                       ("numba threads", show(self.numba_num_threads))]

    def __str__(self) -> str:
        rows = self._rows()
        width = max(len(k) for k, _ in rows) + 1
        return "\n".join(f"{k + ':':<{width}} {v}" for k, v in rows)

    def _repr_html_(self) -> str:
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                       f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
                       for k, v in self._rows())
        return f"<table>{body}</table>"

    def __repr__(self) -> str:
        simd = " ".join(f for f, ok in self.simd if ok) or "no SIMD info"
        caches = ", ".join(f"{name} {format_bytes(size)}" for name, size in
                           (("L1d", self.l1d_bytes), ("L2", self.l2_bytes), ("L3", self.l3_bytes))
                           if size is not None)
        parts = [f"{self.os} {self.arch}",
                 f"{self.usable_cores} usable of {self.logical_cores} logical cores", simd]
        return f"Machine({', '.join(parts + ([caches] if caches else []))})"


# ----------------------------------------------------------------------------- probes
def _safe(fn: Callable[..., Any], *args: Any, default: Any = None) -> Any:
    """Call ``fn(*args)``; any exception becomes ``default`` (probes must never raise)."""
    try:
        return fn(*args)
    except Exception:
        return default


def _read(root: str, rel: str) -> str | None:
    try:
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def _cpu_model_linux(blocks: list[dict[str, str]]) -> str | None:
    def first(*keys: str) -> str | None:
        return next((b[k] for k in keys for b in blocks if b.get(k)), None)

    arm = next((b for b in blocks if "CPU implementer" in b), None)  # ARM lists ids, no name
    ids = (arm["CPU implementer"].lower(), arm.get("CPU part", "?").lower()) if arm else ("", "")
    return (first("model name", "cpu model") or _ARM_PARTS.get(ids)
            or first("Hardware", "Model")  # board names (Raspberry Pi) beat raw hex
            or (f"ARM implementer {ids[0]} part {ids[1]}" if arm else None))


def _logical_linux(root: str, blocks: list[dict[str, str]]) -> int | None:
    online = _read(root, "sys/devices/system/cpu/online")
    if online:
        return len(parse_cpulist(online))
    n = sum("processor" in b for b in blocks)
    return n or (os.cpu_count() if root == "/" else None)


def _physical_linux(root: str, blocks: list[dict[str, str]]) -> int | None:
    pairs = {(b["physical id"], b["core id"]) for b in blocks
             if "physical id" in b and "core id" in b}
    if pairs:
        return len(pairs)
    base = os.path.join(root, "sys/devices/system/cpu")
    for cpu in os.listdir(base):  # ARM: cpuinfo lacks the ids, sysfs topology has them
        core = _read(base, f"{cpu}/topology/core_id") if cpu[3:].isdigit() else None
        if core is not None:
            pairs.add((_read(base, f"{cpu}/topology/physical_package_id"), core))
    return len(pairs) or None


def _cgroup_cpu_limit(root: str) -> int | None:
    """Cores allowed by cgroup v2 ``cpu.max`` along this process's cgroup path, rounded up."""
    text = _read(root, "proc/self/cgroup") or ""
    path = next((ln[3:] for ln in text.splitlines() if ln.startswith("0::")), "/").strip("/")
    parts, limits = path.split("/") if path else [], []
    for depth in range(len(parts), -1, -1):
        quota = _read(root, os.path.join("sys/fs/cgroup", *parts[:depth], "cpu.max"))
        if quota and not quota.startswith("max"):
            q, _, period = quota.partition(" ")
            limits.append(math.ceil(int(q) / int(period or 100000)))
    return max(1, min(limits)) if limits else None


def _usable_linux(root: str, logical: int | None) -> int | None:
    base = logical
    if root == "/" and hasattr(os, "sched_getaffinity"):  # the affinity of *this* process
        base = len(os.sched_getaffinity(0))
    limit = _safe(_cgroup_cpu_limit, root)
    return min(x for x in (base, limit) if x is not None) if (base or limit) else None


def _caches_linux(root: str) -> tuple[Cache, ...]:
    base = os.path.join(root, "sys/devices/system/cpu/cpu0/cache")
    caches = []
    for name in sorted(os.listdir(base)):
        level = _read(base, f"{name}/level") if name.startswith("index") else None
        if level is None:
            continue
        size, line, shared = (_read(base, f"{name}/{f}") for f in
                              ("size", "coherency_line_size", "shared_cpu_list"))
        caches.append(Cache(level=int(level),
                            kind=(_read(base, f"{name}/type") or "unified").lower(),
                            size_bytes=parse_size(size) if size else None,
                            line_bytes=int(line) if line else None,
                            shared_by=len(parse_cpulist(shared)) if shared else None))
    order = {"data": 0, "instruction": 1, "unified": 2}
    return tuple(sorted(caches, key=lambda c: (c.level, order.get(c.kind, 3))))


def _numa_linux(root: str) -> tuple[NumaNode, ...]:
    base = os.path.join(root, "sys/devices/system/node")
    nodes = []
    for name in os.listdir(base):
        if not (name.startswith("node") and name[4:].isdigit()):
            continue
        meminfo = _read(base, f"{name}/meminfo") or ""
        total = next((ln.split("MemTotal:")[1] for ln in meminfo.splitlines()
                      if "MemTotal:" in ln), None)
        cpus = parse_cpulist(_read(base, f"{name}/cpulist") or "")
        nodes.append(NumaNode(int(name[4:]), cpus, parse_size(total) if total else None))
    return tuple(sorted(nodes, key=lambda n: n.id))


def _memory_linux(root: str) -> int | None:
    for line in (_read(root, "proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return parse_size(line.split(":")[1])
    return None


def _linux_fields(root: str) -> dict[str, Any]:
    cpuinfo = _read(root, "proc/cpuinfo") or ""
    blocks = _safe(parse_cpuinfo, cpuinfo, default=[])
    f: dict[str, Any] = {"cpu_model": _safe(_cpu_model_linux, blocks),
                         "logical_cores": _safe(_logical_linux, root, blocks),
                         "physical_cores": _safe(_physical_linux, root, blocks),
                         "caches": _safe(_caches_linux, root, default=()),
                         "simd": _safe(simd_from_cpuinfo, cpuinfo, default=()),
                         "numa_nodes": _safe(_numa_linux, root, default=()),
                         "memory_bytes": _safe(_memory_linux, root)}
    f["usable_cores"] = _safe(_usable_linux, root, f["logical_cores"])
    f["perf_counters"] = _safe(perf_counters_usable) if root == "/" else None
    return f


_SYSCTL_KEYS = ("machdep.cpu.brand_string", "hw.logicalcpu", "hw.physicalcpu", "hw.memsize",
                "hw.l1dcachesize", "hw.l1icachesize", "hw.l2cachesize", "hw.l3cachesize",
                "hw.cachelinesize", "machdep.cpu.features", "machdep.cpu.leaf7_features")


def _sysctl(keys: Iterable[str]) -> dict[str, str]:
    """Run ``sysctl`` once for all keys; unknown keys are simply missing from the result."""
    exe = "/usr/sbin/sysctl" if os.path.exists("/usr/sbin/sysctl") else "sysctl"
    out = subprocess.run([exe, *keys], capture_output=True, text=True, timeout=5)
    return parse_sysctl(out.stdout)


def _macos_fields(values: dict[str, str], arch: str) -> dict[str, Any]:
    def num(key: str) -> int | None:
        return int(values[key]) if values.get(key, "").isdigit() else None

    line = num("hw.cachelinesize")
    caches = tuple(Cache(level, kind, num(key), line) for level, kind, key in
                   ((1, "data", "hw.l1dcachesize"), (1, "instruction", "hw.l1icachesize"),
                    (2, "unified", "hw.l2cachesize"), (3, "unified", "hw.l3cachesize"))
                   if num(key))
    listed = " ".join(values.get(k, "") for k in ("machdep.cpu.features",
                                                   "machdep.cpu.leaf7_features"))
    feats = {"NEON"} if arch == "arm64" else set(listed.upper().split())  # every arm64 Mac has NEON
    simd = tuple((f, _MACOS_NAMES[f] in feats) for f in SIMD_FEATURES)
    return {"cpu_model": values.get("machdep.cpu.brand_string"),
            "logical_cores": num("hw.logicalcpu"), "physical_cores": num("hw.physicalcpu"),
            "usable_cores": num("hw.logicalcpu"), "memory_bytes": num("hw.memsize"),
            "caches": caches, "cache_line_bytes": line, "simd": simd if feats else ()}


def _numba_info() -> tuple[str | None, str | None, int | None]:
    """Version, threading layer and thread count of numba, without starting its threads."""
    try:
        import numba
    except Exception:
        return None, None, None
    try:
        return numba.__version__, numba.threading_layer(), numba.get_num_threads()
    except ValueError:  # no parallel code has run yet; get_num_threads() would launch the pool
        return (numba.__version__, f"{numba.config.THREADING_LAYER} (not started yet)",
                numba.config.NUMBA_NUM_THREADS)


def _collect(root: str = "/") -> Machine:
    """Build a :class:`Machine`; ``root`` points the Linux probes at a fake sysfs/procfs tree."""
    system, arch = _safe(platform.system), _safe(platform.machine)
    fields: dict[str, Any] = {}
    if system == "Darwin":
        fields = _safe(lambda: _macos_fields(_sysctl(_SYSCTL_KEYS), arch or ""), default={})
    elif system == "Linux" or root != "/":
        fields = _safe(_linux_fields, root, default={})
    if fields.get("cache_line_bytes") is None:
        lines = [c.line_bytes for c in fields.get("caches", ()) if c.line_bytes]
        fields["cache_line_bytes"] = lines[0] if lines else None
    if root == "/" and fields.get("logical_cores") is None:  # e.g. Windows: at least this much
        fields["logical_cores"] = _safe(os.cpu_count)
    if root == "/" and fields.get("usable_cores") is None:
        fields["usable_cores"] = fields["logical_cores"]
    version, layer, threads = _safe(_numba_info, default=(None, None, None))
    return Machine(os=system, os_release=_safe(platform.release), arch=arch,
                   python=_safe(platform.python_version), numba_version=version,
                   numba_threading_layer=layer, numba_num_threads=threads, **fields)


@functools.lru_cache(maxsize=1)
def _cached() -> Machine:
    return _collect()


def describe(refresh: bool = False) -> Machine:
    """Describe this machine; the result is cached for the life of the process.

    Args:
        refresh: probe again (e.g. after changing affinity or numba's threading layer).
    Returns:
        The :class:`Machine`; fields that could not be read are None. Never raises.
    Example:
        >>> m = describe(); print(m)        # doctest: +SKIP
    """
    if refresh:
        _cached.cache_clear()
    try:
        return _cached()
    except Exception:  # belt and braces: _collect already guards every probe
        return Machine()


def usable_cores() -> int:
    """Return how many cores this process may really use (affinity and cgroup quota).

    Returns:
        At least 1, even when nothing could be read.
    """
    return max(1, describe().usable_cores or os.cpu_count() or 1)


_SYSFS_CPU = "/sys/devices/system/cpu"  # the CPU topology (a test points it elsewhere)


def usable_physical_cores() -> int:
    """Return how many *physical* cores the CPUs this process may use belong to.

    Two hyperthreads of one core count once: that is what decides whether two threads can run
    without sharing a core's execution units and L1 (the false-sharing experiment needs two
    separate cores). Linux reads the sysfs topology of the CPUs in this process's affinity set;
    elsewhere, or when sysfs is missing, the machine's physical-core count is used.

    Returns:
        At least 1, and never more than :func:`usable_cores`.
    """
    usable = usable_cores()
    cores = None
    if hasattr(os, "sched_getaffinity"):
        base = _SYSFS_CPU
        ids = {(_read(base, f"cpu{c}/topology/physical_package_id"),
                _read(base, f"cpu{c}/topology/core_id")) for c in os.sched_getaffinity(0)}
        cores = len(ids) if ids and all(core is not None for _, core in ids) else None
    if cores is None:
        cores = describe().physical_cores or usable
    return max(1, min(cores, usable))


_U32, _U64 = ctypes.c_uint32, ctypes.c_uint64


class _PerfEventAttr(ctypes.Structure):
    """``struct perf_event_attr`` up to PERF_ATTR_SIZE_VER0 (64 bytes), see perf_event_open(2).

    The flags word at offset 40 is a C bitfield (``__u64 disabled : 1, inherit : 1, ...``);
    ctypes bitfields are allocated like the C compiler's, so the bits land where the kernel
    reads them on any endianness. Only the first seven flags are named here.
    """

    _fields_ = [("type", _U32), ("size", _U32), ("config", _U64), ("sample_period", _U64),
                ("sample_type", _U64), ("read_format", _U64),
                ("disabled", _U64, 1), ("inherit", _U64, 1), ("pinned", _U64, 1),
                ("exclusive", _U64, 1), ("exclude_user", _U64, 1), ("exclude_kernel", _U64, 1),
                ("exclude_hv", _U64, 1), ("other_flags", _U64, 57),
                ("wakeup_events", _U32), ("bp_type", _U32), ("config1", _U64)]


_PERF_SYSCALL = {"x86_64": 298, "aarch64": 241}
_PERF_TYPE_HARDWARE, _PERF_COUNT_HW_INSTRUCTIONS, _PERF_FLAG_FD_CLOEXEC = 0, 1, 8


def perf_counters_usable() -> bool | None:
    """Try to open a hardware instruction counter on the calling thread.

    Returns:
        True if the kernel granted it, False if it refused, None when not Linux or the
        architecture's syscall number is not known here.
    """
    # Why really open one: perf_event_paranoid only says what the kernel *policy* allows; whether
    # a PMU exists is another matter (VMs and containers often expose none, seccomp may block the
    # call, CAP_PERFMON may override the policy). Only the syscall itself gives the honest answer.
    number = _PERF_SYSCALL.get(platform.machine())
    if platform.system() != "Linux" or number is None:
        return None
    attr = _PerfEventAttr(type=_PERF_TYPE_HARDWARE, size=ctypes.sizeof(_PerfEventAttr),
                          config=_PERF_COUNT_HW_INSTRUCTIONS, disabled=1, exclude_kernel=1,
                          exclude_hv=1)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        # perf_event_open(&attr, pid=0 (this thread), cpu=-1 (any), group_fd=-1, flags)
        fd = libc.syscall(ctypes.c_long(number), ctypes.byref(attr), ctypes.c_int(0),
                          ctypes.c_int(-1), ctypes.c_int(-1), ctypes.c_ulong(_PERF_FLAG_FD_CLOEXEC))
    except (OSError, AttributeError):  # no libc syscall() to call: we cannot tell
        return None
    if fd < 0:  # EACCES/EPERM: not allowed; ENOENT/EOPNOTSUPP: no PMU (typical in VMs)
        return False
    os.close(fd)
    return True
