"""Host-side helpers: checking operands, moving arrays, streams, and timing with events.

A GPU has its own memory. ``cuda.to_device(a)`` copies a host array over PCIe or NVLink and
returns a *device array*; a kernel given a plain NumPy array makes numba copy it there and back
around every launch, which is often the slowest part of a small kernel. The helpers:

1. :func:`check_array` validates an operand before a launch (array type, dtype, number of
   dimensions, C-contiguity), raising ``TypeError``/``ValueError`` that name the argument and
   the problem, instead of a compiler error from deep inside numba.
2. :func:`to_device`, :func:`device_empty`, :func:`to_host` wrap numba's copies.
3. :class:`EventTimer` times work on the GPU with CUDA events (recorded in the stream, so they
   measure the GPU's time, not the host's); :func:`time_gpu` takes the median of several runs.
   On the simulator both raise :class:`~course_lib.gpu.target.SimulatorOnly`: its times are
   those of Python threads.
4. :func:`pipelined` splits work into chunks, each on its own stream (copy in, kernel, copy
   out), so that one chunk's copies overlap another's kernel on a GPU with copy engines.

Source: CUDA C++ Best Practices Guide, "Asynchronous and Overlapping Transfers with
Computation" and "Using CUDA GPU Timers".
"""
from __future__ import annotations

import statistics
from typing import Callable

import numpy as np

from course_lib.gpu.target import _cuda as cuda, require_gpu

__all__ = ["check_array", "to_device", "device_empty", "to_host", "EventTimer", "time_gpu",
           "pipelined", "is_device_array"]


def is_device_array(a) -> bool:
    """True for a numba device array (real or simulated): it has ``copy_to_host``."""
    return not isinstance(a, np.ndarray) and callable(getattr(a, "copy_to_host", None))


def _contiguous(a) -> bool:
    if isinstance(a, np.ndarray):
        return a.flags.c_contiguous
    fn = getattr(a, "is_c_contiguous", None)
    return bool(fn()) if callable(fn) else True


def check_array(a, name: str, dtypes=None, ndim: int | None = None,
                shape: tuple | None = None, contiguous: bool = True) -> None:
    """Check a kernel operand on the host, with errors that name it and say what is wrong.

    Args:
        a: a NumPy array or a device array.
        name: the argument's name, for the message.
        dtypes: a dtype or tuple of dtypes it may have (None: any).
        ndim: the number of dimensions it must have.
        shape: the shape it must have (``None`` entries match anything).
        contiguous: require C-contiguity (kernels here index flat rows; a strided view would
            need a copy first).

    Raises:
        TypeError: not an array, or the wrong dtype.
        ValueError: the wrong number of dimensions, shape, or layout.

    Example:
        >>> check_array(np.zeros(3, np.int64), "x", np.float32)
        Traceback (most recent call last):
        ...
        TypeError: x must have dtype float32, got int64 (convert with x.astype(np.float32))
    """
    if not (isinstance(a, np.ndarray) or is_device_array(a)):
        raise TypeError(f"{name} must be a NumPy or device array, got {type(a).__name__}")
    if dtypes is not None:
        allowed = tuple(np.dtype(d) for d in (dtypes if isinstance(dtypes, (tuple, list)) else (dtypes,)))
        if np.dtype(a.dtype) not in allowed:
            want = " or ".join(d.name for d in allowed)
            raise TypeError(f"{name} must have dtype {want}, got {np.dtype(a.dtype).name} "
                            f"(convert with {name}.astype(np.{allowed[0].name}))")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got {a.ndim}-D with shape {tuple(a.shape)}")
    if shape is not None:
        if len(shape) != a.ndim or any(s is not None and s != h for s, h in zip(shape, a.shape)):
            want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {want}, got {tuple(a.shape)}")
    if contiguous and not _contiguous(a):
        raise ValueError(f"{name} must be C-contiguous (got a strided view); pass "
                         f"np.ascontiguousarray({name})")


def to_device(a: np.ndarray, stream=0):
    """Copy a host array to the GPU (C-contiguous first); return the device array."""
    return cuda.to_device(np.ascontiguousarray(a), stream=stream)


def device_empty(shape, dtype, stream=0):
    """An uninitialised device array (``cuda.device_array``)."""
    return cuda.device_array(shape, dtype=dtype, stream=stream)


def to_host(d, stream=0) -> np.ndarray:
    """Copy a device array back to a new host array (a NumPy array is returned unchanged)."""
    return d if isinstance(d, np.ndarray) else d.copy_to_host(stream=stream)


class EventTimer:
    """Time GPU work between two CUDA events: ``with EventTimer() as t: ...; t.ms``.

    The events are recorded in ``stream`` and the exit waits for the second one, so ``ms`` is
    the GPU's time for the work queued in between (launches return at once; a host clock
    around them would time only the queueing).

    Raises:
        SimulatorOnly: on the simulator.

    Example (on a GPU)::

        with EventTimer() as t:
            kernel[blocks, threads](x_dev)
        print(t.ms)
    """

    def __init__(self, stream=0):
        require_gpu("timing with CUDA events")
        self.stream, self.ms = stream, float("nan")
        self._start, self._stop = cuda.event(), cuda.event()

    def __enter__(self) -> "EventTimer":
        self._start.record(self.stream)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.record(self.stream)
        self._stop.synchronize()
        self.ms = cuda.event_elapsed_time(self._start, self._stop)


def time_gpu(work: Callable[[], object], repeat: int = 5, warmup: int = 1) -> float:
    """Median milliseconds of ``work()`` on the GPU over ``repeat`` runs, after ``warmup`` runs
    (the first launch of a kernel compiles it).

    Raises:
        SimulatorOnly: on the simulator.
    """
    require_gpu("timing a kernel")
    for _ in range(warmup):
        work()
    cuda.synchronize()
    times = []
    for _ in range(repeat):
        with EventTimer() as t:
            work()
        times.append(t.ms)
    return statistics.median(times)


def pipelined(x: np.ndarray, kernel: Callable, chunks: int = 4) -> np.ndarray:
    """Run ``kernel(x_chunk_device, out_chunk_device, stream)`` over ``chunks`` slices of a 1-D
    array, each slice on its own stream: copy in, compute, copy out, all asynchronous.

    With pinned host buffers (``cuda.pinned_array``) the copies of one chunk overlap the kernel
    of another on a real GPU; on the simulator the streams run one after the other and the
    result is the same.

    Args:
        x: 1-D host array.
        kernel: launches the work for one chunk on the stream it is given.
        chunks: how many slices (and streams).

    Returns:
        The host output, same shape and dtype as ``x``.
    """
    check_array(x, "x", ndim=1)
    host_in = cuda.pinned_array(x.shape, dtype=x.dtype)
    host_in[:] = x
    host_out = cuda.pinned_array(x.shape, dtype=x.dtype)
    bounds = np.linspace(0, x.size, chunks + 1).astype(int)
    streams = [cuda.stream() for _ in range(chunks)]
    for s, lo, hi in zip(streams, bounds[:-1], bounds[1:]):
        if hi == lo:
            continue
        d_in = cuda.to_device(host_in[lo:hi], stream=s)
        d_out = cuda.device_array(hi - lo, dtype=x.dtype, stream=s)
        kernel(d_in, d_out, s)
        d_out.copy_to_host(host_out[lo:hi], stream=s)
    for s in streams:
        s.synchronize()
    return np.array(host_out)
