"""Chapter 10: beyond one machine: message passing across processes and hosts.

Threads share memory and (in CPython) one interpreter lock; processes share neither, so they
run Python in parallel but must *send* what the others need. This package measures what that
costs and builds the two standard ways to organise it:

==================  ===========================================================================
module              what is in it
==================  ===========================================================================
``launch``          :func:`mpirun`: a function (a notebook's too) or a script on ``n`` MPI
                    ranks via ``mpiexec``, each rank's result back, the whole job killed at a
                    timeout (:class:`MPITimeout` names the ranks that had not finished);
                    :func:`mpi_available` says whether MPI works here, and why not
``mpienv``          finding ``mpiexec``, probing MPI once (:func:`mpi_available`), and the
                    launcher's command line for Hydra or Open MPI
``transports``      one-way time by message size over five transports (mpi4py pickled and
                    buffer, ``multiprocessing`` Pipe and shared memory, chapter 2's channel
                    between threads), :func:`fit_link` (latency + size / bandwidth) and a
                    log-log plot
``collectives``     what bcast, scatter, gather, reduce and allreduce leave on each rank
                    (:func:`show_collectives`), and their cost by rank count
``stencil``         the 2-D heat equation (5-point Jacobi): serial, and split by rows over
                    ranks with halo exchange (:func:`heat_parallel`, :func:`exchange_halos`)
``scaling``         strong and weak scaling of the stencil, with Amdahl's and Gustafson's laws
                    fitted (chapter 0)
``tasks``           Dask: a client of a local cluster or of the scheduler named by
                    ``COURSE_DASK_SCHEDULER``, chunked-array and bag examples, task graphs
                    drawn with matplotlib, and the cost of a task against chapter 1's pool
``hosts``           several "hosts" on one Linux machine: network namespaces joined by veth
                    pairs, a Dask scheduler in one and a worker in another (root only)
==================  ===========================================================================

Rust <-> Python:

==============================================  ================================================
Rust                                            Python (this package)
==============================================  ================================================
``rsmpi``: ``mpi::initialize()``, ``world``       ``mpi4py``: ``MPI.COMM_WORLD``, via :func:`mpirun`
``world.process_at_rank(1).send(&x)``           ``comm.Send(x, dest=1)`` (buffer), ``comm.send``
``world.all_reduce_into(&x, &mut y, SystemOperation::sum())``  ``comm.Allreduce(x, y, op=MPI.SUM)``
``p.send_receive(...)`` (``mpi::point_to_point``)  ``comm.Sendrecv(...)``
``ipc-channel``, ``shared_memory`` crates        ``multiprocessing.Pipe``, ``shared_memory``
``tokio`` + ``tonic`` (gRPC) services            Dask ``distributed`` (a scheduler and workers
                                                over TCP)
``rayon`` within one machine                    chapter 1's ``course_lib.par``
==============================================  ================================================

Nothing here imports mpi4py in the calling process: ranks are separate processes started by
``mpiexec``. Dask is imported on first use.

Source: the MPI 4.1 standard; W. Gropp, E. Lusk and A. Skjellum, "Using MPI" (3rd ed., 2014);
the mpi4py and Dask documentation.
"""
from __future__ import annotations

from course_lib.dist.collectives import (OPERATIONS, CollectiveCosts, collective_costs,
                                         show_collectives)
from course_lib.dist.launch import (MPIError, MPIResult, MPIStatus, MPITimeout, MPIUnavailable,
                                    RankError, find_mpiexec, mpi_available, mpirun)
from course_lib.dist.transports import SIZES, TRANSPORTS, Link, PingPong, fit_link, pingpong, plot_pingpong
from course_lib.dist.scaling import ScalingRun, stencil_scaling
from course_lib.dist.stencil import (exchange_halos, heat_parallel, heat_serial, heat_step,
                                     initial_grid, split_rows)

__all__ = [
    # launch
    "mpirun", "MPIResult", "MPIError", "MPITimeout", "RankError", "MPIUnavailable", "MPIStatus",
    "mpi_available", "find_mpiexec",
    # message passing
    "pingpong", "PingPong", "Link", "fit_link", "plot_pingpong", "TRANSPORTS", "SIZES",
    "show_collectives", "collective_costs", "CollectiveCosts", "OPERATIONS",
    # the stencil
    "initial_grid", "heat_step", "heat_serial", "split_rows", "exchange_halos", "heat_parallel",
    "stencil_scaling", "ScalingRun",
]
