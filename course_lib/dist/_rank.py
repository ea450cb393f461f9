"""The program every MPI rank runs for :func:`course_lib.dist.launch.mpirun` (run by path, so
that a rank imports only what the shipped function needs).

Steps, for rank ``r`` of a job whose files live in the folder ``argv[1]``:

1. Initialise MPI (``from mpi4py import MPI``) and write ``rank<r>.pid``: the parent kills these
   processes by id if the job outlives its timeout.
2. Send this process's stdout and stderr (file descriptors 1 and 2, so C libraries too) to
   ``rank<r>.out`` and ``rank<r>.err``.
3. Load ``payload.pkl``: the parent's ``sys.path`` and working folder, and either a pickled
   function (cloudpickle: a function defined in a notebook travels by value) or a script path.
4. Run it: ``fn(comm, *args, **kwargs)``, or the script as ``__main__`` with ``sys.argv`` set.
5. Write the pickled result and the seconds it took to ``rank<r>.res``, then ``rank<r>.done``
   (a file that exists only when the rank finished). On an exception write ``rank<r>.exc``
   and abort the whole job, so that no other rank waits forever for this one.
"""
import os
import pickle
import sys
import time
import traceback


def _write(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)  # readers never see half a file


def main(job: str) -> int:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    base = os.path.join(job, f"rank{comm.rank}")
    _write(base + ".pid", str(os.getpid()).encode())
    for fd, ext in ((1, ".out"), (2, ".err")):
        out = os.open(base + ext, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out, fd)
        os.close(out)
    try:
        with open(os.path.join(job, "payload.pkl"), "rb") as f:
            payload = pickle.load(f)
        for p in reversed(payload["sys_path"]):
            if p not in sys.path:
                sys.path.insert(0, p)
        os.chdir(payload["cwd"])
        fn = pickle.loads(payload["function"]) if payload["function"] is not None else None
        args, kwargs = pickle.loads(payload["arguments"])
        start = time.perf_counter()
        if fn is not None:
            value = fn(comm, *args, **kwargs)
        else:
            import runpy

            sys.argv = [payload["script"], *map(str, args)]
            runpy.run_path(payload["script"], run_name="__main__")
            value = None
        seconds = time.perf_counter() - start
        import cloudpickle

        _write(base + ".res", cloudpickle.dumps((value, seconds)))
    except BaseException as exc:  # noqa: BLE001  (reported to the parent, then the job ends)
        tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None  # skip main()
        text = "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))
        try:
            blob = pickle.dumps(exc)
        except Exception:  # an exception that does not pickle travels as text only
            blob = None
        _write(base + ".exc", pickle.dumps((type(exc).__name__, text, blob)))
        sys.stdout.flush()
        sys.stderr.flush()
        if comm.size > 1:
            comm.Abort(1)
        return 1
    sys.stdout.flush()
    sys.stderr.flush()
    _write(base + ".done", b"")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
