"""One module per chapter, holding every checker that the chapter's hidden tests call.

==================  ====================================================================
``c00_measure``     ``check_robust_time``, ``check_amdahl``, ``check_serial_fraction``,
                    ``check_parallel_spin``
``c01_par_iter``    ``check_prange_reduction``, ``check_histogram_fixed``, ``check_tree_sum``,
                    ``check_pick_chunk_size``
``c02_channels``    ``check_channel`` (the channel battery), ``check_pipeline``,
                    ``check_fan_in``, ``check_backpressure_prediction``
``c03_atomics``     ``check_parallel_histogram``, ``check_prediction``, ``check_one_shot``,
                    ``check_fetch_max``
``c04_locks``       ``check_mutual_exclusion``, ``check_numba_lock``, ``check_queue``,
                    ``check_numba_queue``, ``check_treiber``, ``check_padded_stats``,
                    ``check_choices``
``c05_simd``        ``check_vectorised_dot``, ``check_pick_variant``, ``check_masked_sum``,
                    ``check_asm_reading``
``c06_memory``      ``check_cache_sizes``, ``check_soa``, ``check_blocked_transpose``,
                    ``check_bump_arena``
``c07_profiling``   ``check_hot_spot``, ``check_branch_reading``, ``check_scaling_benchmark``,
                    ``check_pipeline_reading``
``c08_matmul``      ``check_reordered``, ``check_blocked``, ``check_microkernel``,
                    ``check_parallel_matmul``
``c09_gpu``         ``check_scale_add``, ``check_tiled_matmul``, ``check_block_reduce``,
                    ``check_privatised_histogram``
``c10_beyond``      ``check_fit_link``, ``check_pi_allreduce``, ``check_halo_exchange``,
                    ``check_tree_sum``
==================  ====================================================================

A hidden test cell imports from its chapter's module only: ``from
course_lib.testing.exercises.c02_channels import check_pipeline``.
"""
from __future__ import annotations

import sys
import types

__all__ = ["seal"]


class _Sealed(types.ModuleType):
    """A chapter's checker module whose graders (the names in its ``GRADERS``) cannot be
    reassigned or deleted: ``m.check_amdahl = lambda f: None`` in an answer cell raises instead
    of turning the hidden test into a no-op. (Writing ``m.__dict__`` directly still works; the
    tamper scan of a graded class flags it.)"""

    def __setattr__(self, name: str, value: object) -> None:
        if name in self.__dict__.get("GRADERS", ()):
            raise AttributeError(f"{self.__name__}.{name} grades an exercise: it cannot be "
                                 "replaced from a notebook")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if name in self.__dict__.get("GRADERS", ()):
            raise AttributeError(f"{self.__name__}.{name} grades an exercise: it cannot be deleted")
        super().__delattr__(name)


def seal(module_name: str) -> None:
    """Protect the graders of the module ``module_name`` (call it at the end of that module)."""
    sys.modules[module_name].__class__ = _Sealed
