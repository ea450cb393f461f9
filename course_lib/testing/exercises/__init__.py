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
==================  ====================================================================

A hidden test cell imports from its chapter's module only: ``from
course_lib.testing.exercises.c02_channels import check_pipeline``.
"""
