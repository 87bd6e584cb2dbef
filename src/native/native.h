/* The optional compiled core of dmaengine: one extension module, dmaengine._cnative.
 *
 * Each part of the package that has a compiled hot path keeps it in its own source file here and adds its
 * functions and types to the module from an init function declared below. The pure-Python code stays the
 * specification and the fallback: dmaengine._native.core is None when this module is absent or when the
 * environment variable DMAENGINE_PURE_PYTHON is set to anything but "" or "0".
 */
#ifndef DMAENGINE_NATIVE_H
#define DMAENGINE_NATIVE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Each returns 0, or -1 with an exception set. */
int dmaengine_sim_init(PyObject *module);     /* sim.c: the shared-bus schedule (BusCore) */
int dmaengine_memcpy_init(PyObject *module);  /* memcpy.c: the memory engine's descriptor ring and worker */
int dmaengine_raid6_init(PyObject *module);   /* raid6.c: RAID-6 P+Q and xor without the GIL */
int dmaengine_period_init(PyObject *module);  /* period.c: a lone cyclic flow's periods (period_run) */
int dmaengine_wake_init(PyObject *module);    /* wake.c: the simulator kernel's event loop (kernel_run_until) */
int dmaengine_copy_init(PyObject *module);    /* copy.c: a copy lane's bytes (for sim.c's movers) */

/* copy.c: a schedule's copy lane moved without Python frames (see copy.c). dmaengine_copy_mover_check: 1 for a
 * well-formed copy mover, -1 with a TypeError otherwise; dmaengine_copy_move: 1 moved, 0 not its case (nothing
 * changed: the Python move runs), -1 on an error. */
int dmaengine_copy_mover_check(PyObject *mover);
int dmaengine_copy_move(PyObject *mover, int64_t n);

/* CPython's _thread.lock as _threadmodule.c lays it out in 3.11 and 3.12 (not a public API): its ``locked``
 * field is what lock.locked() returns. dmaengine_lock_type_checked (module.c) checks the layout on a real lock
 * (its size, and the field through an acquire and a release) and returns the lock type when it matched, NULL
 * otherwise (another version, a build without the GIL, a layout that differs): then the callers use the
 * lock's methods. */
typedef struct {
    PyObject_HEAD
    void *lock_lock;
    PyObject *in_weakreflist;
    char locked;
} LockMirror;
PyTypeObject *dmaengine_lock_type_checked(void);

#endif
