"""Reference figures measured on a real NVIDIA H100, to put beside what a laptop can run.

A machine without a GPU runs this chapter's kernels on numba-cuda's simulator, whose times say
nothing about a GPU. So that the chapter can still show what the ladder is worth, these are
figures **measured once, on one H100, in one run** (float32 unless marked, N = 4096 for the
matrix multiplies, CuPy's cuBLAS as the reference). They are not a guarantee: another driver,
clock or H100 variant gives other numbers; run ``python -m benchmarks gpu`` on a GPU for yours.

The roof of :func:`h100_roofline` is the H100 SXM5 datasheet's: 67 TFLOP/s float32 (without
tensor cores) and 3.35 TB/s of HBM3 bandwidth (the measured copy, 2.94 TB/s, is 88% of it).
cuBLAS's float64 figure is above the datasheet's 34 TFLOP/s float64 *vector* peak because it
runs on the float64 tensor cores (67 TFLOP/s).

Source: the run recorded for this course (CuPy ``a @ b``, numba-cuda kernels, CUDA events);
NVIDIA H100 Tensor Core GPU datasheet.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Figure", "H100", "H100_PEAK_F32_TFLOPS", "H100_HBM_TBS", "MATMUL_N", "h100",
           "h100_table", "h100_roofline"]

#: Datasheet peaks of the H100 SXM5, the roof the figures are placed under.
H100_PEAK_F32_TFLOPS = 67.0
H100_HBM_TBS = 3.35
#: Size of the square matrices of the measured multiplies.
MATMUL_N = 4096


@dataclass(frozen=True)
class Figure:
    """One measured figure: ``value`` in ``unit``, and the fraction of cuBLAS float32 where that
    means something."""

    name: str
    value: float
    unit: str
    of_cublas: float | None = None
    note: str = ""

    def __str__(self) -> str:
        ratio = f" ({self.of_cublas:.3f}x cuBLAS)" if self.of_cublas is not None else ""
        return f"{self.name}: {self.value:g} {self.unit}{ratio}{'; ' + self.note if self.note else ''}"


#: The figures, measured on one H100 in one run.
H100 = (
    Figure("cuBLAS float32 (CuPy)", 51.0, "TFLOP/s", 1.0, f"N={MATMUL_N}"),
    Figure("numba-cuda naive matmul", 0.98, "TFLOP/s", 0.019, f"N={MATMUL_N}, float32"),
    Figure("numba-cuda 16x16 shared-memory tiled matmul", 2.04, "TFLOP/s", 0.040,
           f"N={MATMUL_N}, float32"),
    Figure("cuBLAS float64 (CuPy)", 60.2, "TFLOP/s", None, f"N={MATMUL_N}, float64 tensor cores"),
    Figure("device-to-device copy", 2.94, "TB/s", None, "read + write bytes"),
    Figure("global-atomic histogram", 3.8, "G elements/s", None, "64M int32 values, 256 bins"),
)


def h100(name: str) -> Figure:
    """The figure whose name contains ``name`` (case-insensitive).

    Raises:
        KeyError: no figure, or more than one, matches.

    Example:
        >>> h100("naive").value
        0.98
    """
    found = [f for f in H100 if name.lower() in f.name.lower()]
    if len(found) != 1:
        raise KeyError(f"{name!r} matches {len(found)} figures; names: {[f.name for f in H100]}")
    return found[0]


def h100_table() -> str:
    """The figures as text lines, labelled as measured on one H100."""
    lines = ["Measured once on an NVIDIA H100 (one run; not this machine):"]
    lines += [f"  {f}" for f in H100]
    return "\n".join(lines)


def h100_roofline():
    """A :class:`course_lib.memory.roofline.Roofline` with the H100's datasheet roof and the
    measured matrix multiplies placed on it (intensity: ``2 N^3`` flops over the ``3 N^2``
    float32 values the operands occupy)."""
    from course_lib.memory.roofline import KernelPoint, Roofline

    roof = Roofline(H100_PEAK_F32_TFLOPS * 1e3, H100_HBM_TBS * 1e3,
                    "(NVIDIA H100 SXM5 datasheet, float32)")
    intensity = 2 * MATMUL_N**3 / (3 * MATMUL_N**2 * 4)
    for label, key in (("cuBLAS", "cuBLAS float32"), ("naive", "naive"), ("tiled 16x16", "tiled")):
        roof.place(KernelPoint(f"{label} (H100)", intensity, h100(key).value * 1e3))
    return roof
