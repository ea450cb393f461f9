"""Which CUDA target the course runs on: a real GPU, or numba-cuda's simulator, decided once.

numba compiles ``@cuda.jit`` kernels for a real GPU only when a CUDA driver and a device are
present; without them it can still run the same kernels on its *simulator*, which executes
every thread of a block as a Python thread (slowly, but with real barriers and atomics). Which
of the two ``numba.cuda`` becomes is fixed when it is first imported, from the environment
variable ``NUMBA_ENABLE_CUDASIM``. This module sets that variable before anything imports
``numba.cuda``:

1. Read ``COURSE_GPU`` (``auto``, the default; ``sim`` to force the simulator; ``cuda`` to
   require a GPU). Any other value is an error naming the variable.
2. For ``auto`` and ``cuda``, probe the driver *without* numba: load ``libcuda`` with ctypes
   (``libcuda.so.1`` on Linux, ``nvcuda.dll`` on Windows), call ``cuInit(0)`` and
   ``cuDeviceGetCount``. A GPU is usable when both succeed and the count is at least 1.
3. If no GPU is usable, set ``NUMBA_ENABLE_CUDASIM=1``. Where numba is already loaded its
   configuration was read at *its* import, so it is re-read (``numba.core.config.
   reload_config()``): numba-cuda, when numba is installed beside it, shares numba's config
   module, and numba's own deprecated ``numba.cuda`` reads it too.
4. Import ``numba.cuda`` and record what it actually became. If it had been imported before
   this module (by a learner's ``from numba import cuda`` at the top of a notebook), nothing can
   change it any more: :func:`backend` then reports the mode it is in, and why.

Source: the CUDA Driver API reference (``cuInit``, ``cuDeviceGetCount``); numba-cuda's
documentation, "Debugging CUDA Python with the CUDA Simulator".
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys
from dataclasses import dataclass
from typing import Callable

__all__ = ["Backend", "Probe", "probe_driver", "choose", "backend", "describe", "is_simulator",
           "require_gpu", "GPU_ENV", "SimulatorOnly", "simulator_pace"]

#: The course's override: ``auto`` (probe), ``sim`` (always the simulator), ``cuda`` (a GPU or
#: an error).
GPU_ENV = "COURSE_GPU"
_CHOICES = ("auto", "sim", "cuda")


class SimulatorOnly(RuntimeError):
    """Asked for something only a real GPU can give (a timing, a warp shuffle)."""


@dataclass(frozen=True)
class Probe:
    """What the driver probe found: ``ok`` when a driver initialised and saw ``devices`` GPUs;
    otherwise ``reason`` says what failed."""

    ok: bool
    devices: int = 0
    reason: str = ""


def probe_driver(names: tuple[str, ...] | None = None) -> Probe:
    """Look for a usable CUDA driver and device with ctypes alone (no numba import).

    Args:
        names: library names to try; default ``libcuda.so.1``, ``libcuda.so``, ``nvcuda.dll``
            and what ``ctypes.util.find_library("cuda")`` finds.

    Returns:
        A :class:`Probe`.

    Example:
        >>> probe_driver(("no-such-libcuda.so",)).ok
        False
    """
    if names is None:
        names = ("libcuda.so.1", "libcuda.so", "nvcuda.dll", ctypes.util.find_library("cuda") or "")
    lib, errors = None, []
    for name in filter(None, names):
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            errors.append(name)
    if lib is None:
        return Probe(False, 0, "no CUDA driver found: could not load " + " or ".join(errors or ["libcuda"]))
    try:
        rc = lib.cuInit(0)
        if rc != 0:
            return Probe(False, 0, f"the CUDA driver is present but cuInit failed (CUresult {rc})")
        count = ctypes.c_int(0)
        rc = lib.cuDeviceGetCount(ctypes.byref(count))
    except AttributeError as exc:
        return Probe(False, 0, f"the library loaded is not a CUDA driver ({exc})")
    if rc != 0:
        return Probe(False, 0, f"cuDeviceGetCount failed (CUresult {rc})")
    if count.value < 1:
        return Probe(False, 0, "the CUDA driver sees no device")
    return Probe(True, count.value, "")


def choose(setting: str | None, probe: Callable[[], Probe] = probe_driver) -> tuple[bool, str]:
    """Decide between simulator and GPU from ``COURSE_GPU``'s value and a driver probe.

    Args:
        setting: the value of ``COURSE_GPU`` (``None`` or blank means ``auto``).
        probe: called only when the setting needs it (``auto``, ``cuda``).

    Returns:
        ``(simulate, why)``: whether to use the simulator, and the reason in words.

    Raises:
        ValueError: a value other than ``auto``, ``sim`` or ``cuda``.
        RuntimeError: ``cuda`` was asked for and no GPU is usable.

    Example:
        >>> choose("sim")
        (True, 'COURSE_GPU=sim asks for the simulator')
    """
    value = (setting or "auto").strip().lower() or "auto"
    if value not in _CHOICES:
        raise ValueError(f"{GPU_ENV} must be one of {', '.join(_CHOICES)}; got {setting!r}")
    if value == "sim":
        return True, f"{GPU_ENV}=sim asks for the simulator"
    found = probe()
    if found.ok:
        return False, f"{found.devices} CUDA device(s) found"
    if value == "cuda":
        raise RuntimeError(f"{GPU_ENV}=cuda asks for a GPU, but {found.reason}")
    return True, found.reason


@dataclass(frozen=True)
class Backend:
    """The CUDA target in use, as :func:`backend` reports it.

    Attributes:
        simulator: True when kernels run on numba-cuda's simulator.
        reason: why this target (the probe's finding, the override, or an earlier import).
        name: the device's name (``"simulator"`` on the simulator).
        compute_capability: ``(major, minor)``, or None on the simulator.
        multiprocessors: streaming multiprocessors (SMs), or None on the simulator.
        usable: False when ``numba.cuda`` was loaded for a GPU (before this module could
            choose) and no GPU answers: kernels will fail until the kernel is restarted.
    """

    simulator: bool
    reason: str
    name: str = "simulator"
    compute_capability: tuple[int, int] | None = None
    multiprocessors: int | None = None
    usable: bool = True

    def __repr__(self) -> str:
        if not self.usable:
            return f"no usable CUDA target ({self.reason})"
        if self.simulator:
            return f"simulator ({self.reason})"
        cc = ".".join(map(str, self.compute_capability or ()))
        return f"{self.name} (compute capability {cc}, {self.multiprocessors} SMs; {self.reason})"

    __str__ = __repr__


def _already_imported() -> bool:
    return "numba.cuda" in sys.modules


def _configure() -> tuple[bool, str]:
    """Steps 1 to 3 of the module docstring; returns what was asked and why."""
    if _already_imported():
        return False, ""  # decided by whoever imported it; _inspect says which
    simulate, why = choose(os.environ.get(GPU_ENV))
    if simulate:
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    else:
        os.environ.pop("NUMBA_ENABLE_CUDASIM", None)
    if "numba.core.config" in sys.modules or "numba" in sys.modules:
        from numba.core import config  # read when numba was imported: read it again
        config.reload_config()
    return simulate, why


def _running_simulator(cuda) -> bool:
    # the simulator's API lives in numba.cuda.simulator; the real one in numba.cuda.api
    return getattr(cuda.to_device, "__module__", "").startswith("numba.cuda.simulator")


def _inspect(cuda, why: str, preloaded: bool) -> Backend:
    sim = _running_simulator(cuda)
    if preloaded:
        why = ("numba.cuda was imported before course_lib.gpu, so its mode was already fixed "
               f"({'NUMBA_ENABLE_CUDASIM=1' if sim else 'the CUDA target'})")
    if sim:
        return Backend(True, why)
    try:
        dev = cuda.get_current_device()
    except Exception as exc:  # loaded for a GPU that is not there: say so, do not crash
        first = " ".join(str(exc).split())[:200]
        return Backend(False, f"{why}; no GPU answers ({type(exc).__name__}: {first}). Restart "
                       "and import course_lib.gpu before numba.cuda to get the simulator",
                       "none", usable=False)
    name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
    return Backend(False, why, name, tuple(dev.compute_capability), dev.MULTIPROCESSOR_COUNT)


_PRELOADED = _already_imported()
_SIMULATE, _WHY = _configure()
from numba import cuda as _cuda  # noqa: E402  (after the environment is set, on purpose)

_BACKEND: Backend | None = None


def backend() -> Backend:
    """The target in use (computed on first call, then cached).

    Example:
        >>> backend().simulator in (True, False)
        True
    """
    global _BACKEND
    if _BACKEND is None:
        _BACKEND = _inspect(_cuda, _WHY, _PRELOADED)
    return _BACKEND


def describe() -> str:
    """One line for a notebook's setup cell: ``"CUDA target: simulator (no CUDA driver ...)"``."""
    return f"CUDA target: {backend()!r}"


def is_simulator() -> bool:
    """True when kernels run on numba-cuda's simulator."""
    return backend().simulator


def require_gpu(what: str) -> None:
    """Raise :class:`SimulatorOnly` naming ``what`` when running on the simulator.

    Example:
        >>> try:
        ...     require_gpu("timing a kernel")
        ... except SimulatorOnly:
        ...     pass
    """
    if is_simulator():
        raise SimulatorOnly(f"{what} needs a real GPU; this is numba-cuda's simulator "
                            f"({backend().reason}), which runs each thread as a Python thread, "
                            "so its times say nothing about a GPU")


@contextlib.contextmanager
def simulator_pace(interval: float = 2e-4):
    """On the simulator, switch Python threads every ``interval`` seconds while inside.

    The simulator runs a block's threads as Python threads and a polling loop that releases
    them from each ``syncthreads()``; with Python's default switch interval (5 ms) every
    barrier waits for many forced switches, and a small kernel takes seconds. A short interval
    makes it 5 to 10 times faster (and interleaves threads more finely, which exposes data
    races sooner). On a real GPU this does nothing. The previous interval is restored.

    Example:
        >>> with simulator_pace():
        ...     pass
    """
    if not is_simulator():
        yield
        return
    old = sys.getswitchinterval()
    sys.setswitchinterval(min(old, interval))
    try:
        yield
    finally:
        sys.setswitchinterval(old)
