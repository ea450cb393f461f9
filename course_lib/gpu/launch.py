"""Launch configurations: how many blocks of how many threads, checked against the device.

A kernel launch ``kernel[blocks, threads](...)`` starts ``blocks`` independent blocks of
``threads`` threads each. The hardware sets hard limits, and a launch that breaks one fails with
an opaque driver error (or, on the simulator, may run where a GPU would refuse). This module
computes configurations and checks them first, with errors that say which limit and by how
much:

1. :func:`launch_config` covers ``n`` elements with 1-D blocks of ``threads_per_block``
   (``blocks = ceil(n / threads)``); :func:`launch_config_2d` covers a ``rows x cols`` array
   with 2-D blocks.
2. :func:`device_limits` reads the limits from the device (on the simulator: the values every
   GPU since compute capability 3.0 guarantees: 1024 threads per block, block dimensions
   1024 x 1024 x 64, grid ``2**31 - 1 x 65535 x 65535``, 48 KiB of static shared memory per
   block, warps of 32).
3. :func:`check_launch` checks a configuration against them.

Source: CUDA C++ Programming Guide, "Compute Capabilities", table "Technical Specifications per
Compute Capability".
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from course_lib.gpu.target import _cuda as cuda, is_simulator

__all__ = ["Limits", "device_limits", "launch_config", "launch_config_2d", "check_launch",
           "SIMULATOR_LIMITS", "occupancy", "H100_SM"]


@dataclass(frozen=True)
class Limits:
    """A device's launch limits."""

    max_threads_per_block: int = 1024
    max_block_dim: tuple[int, int, int] = (1024, 1024, 64)
    max_grid_dim: tuple[int, int, int] = (2**31 - 1, 65535, 65535)
    max_shared_per_block: int = 48 * 1024
    warp_size: int = 32


#: What the simulator is checked against: the guaranteed minimum of every current GPU.
SIMULATOR_LIMITS = Limits()


def device_limits() -> Limits:
    """The current device's limits (:data:`SIMULATOR_LIMITS` on the simulator)."""
    if is_simulator():
        return SIMULATOR_LIMITS
    d = cuda.get_current_device()
    return Limits(d.MAX_THREADS_PER_BLOCK,
                  (d.MAX_BLOCK_DIM_X, d.MAX_BLOCK_DIM_Y, d.MAX_BLOCK_DIM_Z),
                  (d.MAX_GRID_DIM_X, d.MAX_GRID_DIM_Y, d.MAX_GRID_DIM_Z),
                  d.MAX_SHARED_MEMORY_PER_BLOCK, d.WARP_SIZE)


def _dims(value, what: str) -> tuple[int, int, int]:
    dims = (value,) if isinstance(value, (int, np.integer)) else \
        tuple(value) if isinstance(value, (tuple, list)) else (value,)
    dims = tuple(int(d) if isinstance(d, np.integer) else d for d in dims)
    if not 1 <= len(dims) <= 3 or not all(isinstance(d, int) and not isinstance(d, bool) for d in dims):
        raise TypeError(f"{what} must be an int or a tuple of 1 to 3 ints, got {value!r}")
    if any(d < 1 for d in dims):
        raise ValueError(f"{what} must be at least 1 in every dimension, got {value!r}")
    return dims + (1,) * (3 - len(dims))


def check_launch(blocks, threads, shared_bytes: int = 0, limits: Limits | None = None) -> None:
    """Check a launch configuration against the device's limits.

    Args:
        blocks: grid size, an int or a tuple of up to 3 ints.
        threads: block size, an int or a tuple of up to 3 ints.
        shared_bytes: static plus dynamic shared memory per block.
        limits: default :func:`device_limits`.

    Raises:
        TypeError: a size that is not an int or a tuple of ints.
        ValueError: naming the limit broken and by how much.

    Example:
        >>> check_launch(4, 2048)
        Traceback (most recent call last):
        ...
        ValueError: 2048 threads per block: the device allows at most 1024 ...
    """
    lim = limits or device_limits()
    g, b = _dims(blocks, "blocks"), _dims(threads, "threads")
    total = b[0] * b[1] * b[2]
    if total > lim.max_threads_per_block:
        raise ValueError(f"{total} threads per block: the device allows at most "
                         f"{lim.max_threads_per_block} (block {b}); use more blocks of fewer threads")
    for axis, (have, most) in enumerate(zip(b, lim.max_block_dim)):
        if have > most:
            raise ValueError(f"block dimension {'xyz'[axis]} is {have}: at most {most}")
    for axis, (have, most) in enumerate(zip(g, lim.max_grid_dim)):
        if have > most:
            raise ValueError(f"grid dimension {'xyz'[axis]} is {have} blocks: at most {most}; "
                             "use a grid-stride loop and fewer blocks")
    if shared_bytes > lim.max_shared_per_block:
        raise ValueError(f"{shared_bytes} bytes of shared memory per block: at most "
                         f"{lim.max_shared_per_block} ({lim.max_shared_per_block // 1024} KiB)")


def launch_config(n: int, threads_per_block: int = 256, max_blocks: int | None = None
                  ) -> tuple[int, int]:
    """Blocks and threads to cover ``n`` elements, one thread each.

    Args:
        n: number of elements (>= 0; 0 still launches one block, which does nothing).
        threads_per_block: a multiple of the warp size is best; at most the device's limit.
        max_blocks: cap on the blocks (a grid-stride kernel then loops over the rest).

    Returns:
        ``(blocks, threads_per_block)``.

    Raises:
        ValueError: ``n < 0`` or a block size the device refuses.

    Example:
        >>> launch_config(1000, 256)
        (4, 256)
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    check_launch(1, threads_per_block)
    blocks = max(1, -(-n // threads_per_block))
    if max_blocks is not None:
        blocks = max(1, min(blocks, max_blocks))
    check_launch(blocks, threads_per_block)
    return blocks, threads_per_block


def launch_config_2d(rows: int, cols: int, block: tuple[int, int] = (16, 16)
                     ) -> tuple[tuple[int, int], tuple[int, int]]:
    """Blocks and threads to cover a ``rows x cols`` array, one thread per element.

    The first block dimension runs along the *columns* (``cuda.grid(2)`` returns ``(x, y)``:
    x is the column), so neighbouring threads of a warp touch neighbouring elements of a
    C-ordered row: coalesced.

    Example:
        >>> launch_config_2d(100, 33, (16, 16))
        ((3, 7), (16, 16))
    """
    if rows < 0 or cols < 0:
        raise ValueError(f"rows and cols must be >= 0, got {rows} x {cols}")
    bx, by = block
    grid = (max(1, -(-cols // bx)), max(1, -(-rows // by)))
    check_launch(grid, block)
    return grid, (bx, by)


#: Per-SM resources of an H100 (compute capability 9.0), from the CUDA Programming Guide.
H100_SM = {"threads": 2048, "blocks": 32, "registers": 65536, "shared": 228 * 1024}


def occupancy(threads: int, registers_per_thread: int = 32, shared_per_block: int = 0,
              sm: dict | None = None) -> tuple[int, float, str]:
    """How many blocks of a kernel fit on one SM at once, and what limits them.

    An SM keeps every resident thread's registers and every resident block's shared memory
    on chip; the first resource to run out caps the blocks. *Occupancy* is the resident warps
    over the most the SM can hold: higher occupancy gives the scheduler more warps to switch
    to while others wait for memory.

    Args:
        threads: threads per block.
        registers_per_thread: from the compiler (``kernel.get_regs_per_thread()`` on a GPU).
        shared_per_block: bytes of shared memory per block.
        sm: the SM's resources (default :data:`H100_SM`).

    Returns:
        ``(blocks per SM, occupancy from 0 to 1, the limiting resource)``.

    Example:
        >>> occupancy(256, registers_per_thread=128)
        (2, 0.25, 'registers')
    """
    sm = sm or H100_SM
    caps = {"threads": sm["threads"] // threads, "blocks": sm["blocks"],
            "registers": sm["registers"] // max(1, registers_per_thread * threads)}
    if shared_per_block:
        caps["shared memory"] = sm["shared"] // shared_per_block
    limit = min(caps, key=caps.get)
    blocks = caps[limit]
    return blocks, blocks * threads / sm["threads"], limit
