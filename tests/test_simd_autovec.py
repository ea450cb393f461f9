"""course_lib.simd.autovec, blockers and targets: the assembly reader on fixed text, and on what
numba really compiles here."""
from __future__ import annotations

import platform

import numpy as np
import pytest
from numba import njit

from course_lib.simd import autovec, blockers, numba_kernels as nk, targets

X86 = platform.machine().lower() in ("x86_64", "amd64")


@pytest.mark.parametrize("asm, width, scalar, fma, family", [
    ("\tvaddss\t%xmm1, %xmm0, %xmm0", 0, 1, False, None),
    ("\tvfmadd231ps\t(%rdi,%rax,4), %ymm1, %ymm0", 256, 0, True, "fma"),
    ("\tvaddps\t%zmm1, %zmm0, %zmm0\n\tvmovups\t%zmm0, (%rdi)", 512, 0, False, "add"),
    ("\taddps\t%xmm2, %xmm1", 128, 0, False, "add"),
    ("\tvxorps\t%xmm0, %xmm0, %xmm0\n\tvmovaps\t%ymm1, %ymm2", 0, 0, False, None),  # zeroing, moves
    ("\tpaddd\t%xmm1, %xmm0", 128, 0, False, "add"),
    ("\tfmla\tv0.4s, v1.4s, v2.4s", 128, 0, True, "fma"),
    ("\tfadd\ts0, s0, s1", 0, 1, False, None),
    ("\tfadd\tv0.2d, v0.2d, v1.2d", 128, 0, False, "add"),
    ("\tfmla\tz0.s, p0/m, z1.s, z2.s", 128, 0, True, "fma"),
    (".LBB0_1:\n\t# comment vaddps %zmm0\n\tvcvtps2pd\t%ymm0, %zmm1", 512, 0, False, "cvt"),
])
def test_vector_report_reads_fixed_text(asm, width, scalar, fma, family):
    r = autovec.vector_report(asm)
    assert (r.width_bits, r.scalar, r.fma) == (width, scalar, fma)
    assert (family in r.families) if family else not r.families
    assert r.vectorized == (width >= 128)


def test_lanes_follow_the_dtype():
    r = autovec.vector_report("\tvmulps\t%zmm1, %zmm0, %zmm0")
    assert (r.lanes("float32"), r.lanes(np.float64), r.lanes("int8")) == (16, 8, 64)
    assert autovec.vector_report("").lanes() == 1


def test_asm_of_explains_misuse():
    with pytest.raises(TypeError, match="njit"):
        autovec.asm_of(lambda x: x)

    @njit
    def never_called(x):
        return x

    with pytest.raises(ValueError, match="call it once"):
        autovec.asm_of(never_called)


def test_fastmath_vectorises_and_strict_does_not_here():
    x = np.ones(256, np.float32)
    strict, fast = autovec.report(nk.dot_strict, x, x), autovec.report(nk.dot_fastmath, x, x)
    assert not strict.vectorized and strict.scalar > 0
    assert fast.vectorized and (fast.families.get("fma") or fast.families.get("add"))
    assert "vectorised" in str(fast) and "scalar code" in str(strict)


def test_every_blocker_compares_and_its_fix_vectorises():
    for b in blockers.BLOCKERS:
        got = blockers.compare(b, n=4096, repeats=2)
        assert got.t_before > 0 and got.t_after > 0
        assert got.after.vectorized, b.name
        args = b.args(257)
        out_a, out_b = b.blocked(*args), b.fixed(*args)
        if out_a is not None:
            np.testing.assert_allclose(out_a, out_b, rtol=1e-4)
        assert set(got.row()) == {"blocker", "change", "before", "after", "speedup"}
    reduction = blockers.compare(blockers.BLOCKERS[0], n=4096, repeats=1)
    assert not reduction.before.vectorized


def test_the_float64_constant_shows_as_conversions():
    got = blockers.compare(blockers.BLOCKERS[2], n=1024, repeats=1)
    assert got.before.conversions > 0 and got.after.conversions == 0
    assert "conversions" in got.row()["before"]


def test_the_ladder_ends_with_the_host_and_says_what_it_cannot_run():
    rungs = targets.ladder()
    assert rungs[-1].cpu == "host" and rungs[-1].runnable()
    fake = targets.Target("x86-64-v9", "+imaginary", "future", ("no-such-feature",))
    assert not fake.runnable()


@pytest.mark.skipif(not X86, reason="the x86-64 levels apply to x86 machines")
def test_compile_for_sse2_gives_128_bit_code_and_runs():
    r = targets.compile_for(targets.ladder()[0], n=4096)
    assert r.width_bits == 128 and r.seconds and r.seconds > 0 and not r.note
    assert "xmm" in r.asm


def test_compile_for_rejects_a_bad_kernel_name():
    with pytest.raises(ValueError, match="module:function"):
        targets.compile_for(targets.ladder()[-1], kernel="no_colon")


def test_numpy_dispatch_lists_what_numpy_chose():
    rows = targets.numpy_dispatch()
    if not rows:
        pytest.skip("this NumPy has no numpy.lib.introspect.opt_func_info")
    assert {"add", "multiply"} <= {r["function"] for r in rows}
    assert all(r["current"] for r in rows)


def test_report_reads_functions_loaded_from_numbas_cache(tmp_path):
    """numba keeps no assembly for code loaded from its disk cache (cache=True) and returns an
    empty text with a warning; the report compiles the function again instead."""
    import subprocess
    import sys
    import textwrap

    (tmp_path / "cached_kernel.py").write_text(textwrap.dedent("""
        import numpy as np
        from numba import njit

        @njit(cache=True, fastmath=True)
        def total(x):
            s = 0.0
            for i in range(x.shape[0]):
                s += x[i]
            return s
    """))
    probe = textwrap.dedent("""
        import warnings, numpy as np
        warnings.simplefilter("error")
        from cached_kernel import total
        from course_lib.simd import autovec
        r = autovec.report(total, np.ones(64))
        print(total.stats.cache_hits.get(total.signatures[0], 0), r.vectorized)
    """)
    runs = [subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                           text=True, timeout=120) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    assert runs[1].stdout.split() == ["1", "True"], (runs[0].stdout, runs[1].stdout)
