/* The simulator kernel's event loop (sim/_kernel.py Kernel.run_until), compiled: kernel_run_until.
 *
 * Kernel.run_until runs every event at or before an instant, back to back: once per event it looks at the heap's
 * first entry, skips it when cancelled, stops past the instant, hands the event to Kernel.step while a trace or
 * a waveform probe records, to the period runner while a lane holds a postponed period end, and else pops it,
 * sets the clock and the counters, and calls the event's function. This file does the same, step by step, with
 * the kernel's and the events' __slots__ read and written in place; the pure-Python method stays the
 * specification. It answers NotImplemented (nothing done) where its assumptions do not hold: a kernel whose class
 * lays out those names otherwise (a subclass's property, an instance dict), a heap that is no list, an instant
 * that is no int within 64 bits. An event that is no plain __slots__ Event is read through getattr.
 */
#include "native.h"

#include <string.h>

#include <structmember.h>

/* The kernel's attributes this loop reads and writes, in this order. */
enum { K_HEAP, K_TRACE, K_PROBE, K_POSTPONED, K_RUNNER, K_NOW, K_EVENTS, K_DISPATCHING, K_B2B, NKS };
static const char *const k_slot_names[NKS] = {
    "_heap", "trace", "probe", "postponed", "period_runner", "now_ns", "events_run", "dispatching", "back_to_back",
};
enum { E_CANCELLED, E_FN, NES };
static const char *const e_slot_names[NES] = {"cancelled", "fn"};

static PyObject *k_names[NKS], *e_names[NES], *s_step, *heappop, *one;

/* Where a class keeps some names: the __slots__ member offsets, found once per (class, version). */
typedef struct {
    PyTypeObject *tp;  /* borrowed: only compared */
    unsigned int version;
    Py_ssize_t off[NKS];
} Layout;
static Layout k_layout, e_layout;

/* The offsets of names[0..n) in o's class (each a writable object member, its class with the generic getattr and
 * setattr), or NULL where any is anything else. */
static const Py_ssize_t *layout(Layout *c, PyObject *o, PyObject *const *names, int n)
{
    PyTypeObject *tp = Py_TYPE(o);
    if (!PyType_HasFeature(tp, Py_TPFLAGS_VALID_VERSION_TAG))
        return NULL;
    if (tp == c->tp && tp->tp_version_tag == c->version)
        return c->off;
    if (tp->tp_getattro != PyObject_GenericGetAttr || tp->tp_setattro != PyObject_GenericSetAttr)
        return NULL;
    Py_ssize_t off[NKS];
    for (int i = 0; i < n; i++) {
        PyObject *d = _PyType_Lookup(tp, names[i]);
        if (d == NULL || !Py_IS_TYPE(d, &PyMemberDescr_Type))
            return NULL;
        PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
        if (m->type != T_OBJECT_EX || (m->flags & READONLY) || !PyObject_TypeCheck(o, PyDescr_TYPE(d)))
            return NULL;
        off[i] = m->offset;
    }
    memcpy(c->off, off, sizeof(Py_ssize_t) * (size_t)n);
    c->tp = tp;
    c->version = tp->tp_version_tag;
    return c->off;
}

#define SLOT(o, off) (*(PyObject **)((char *)(o) + (off)))

/* The kernel's attribute i: a new reference, or NULL with AttributeError (the slot is empty), as getattr. */
static PyObject *kget(PyObject *k, const Py_ssize_t *ko, int i)
{
    PyObject *v = SLOT(k, ko[i]);
    if (v == NULL)
        return PyObject_GetAttr(k, k_names[i]);
    return Py_NewRef(v);
}

/* k.<i> = v (v's reference is taken). */
static void kset(PyObject *k, const Py_ssize_t *ko, int i, PyObject *v)
{
    Py_XSETREF(SLOT(k, ko[i]), v);
}

/* 1 when the kernel's attribute i is not None, 0 when it is, -1 with an exception. */
static int kset_not_none(PyObject *k, const Py_ssize_t *ko, int i)
{
    PyObject *v = SLOT(k, ko[i]);
    if (v == NULL) {
        v = PyObject_GetAttr(k, k_names[i]);
        if (v == NULL)
            return -1;
        Py_DECREF(v);
    }
    return v != Py_None;
}

/* ev.<i>: a new reference, or NULL with an exception. */
static PyObject *eget(PyObject *ev, int i)
{
    const Py_ssize_t *eo = layout(&e_layout, ev, e_names, NES);
    if (eo != NULL && SLOT(ev, eo[i]) != NULL)
        return Py_NewRef(SLOT(ev, eo[i]));
    return PyObject_GetAttr(ev, e_names[i]);
}

/* The step, inlined (pop, now_ns, events_run, dispatching around ev.fn()): 0, or -1 with an exception. */
static int dispatch(PyObject *k, const Py_ssize_t *ko, PyObject *heap, PyObject *t, PyObject *ev)
{
    PyObject *x = PyObject_CallOneArg(heappop, heap);
    if (x == NULL)
        return -1;
    Py_DECREF(x);
    kset(k, ko, K_NOW, Py_NewRef(t));
    PyObject *n = kget(k, ko, K_EVENTS);
    if (n == NULL)
        return -1;
    PyObject *n1 = PyNumber_InPlaceAdd(n, one);
    Py_DECREF(n);
    if (n1 == NULL)
        return -1;
    kset(k, ko, K_EVENTS, n1);
    kset(k, ko, K_DISPATCHING, Py_NewRef(Py_True));
    PyObject *fn = eget(ev, E_FN);
    PyObject *y = fn == NULL ? NULL : PyObject_CallNoArgs(fn);
    Py_XDECREF(fn);
    /* (finally: dispatching = False, with any exception kept across the store) */
    PyObject *et, *evv, *tb;
    if (y == NULL)
        PyErr_Fetch(&et, &evv, &tb);
    kset(k, ko, K_DISPATCHING, Py_NewRef(Py_False));
    if (y == NULL) {
        PyErr_Restore(et, evv, tb);
        return -1;
    }
    Py_DECREF(y);
    return 0;
}

/* run_until(kernel, time_ns): Kernel.run_until(kernel, time_ns); None, or NotImplemented when not done here. */
static PyObject *kernel_run_until(PyObject *Py_UNUSED(mod), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "kernel_run_until() takes exactly 2 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *k = args[0], *limit_obj = args[1];
    const Py_ssize_t *ko = layout(&k_layout, k, k_names, NKS);
    if (ko == NULL || !PyLong_CheckExact(limit_obj) || SLOT(k, ko[K_HEAP]) == NULL
            || !PyList_CheckExact(SLOT(k, ko[K_HEAP])))
        Py_RETURN_NOTIMPLEMENTED;
    int overflow;
    long long limit = PyLong_AsLongLongAndOverflow(limit_obj, &overflow);
    if (overflow || (limit == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject *heap = Py_NewRef(SLOT(k, ko[K_HEAP]));
    kset(k, ko, K_B2B, Py_NewRef(Py_True));
    int err = 0;
    while (PyList_GET_SIZE(heap) > 0) {
        PyObject *entry = PyList_GET_ITEM(heap, 0);
        if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 4) {
            PyErr_Format(PyExc_TypeError, "Kernel: a heap entry must be a (time_ns, priority, seq, event) tuple, "
                         "not %R", entry);
            err = 1;
            break;
        }
        Py_INCREF(entry);
        PyObject *t = PyTuple_GET_ITEM(entry, 0), *ev = PyTuple_GET_ITEM(entry, 3);
        PyObject *c = eget(ev, E_CANCELLED);
        int cancelled = c == NULL ? -1 : PyObject_IsTrue(c);
        Py_XDECREF(c);
        int r = 0;
        if (cancelled < 0) {
            r = -1;
        } else if (cancelled) {  /* pop(heap); continue */
            PyObject *x = PyObject_CallOneArg(heappop, heap);
            r = x == NULL ? -1 : 0;
            Py_XDECREF(x);
        } else {
            int past;
            long long tv = PyLong_CheckExact(t) ? PyLong_AsLongLongAndOverflow(t, &overflow) : (overflow = 1, 0);
            if (!overflow && !(tv == -1 && PyErr_Occurred()))
                past = tv > limit;
            else {
                PyErr_Clear();
                past = PyObject_RichCompareBool(t, limit_obj, Py_GT);
            }
            int rec = past != 0 ? 0 : kset_not_none(k, ko, K_TRACE);
            if (rec == 0 && past == 0)
                rec = kset_not_none(k, ko, K_PROBE);
            if (past < 0 || rec < 0) {
                r = -1;
            } else if (past) {
                Py_DECREF(entry);
                break;
            } else if (rec) {  /* self.step(); continue */
                PyObject *x = PyObject_CallMethodNoArgs(k, s_step);
                r = x == NULL ? -1 : 0;
                Py_XDECREF(x);
            } else {
                int ran = 0;
                int post = kset_not_none(k, ko, K_POSTPONED);
                if (post > 0) {  /* a lane's postponed period end: the period runner may run it */
                    PyObject *runner = kget(k, ko, K_RUNNER);
                    if (runner == NULL)
                        r = -1;
                    else if (runner != Py_None) {
                        PyObject *args2[2] = {k, limit_obj};
                        PyObject *x = PyObject_Vectorcall(runner, args2, 2, NULL);
                        ran = x == NULL ? -1 : PyObject_IsTrue(x);
                        Py_XDECREF(x);
                        if (ran < 0)
                            r = -1;
                    }
                    Py_XDECREF(runner);
                } else if (post < 0)
                    r = -1;
                if (r == 0 && !ran)
                    r = dispatch(k, ko, heap, t, ev);
            }
        }
        Py_DECREF(entry);
        if (r < 0) {
            err = 1;
            break;
        }
    }
    Py_DECREF(heap);
    /* (finally: back_to_back = False, with any exception kept across the store) */
    PyObject *et = NULL, *evv = NULL, *tb = NULL;
    if (err)
        PyErr_Fetch(&et, &evv, &tb);
    kset(k, ko, K_B2B, Py_NewRef(Py_False));
    if (err) {
        PyErr_Restore(et, evv, tb);
        return NULL;
    }
    PyObject *now = kget(k, ko, K_NOW);
    if (now == NULL)
        return NULL;
    int later = PyObject_RichCompareBool(limit_obj, now, Py_GT);
    Py_DECREF(now);
    if (later < 0)
        return NULL;
    if (later)
        kset(k, ko, K_NOW, Py_NewRef(limit_obj));
    Py_RETURN_NONE;
}

static PyMethodDef wake_functions[] = {
    {"kernel_run_until", (PyCFunction)(void (*)(void))kernel_run_until, METH_FASTCALL,
     "kernel_run_until(kernel, time_ns): sim._kernel.Kernel.run_until, compiled; None, or NotImplemented (nothing "
     "done) where the kernel's class, its heap or the instant is not what it assumes."},
    {NULL, NULL, 0, NULL},
};

int dmaengine_wake_init(PyObject *module)
{
    for (int i = 0; i < NKS; i++)
        if ((k_names[i] = PyUnicode_InternFromString(k_slot_names[i])) == NULL)
            return -1;
    for (int i = 0; i < NES; i++)
        if ((e_names[i] = PyUnicode_InternFromString(e_slot_names[i])) == NULL)
            return -1;
    if ((s_step = PyUnicode_InternFromString("step")) == NULL || (one = PyLong_FromLong(1)) == NULL)
        return -1;
    PyObject *hq = PyImport_ImportModule("_heapq");
    if (hq == NULL)
        return -1;
    heappop = PyObject_GetAttrString(hq, "heappop");
    Py_DECREF(hq);
    if (heappop == NULL)
        return -1;
    return PyModule_AddFunctions(module, wake_functions);
}
