/*
 * ringpy.c: the Python fast path of the C ring, called WITH the GIL held.
 *
 * What it implements
 *   Four non-parking calls on a ring made by course_lib.channel.ring (passed as its address):
 *   try_send_i64, try_send_f64 -> status (CR_FULL also when it gave up, see below);
 *   try_recv_i64, try_recv_f64 -> the value, or None when the ring is empty, disconnected or
 *   busy (the caller then asks the cffi module for the status).
 *
 * Why this file exists, next to the cffi module
 *   cffi releases the GIL around every call, and re-takes it afterwards. With a Python producer
 *   and a Python consumer that hands the GIL from one thread to the other on every message, and
 *   each hand-over is a condition-variable wake-up: measured on 2 cores, per-message throughput
 *   stayed near 2x queue.Queue. These calls never park or sleep, and one METH_FASTCALL call is
 *   the cheapest way Python can reach C. Blocking waits still go through cffi, with the GIL
 *   released. This module compiles ring.c a second time: the two copies share no global state
 *   (there is none) and work on the same ring memory.
 *
 *   A ring operation can still spin while another thread sits between its claim of a position
 *   and its publish (ring.c, steps 2-3); if that thread is preempted there, the spin lasts a time
 *   slice, and here it would hold the GIL all along. So these calls spin at most FAST_WAITS times
 *   and then give up (try_send -> CR_FULL, try_recv -> None) before claiming anything: nothing is
 *   lost or duplicated, and the caller (course_lib/ring.py) retries through cffi, GIL released,
 *   which waits as long as it takes and gives the definitive answer.
 *
 * Source
 *   The Python/C API reference, "METH_FASTCALL" and "Thread State and the Global Interpreter Lock".
 *
 * Threads and memory ordering
 *   As in ring.c: the ring's own atomics make every call safe from any thread. Python threads
 *   calling these functions are additionally serialised by the GIL, which changes nothing for
 *   correctness (numba and C threads may use the same ring at the same time).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "ring.h"


/* Spins on a half-done operation of another thread before giving up (a few microseconds). */
#define FAST_WAITS 256u

static cr_ring *ring_at(PyObject *address)
{
    void *p = PyLong_AsVoidPtr(address);
    if (p == NULL && !PyErr_Occurred())
        PyErr_SetString(PyExc_ValueError, "ring address is NULL");
    return (cr_ring *)p;
}

static int check_args(Py_ssize_t nargs, Py_ssize_t want, const char *name)
{
    if (nargs == want)
        return 0;
    PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)", name, want, nargs);
    return -1;
}

static PyObject *try_send_i64(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    (void)mod;
    if (check_args(nargs, 2, "try_send_i64"))
        return NULL;
    cr_ring *r = ring_at(args[0]);
    if (r == NULL)
        return NULL;
    long long v = PyLong_AsLongLong(args[1]);
    if (v == -1 && PyErr_Occurred())
        return NULL;
    return PyLong_FromLong(cr_try_send_spin(r, (uint64_t)v, FAST_WAITS));
}

static PyObject *try_send_f64(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    (void)mod;
    if (check_args(nargs, 2, "try_send_f64"))
        return NULL;
    cr_ring *r = ring_at(args[0]);
    if (r == NULL)
        return NULL;
    double v = PyFloat_AsDouble(args[1]);
    if (v == -1.0 && PyErr_Occurred())
        return NULL;
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return PyLong_FromLong(cr_try_send_spin(r, bits, FAST_WAITS));
}

static PyObject *try_recv_i64(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    (void)mod;
    if (check_args(nargs, 1, "try_recv_i64"))
        return NULL;
    cr_ring *r = ring_at(args[0]);
    if (r == NULL)
        return NULL;
    uint64_t bits;
    if (cr_try_recv_spin(r, &bits, FAST_WAITS) != CR_OK)
        Py_RETURN_NONE;
    return PyLong_FromLongLong((long long)(int64_t)bits);
}

static PyObject *try_recv_f64(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    (void)mod;
    if (check_args(nargs, 1, "try_recv_f64"))
        return NULL;
    cr_ring *r = ring_at(args[0]);
    if (r == NULL)
        return NULL;
    uint64_t bits;
    double v;
    if (cr_try_recv_spin(r, &bits, FAST_WAITS) != CR_OK)
        Py_RETURN_NONE;
    memcpy(&v, &bits, sizeof v);
    return PyFloat_FromDouble(v);
}

static PyMethodDef methods[] = {
    {"try_send_i64", (PyCFunction)(void (*)(void))try_send_i64, METH_FASTCALL,
     "try_send_i64(address, value) -> status; never parks, keeps the GIL; FULL may mean 'busy, retry via cffi'."},
    {"try_send_f64", (PyCFunction)(void (*)(void))try_send_f64, METH_FASTCALL,
     "try_send_f64(address, value) -> status; never parks, keeps the GIL; FULL may mean 'busy, retry via cffi'."},
    {"try_recv_i64", (PyCFunction)(void (*)(void))try_recv_i64, METH_FASTCALL,
     "try_recv_i64(address) -> int, or None (empty, disconnected or busy: ask cffi)."},
    {"try_recv_f64", (PyCFunction)(void (*)(void))try_recv_f64, METH_FASTCALL,
     "try_recv_f64(address) -> float, or None (empty, disconnected or busy: ask cffi)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "course_lib._c._ringpy",
    "The C ring's non-blocking calls, called with the GIL held (see ringpy.c).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__ringpy(void) { return PyModule_Create(&module); }
