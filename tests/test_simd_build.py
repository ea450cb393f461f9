"""course_lib.simd.snippet (C compiled from a cell) and course_lib.simd.tuning (build flags).

Every build goes to a cache folder private to this module, so the cache tests start cold and
the user's own cache is left alone. The tuning experiments run once each, in quick mode, and
several tests read the same result; no test asserts a speed ratio (the machine may be busy).
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from course_lib.measure.machine import describe
from course_lib.simd import snippet as sn
from course_lib.simd import tuning
from course_lib.simd.snippet import CompileError, CompilerNotFound, compile_c, compiler
from course_lib.simd.tuning import asm_summary

SUM = """\
/* the sum of n floats */
float total(const float *x, long n)
{
    float s = 0.0f;
    for (long i = 0; i < n; i++)
        s += x[i];
    return s;
}
"""


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_CACHE", str(tmp_path_factory.mktemp("course-cache")))
        mp.setenv("COURSE_QUICK", "1")
        mp.delenv("CC", raising=False)
        sn._MEMORY.clear()
        yield
        sn._MEMORY.clear()


needs_cc = pytest.mark.skipif(compiler()["name"] is None, reason="no C compiler here")


# ----------------------------------------------------------------------------- compile_c
@needs_cc
def test_sum_over_a_float_array_through_ptr():
    s = compile_c(SUM)
    x = np.arange(100, dtype=np.float32)
    assert s.lib.total(s.ptr(x), x.size) == pytest.approx(4950.0)
    assert s.flags == ("-O2",) and s.functions == ["total"]
    assert "total" in repr(s)


@needs_cc
def test_same_source_and_flags_come_from_the_cache_other_flags_do_not():
    first = compile_c(SUM, flags="-O1", name="cached")
    assert compile_c(SUM, flags=("-O1",), name="cached") is first  # same session: same object
    sn._MEMORY.clear()  # as in a new kernel: found on disk, not rebuilt
    t0 = time.perf_counter()
    again = compile_c(SUM, flags=("-O1",), name="cached")
    assert again.cached and again.directory == first.directory
    assert time.perf_counter() - t0 < 5  # a load, not a build (generous: busy machines)
    other = compile_c(SUM, flags=("-O3",), name="cached")
    assert other.directory != first.directory and not other.cached


def test_an_unwritable_cache_falls_back_to_a_temporary_folder(monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("COURSE_CACHE", str(blocker))
    folder = sn.cache_dir()
    assert folder.is_dir() and blocker not in folder.parents
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "mine"))
    assert sn.cache_dir() == tmp_path / "mine" / "snippets"


@needs_cc
def test_cdef_is_read_from_non_static_definitions():
    src = """\
#include <stdint.h>
static inline double half(double x) { return x / 2; }

__attribute__((noinline))
int64_t count_positive(const double *restrict v, size_t n)
{
    int64_t k = 0;
    for (size_t i = 0; i < n; i++) k += v[i] > 0;
    return k;
}

double mean_half(const double v[], long n) { double s = 0; for (long i = 0; i < n; i++) s += half(v[i]); return s / n; }
"""
    cdef, skipped = sn.derive_cdef(src)
    assert "half(" not in cdef.replace("mean_half(", "") and skipped == []
    assert "restrict" not in cdef
    s = compile_c(src)
    v = np.array([1.0, -2.0, 3.0, 0.0])
    assert s.lib.count_positive(s.ptr(v), v.size) == 2
    assert s.lib.mean_half(s.ptr(v), v.size) == pytest.approx(0.25)
    assert not hasattr(s.lib, "half")


@needs_cc
def test_explicit_cdef_for_types_the_reader_does_not_handle():
    src = """\
struct pair { double a, b; };
double pair_sum(const struct pair *p) { return p->a + p->b; }
double twice(double x) { return 2 * x; }
"""
    with pytest.warns(UserWarning, match="pair_sum"):
        auto = compile_c(src, name="auto_pair")
    assert auto.functions == ["twice"]
    s = compile_c(src, cdef="struct pair { double a, b; };\ndouble pair_sum(const struct pair *p);",
                  name="pair")
    p = s.ffi.new("struct pair *", {"a": 1.5, "b": 2.0})
    assert s.lib.pair_sum(p) == 3.5
    assert not hasattr(s.lib, "twice")  # only what the cdef declares


@needs_cc
def test_a_syntax_error_is_reported_at_the_snippets_line():
    src = "int f(int x)\n{\n    int y = ;\n    return x;\n}\n"
    with pytest.raises(CompileError) as info:
        compile_c(src, name="broken")
    e = info.value
    assert isinstance(e, RuntimeError)
    assert e.errors and e.errors[0].line == 3 and e.errors[0].file == "broken.c"
    assert "broken.c:3:" in str(e) and "error" in str(e)
    assert "Traceback" not in str(e) and "distutils" not in str(e) and "VerificationError" not in str(e)


@needs_cc
def test_an_undeclared_identifier_is_reported_at_its_line():
    src = "double g(double x)\n{\n    double y = x * 2;\n    return y + z;\n}\n"
    with pytest.raises(CompileError) as info:
        compile_c(src)
    first = info.value.errors[0]
    assert first.line == 4 and "z" in first.message
    assert "snippet.c:4:" in str(info.value)


def test_a_missing_compiler_is_named(monkeypatch):
    monkeypatch.setenv("CC", "/nonexistent/course-cc")
    with pytest.raises(CompilerNotFound, match="no C compiler.*course-cc") as info:
        compile_c(SUM, name="nocc")
    assert "CC environment variable" in str(info.value) and "install" in str(info.value).lower()
    info = compiler()
    assert info["name"] is None and "course-cc" in info["error"]
    assert tuning.restrict().skipped.startswith("no C compiler")


@needs_cc
def test_ptr_checks_layout_and_maps_dtypes():
    s = compile_c("long long first(const int64_t *v) { return v[0]; }", name="first")
    v = np.arange(10, dtype=np.int64)
    assert s.lib.first(s.ptr(v[3:])) == 3
    with pytest.raises(ValueError, match="contiguous"):
        s.ptr(v[::2])
    with pytest.raises(TypeError, match="NumPy array"):
        s.ptr([1, 2])
    with pytest.raises(TypeError, match="no C type"):
        s.ptr(np.zeros(2, np.complex64))
    assert s.ffi.typeof(s.ptr(np.zeros(2, np.float32))).cname == "float[]"
    assert s.ffi.typeof(s.ptr(v, ctype="long")).cname == "long[]"


@needs_cc
def test_compiler_reports_name_version_and_flags():
    info = compiler()
    assert info["name"] in ("gcc", "clang", "apple clang", "unknown")
    assert info["version"] and info["flags"]["-O2"] is True
    assert set(sn.PROBED_FLAGS) == set(info["flags"])
    assert sn.accepts("-fcourse-no-such-flag") is False


# ----------------------------------------------------------------------------- assembly
SCALE = """\
void scale(float *restrict y, const float *restrict x, long n)
{
    for (long i = 0; i < n; i++)
        y[i] = 3.0f * x[i];
}
"""


@needs_cc
def test_asm_of_a_named_function_at_O0_and_native():
    slow = compile_c(SCALE, flags="-O0", name="scale").asm("scale")
    assert slow.startswith(("scale:", "_scale:")) and not any(
        line.strip().startswith(".") for line in slow.splitlines() if not line.endswith(":"))
    assert asm_summary(slow)["width_bits"] == 0
    with pytest.raises(KeyError, match="scale"):
        compile_c(SCALE, flags="-O0", name="scale").asm("no_such_function")
    if describe().has("avx2") and sn.accepts("-march=native"):
        fast = compile_c(SCALE, flags="-O3 -march=native", name="scale").asm("scale")
        summary = asm_summary(fast)
        assert summary["width_bits"] >= 256 and summary["vector"] > 0
        assert "ymm" in fast or "zmm" in fast


def test_trim_asm_keeps_one_function_without_directives():
    text = """\
\t.file\t"k.c"
\t.text
\t.p2align 4
\t.globl\tf
\t.type\tf, @function
f:
.LFB0:
\ttest\trdi, rdi
\tjle\t.L3
\tmov\teax, 1
\tret
.L3:
\txor\teax, eax
\tret
\t.size\tf, .-f
\t.globl\tg
g:
\tret
"""
    out = sn.trim_asm(text, "f")
    assert out.splitlines()[0] == "f:" and ".L3:" in out and "g:" not in out
    assert ".LFB0" not in out and ".size" not in out and ".globl" not in out
    assert sn.trim_asm(text, "h") == ""


def test_trim_asm_reads_clang_and_arm_comments():
    clang = ("\t.globl\ttotal  # -- Begin function total\ntotal:  # @total\n# %bb.0:\n"
             "\ttestq\t%rsi, %rsi\n.LBB0_4:  # =>This Inner Loop Header: Depth=1\n"
             "\tjne\t.LBB0_4\n\tretq\n.Lfunc_end0:\n\t.size\ttotal, .Lfunc_end0-total\n")
    out = sn.trim_asm(clang, "total")
    assert out.splitlines() == ["total:", "\ttestq\t%rsi, %rsi", ".LBB0_4:", "\tjne\t.LBB0_4",
                                "\tretq"]
    arm = "f:\n\tadd\tx0, x0, #16   // bump\n\tldr\tq0, [x1], #16\n\tret\n"
    assert sn.trim_asm(arm, "f").splitlines()[1:3] == ["\tadd\tx0, x0, #16", "\tldr\tq0, [x1], #16"]


X86_INTEL = """\
.L4:
\tvmovups\tymm1, YMMWORD PTR [rsi+rax]
\tvfmadd213ps\tymm1, ymm2, YMMWORD PTR [rdi+rax]
\tvmovups\tYMMWORD PTR [rdi+rax], ymm1
\tadd\trax, 32
\tcmp\trcx, rax
\tjne\t.L4
\tvaddss\txmm0, xmm0, DWORD PTR [rdi]
\tvxorps\txmm3, xmm3, xmm3
\tcall\tscale@PLT
\tdiv\tecx
\tvzeroupper
\tret
"""
X86_ATT = """\
\tvaddps\t(%rsi,%rax), %zmm0, %zmm0
\tmovaps\t%xmm0, %xmm1
\tjmp\t.L2
\tcallq\tf
"""
ARM = """\
.LBB0_2:
\tldr\tq0, [x1], #16
\tfmla\tv1.4s, v0.4s, v2.4s
\tstr\tq1, [x0], #16
\tsubs\tx2, x2, #4
\tb.ne\t.LBB0_2
\tfadd\ts0, s0, s1
\tfmadd\td0, d1, d2, d3
\tbl\tscale
\tcbz\tx3, .LBB0_4
\tble\t.L1
\tbic\tw4, w4, w5
\tudiv\tw0, w1, w2
\tret
"""


def test_asm_summary_x86_intel():
    s = asm_summary(X86_INTEL)
    assert s["arch"] == "x86" and s["instructions"] == 12
    assert (s["vector"], s["ymm"], s["xmm"], s["zmm"], s["width_bits"]) == (3, 3, 0, 0, 256)
    assert (s["fma"], s["calls"], s["branches"], s["divides"], s["scalar_fp"]) == (1, 1, 1, 1, 1)


def test_asm_summary_x86_att():
    s = asm_summary(X86_ATT)
    assert s["arch"] == "x86" and s["zmm"] == 1 and s["width_bits"] == 512
    assert s["vector"] == 1  # the register copy is not a vector operation
    assert s["calls"] == 1 and s["branches"] == 1


def test_asm_summary_arm():
    s = asm_summary(ARM)
    assert s["arch"] == "arm" and s["instructions"] == 13
    assert (s["vector"], s["v"], s["width_bits"]) == (3, 3, 128)
    assert (s["fma"], s["calls"], s["branches"], s["divides"], s["scalar_fp"]) == (2, 1, 3, 1, 2)
    assert asm_summary("")["instructions"] == 0


# ----------------------------------------------------------------------------- tuning
@pytest.fixture(scope="module")
def results():
    if compiler()["name"] is None:
        pytest.skip("no C compiler here")
    return {f.__name__: f() for f in (tuning.opt_levels, tuning.march_native, tuning.restrict,
                                      tuning.lto, tuning.pgo)}


@pytest.mark.parametrize("name", ["opt_levels", "march_native", "restrict", "lto", "pgo"])
def test_each_experiment_times_its_builds_or_says_why_not(results, name):
    r = results[name]
    assert r.experiment == name
    report = r.report()
    assert report.startswith(name)
    if r.skipped is not None:
        assert r.skipped.strip() and "skipped" in report
        return
    assert len(r.variants) >= 2 and r.ratio is not None and r.ratio > 0
    for v in r.variants:
        assert v.best > 0 and v.median >= v.best and v.flags
        assert v.asm["instructions"] > 0, v.asm_text
    assert r.finding and r.finding in report and "x" in report


def test_opt_levels_covers_O0_to_O3(results):
    r = results["opt_levels"]
    labels = [v.label for v in r.variants]
    assert labels[:4] == ["-O0", "-O1", "-O2", "-O3"]
    assert r.variant("-O0").asm["width_bits"] == 0


def test_restrict_removes_the_alias_check(results):
    r = results["restrict"]
    if r.skipped:
        pytest.skip(r.skipped)
    plain, strict = r.variant("without restrict").asm, r.variant("with restrict").asm
    assert plain["vector"] > 0 and strict["vector"] > 0
    assert plain["branches"] > strict["branches"] or plain["instructions"] > strict["instructions"]


def test_lto_inlines_across_files(results):
    r = results["lto"]
    if r.skipped:
        pytest.skip(r.skipped)
    without, with_lto = r.variant("-O2").asm, r.variant("-O2 -flto").asm
    assert without["calls"] >= 1 and with_lto["calls"] < without["calls"]


def test_pgo_runs_with_gcc(results):
    r = results["pgo"]
    if compiler()["name"] == "gcc" and sn.accepts("-fprofile-generate"):
        assert r.skipped is None, r.skipped
        assert r.variant("-O2 + profile").flags[-1] == "-fprofile-use"


def test_missing_flags_become_skip_reasons(monkeypatch):
    monkeypatch.setattr(tuning, "_native_flag", lambda: None)
    r = tuning.march_native()
    assert r.skipped and "-march=native" in r.skipped and not r.variants
    assert r.report().startswith("march_native: skipped:")
    monkeypatch.setattr(tuning, "compiler", lambda: {"name": "apple clang", "version": "15.0.0",
                                                     "error": None})
    monkeypatch.setattr(tuning, "_llvm_profdata", lambda: None)
    assert tuning.pgo().skipped.startswith("clang without llvm-profdata")
    monkeypatch.setattr(tuning, "accepts", lambda flag: flag != "-flto")
    assert "-flto" in tuning.lto().skipped
