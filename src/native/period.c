/* The simulator's compiled period runner (sim/): a lone cyclic flow's periods, one after the other, in C.
 *
 * period_run(kernel, limit_ns) is what Kernel.run_until calls while a PeriodLane holds a postponed period end
 * (sim/_lane.py): it runs that event, and the next ones while they are the lane's, as the pure-Python path
 * would, one call for all of them. The pure-Python path is the specification; this file follows it step by step,
 * in this order:
 *
 *   Kernel.run_until (pop, now, events_run) -> PeriodLane._run -> Dmac._period_end (the period's bytes into the
 *   port's FIFO, the codec's steady ticks, the plan carried over, the interrupt: SimDmaDevice._irq ->
 *   VirtChannel.vchan_cyclic_callback -> DmaDevice.schedule_bottom_half -> BottomHalf.schedule ->
 *   SimTasklet.schedule, held) -> PeriodLane.schedule (the next period's end) -> SimTasklet._run (Soc.sync,
 *   the bottom-half mark) -> BottomHalf.run -> VirtChannel.bottom_half (the cyclic slot, the client's callback,
 *   the wait queue's wake).
 *
 * Before it changes anything for an event it checks that every object on that path is the exact class whose
 * code it follows (no subclass, no other controller or driver), that nothing records (trace, waveform probe,
 * trace recorder, burst probe), and that every number fits in int64 with room (all arithmetic is checked); else
 * it returns and Kernel.run_until runs the event in Python. Inside an event, a step that is not the plain case
 * (a FIFO that underruns, a capture at its bound, a watched instant, a crowded queue, a callback_result, more
 * channels queued on the bottom half, another thread's claim) calls the Python method that does that step,
 * exactly where the pure path calls it. The client's callback runs at its instant with every observable as in
 * Python.
 */
#include "native.h"

#include <stdint.h>
#include <string.h>

#include <structmember.h>

/* Forced inline: only the attribute cache's lookup. Forcing the larger helpers (fget, fset, peek, ...) inline too
 * cut instructions by a tenth but made precheck 40 KiB of code, and the runner no faster in CPU time. */
#if defined(__GNUC__)
#define INLINE static inline __attribute__((always_inline))
#else
#define INLINE static inline
#endif

#define NEVER_NS ((long long)1 << 62)
#define LIMIT ((long long)1 << 61)   /* every value taken in must be within +-LIMIT */

/* --- what period_setup hands over --------------------------------------------------------------------- */
enum {
    K_EVENT, K_LANE, K_HWCHAN, K_DMAC, K_PERIOD_END, K_IRQ, K_PLAN, K_FLOW, K_CLOCK, K_I2STX, K_CAPTURE, K_M2D,
    K_STEADY, K_PERIOD, K_NOERROR, K_CYCLIC_CB, K_BOTTOM_HALF, K_SCHED_BH, K_RUN_BH, K_BH, K_TASKLET, K_HELD,
    K_WAITQ, K_TXRESULT, K_TRACE, K_LOCAL, K_LOG, K_HEAPPUSH, K_HEAPPOP, K_DEQUE, NK
};
static const char *const k_names[NK] = {
    "Event", "PeriodLane", "HwChannel", "Dmac", "period_end", "irq", "ItemPlan", "Flow", "TickClock", "I2sTx",
    "ByteCapture", "M2D", "STEADY", "PERIOD", "NOERROR", "vchan_cyclic_callback", "bottom_half",
    "schedule_bottom_half", "run_bottom_half", "BottomHalf", "SimTasklet", "HELD", "WaitQueue", "TxResult",
    "trace", "local", "log", "heappush", "heappop", "deque",
};
static PyObject *K[NK];
static int k_ready = 0;

/* --- interned attribute names --------------------------------------------------------------------------- */
#define NAMES(X) \
    X(_heap) X(trace) X(probe) X(back_to_back) X(postponed) X(_ev) X(_owner) X(_fn) X(_end_ns) X(_due_ns) \
    X(tasklet) X(killed) X(hold) X(latency_ns) X(period_end) X(func) X(args) X(plan) X(prog) X(cyclic) \
    X(abort_pending) X(item_offset) X(flow) X(item_bytes) X(full_bursts) X(burst_bytes) X(checked) X(views) \
    X(port) X(burst_probe) X(direction) X(irq) X(materialized) X(bursts) X(item_idx) X(clock) X(epoch_ns) \
    X(num) X(den) X(offset) X(ticks_done) X(fifo) X(unit) X(owner) X(_played) X(limit) X(_kept) X(_chunks) \
    X(total) X(written) X(drained) X(items) X(length) X(paused) X(last_burst_ns) X(burst_ns) X(ref_tick) \
    X(ref_count) X(first_request_bytes) X(channels) X(running) X(job) X(lock) X(device) X(bh) X(_queue) \
    X(_queued) X(_lock) X(_scheduled) X(held_seq) X(_seq) X(now_ns) X(events_run) X(dispatching) X(kernel) \
    X(lane) X(ev) X(idx) X(next_land_ns) X(_last_grant_ns) X(_last_grant) X(_busy_until) X(item_off) X(done) \
    X(state) X(plans) X(_sync_ns) X(start_ns) X(item_label) X(watch_ns) X(postponed_end_ns) X(_label) X(_run) \
    X(merged) X(queue_held) X(_soc) X(controllers) X(_sched) X(sync) X(settle) X(_running) \
    X(_done) X(depth) X(desc_completed) X(callback_result) X(callback) X(callback_param) X(result) \
    X(residue) X(n_callback_errors) X(name) X(waitq) X(waiters) X(wake) X(run) X(acquire) X(release) \
    X(append) X(popleft) X(discard) X(_ticks) X(schedule) X(cancelled) X(time_ns) X(fn) X(label) X(priority) \
    X(seq) X(exception) X(failures) X(bottom_half) X(recorder) X(vchan_cyclic_callback) \
    X(schedule_bottom_half) X(chans)
#define DECL(n) static PyObject *s_##n;
NAMES(DECL)
#undef DECL

/* --- attribute access: a slot or the instance dict directly, else the generic path ---------------------- */

/* Set whenever this file calls into code that may be Python (a method, a property, a logger, a generic getattr)
 * other than the client's callback, which is bracketed by the memo's snapshot (see "the memo" below). An event
 * in which it was set leaves no memo: the next precheck is the full one. */
static int py_ran;
static void bh_flush(void);
struct Memo;
static struct Memo *dm = NULL;  /* cur_memo while no Python ran in this period (py_ran 0), else NULL: the direct
                                 * access's one test (see "direct access"); set with cur_memo and py_ran */
#define PY_RAN() (py_ran = 1, dm = NULL, bh_flush())
static PyObject *K_local_obj = NULL;  /* the bottom-half mark's threading.local: its generic get/set run no
                                         Python while its class is unchanged (its version tag is watched) */

/* What o's class says about ``name``, cached by (class, name) while the class is unchanged (its version tag):
 * A_SLOT (a __slots__ member at ``off``), A_DICT (nothing in the class: the instance dict), or A_OTHER. */
enum { A_OTHER, A_SLOT, A_DICT };
typedef struct {
    PyTypeObject *tp;
    PyObject *name;
    unsigned int version;
    int kind;
    int readonly;
    Py_ssize_t off;
} ACache;
#define ACACHE_SIZE 4096
static ACache acache[ACACHE_SIZE];

INLINE ACache *alookup(PyTypeObject *tp, PyObject *name)
{
    size_t h = ((size_t)tp->tp_version_tag * 2654435761u ^ (size_t)((PyASCIIObject *)name)->hash) & (ACACHE_SIZE - 1);
    ACache *c = &acache[h];
    if (c->tp == tp && c->name == name && PyType_HasFeature(tp, Py_TPFLAGS_VALID_VERSION_TAG)
        && c->version == tp->tp_version_tag)
        return c;
    ACache *c2 = &acache[h ^ 1];  /* two ways: two hot pairs that share a line do not evict each other */
    if (c2->tp == tp && c2->name == name && PyType_HasFeature(tp, Py_TPFLAGS_VALID_VERSION_TAG)
        && c2->version == tp->tp_version_tag)
        return c2;
    if (c->tp != NULL)
        *c2 = *c;  /* (the older pair moves to the other way; the one there is dropped) */
    c->tp = NULL;
    c->kind = A_OTHER;
    PyObject *descr = _PyType_Lookup(tp, name);
    if (!PyType_HasFeature(tp, Py_TPFLAGS_VALID_VERSION_TAG))
        return c;  /* (not cached: tp stays NULL) */
    if (descr == NULL)
        c->kind = A_DICT;
    else if (Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        PyMemberDef *m = ((PyMemberDescrObject *)descr)->d_member;
        if (m->type == T_OBJECT_EX) {
            c->kind = A_SLOT;
            c->off = m->offset;
            c->readonly = (m->flags & READONLY) != 0;
        }
    }
    c->tp = tp;
    c->name = name;  /* interned, immortal enough: the module keeps a reference */
    c->version = tp->tp_version_tag;
    return c;
}

/* o.name as a new reference, or NULL with an exception: what PyObject_GetAttr gives, without its generic
 * lookup when ``name`` is a __slots__ member of o's class or a plain entry of o's instance dict. */
static PyObject *fget(PyObject *o, PyObject *name)
{
    PyTypeObject *tp = Py_TYPE(o);
    if (tp->tp_getattro == PyObject_GenericGetAttr) {
        ACache *c = alookup(tp, name);
        if (c->kind == A_SLOT) {
            PyObject *v = *(PyObject **)((char *)o + c->off);
            if (v != NULL)
                return Py_NewRef(v);
        } else if (c->kind == A_DICT) {
            PyObject **dp = _PyObject_GetDictPtr(o);
            if (dp != NULL && *dp != NULL) {
                PyObject *v = PyDict_GetItemWithError(*dp, name);
                if (v != NULL)
                    return Py_NewRef(v);
                if (PyErr_Occurred())
                    return NULL;
            }
        }
    }
    if (o != K_local_obj)
        PY_RAN();
    return PyObject_GetAttr(o, name);
}

/* o.name = v (PyObject_SetAttr, a slot or the instance dict directly when it can). */
static int fset(PyObject *o, PyObject *name, PyObject *v)
{
    PyTypeObject *tp = Py_TYPE(o);
    if (tp->tp_setattro == PyObject_GenericSetAttr && v != NULL) {
        ACache *c = alookup(tp, name);
        if (c->kind == A_SLOT && !c->readonly) {
            PyObject **slot = (PyObject **)((char *)o + c->off);
            PyObject *old = *slot;
            *slot = Py_NewRef(v);
            Py_XDECREF(old);
            return 0;
        }
        if (c->kind == A_DICT) {
            PyObject **dp = _PyObject_GetDictPtr(o);
            if (dp != NULL && *dp != NULL && PyDict_CheckExact(*dp))
                return PyDict_SetItem(*dp, name, v);
        }
    }
    if (o != K_local_obj)
        PY_RAN();
    return PyObject_SetAttr(o, name, v);
}

/* --- small helpers -------------------------------------------------------------------------------------- */

/* An attribute as a new reference, or NULL with the exception cleared (a pre-check: Python will raise it). */
static PyObject *peek(PyObject *o, PyObject *name)
{
    PyObject *v = fget(o, name);
    if (v == NULL)
        PyErr_Clear();
    return v;
}

/* An exact int within +-LIMIT into *out: 1; else 0, no exception. */
static int as_ll(PyObject *v, long long *out)
{
    if (v == NULL || !PyLong_CheckExact(v))
        return 0;
#if PY_VERSION_HEX < 0x030C0000 && !defined(Py_GIL_DISABLED)
    {  /* up to two 30-bit digits read directly (CPython 3.11's layout): well within +-LIMIT */
        Py_ssize_t sz = Py_SIZE(v);
        const digit *dg = ((PyLongObject *)v)->ob_digit;
        if (sz >= -2 && sz <= 2) {
            long long x = sz == 0 ? 0 : (long long)dg[0];
            if (sz == 2 || sz == -2)
                x |= (long long)dg[1] << PyLong_SHIFT;
            *out = sz < 0 ? -x : x;
            return 1;
        }
    }
#endif
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow || (x == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    if (x > LIMIT || x < -LIMIT)
        return 0;
    *out = x;
    return 1;
}

/* An attribute that must be an exact int within +-LIMIT: 1, or 0 (no exception). */
static int peek_ll(PyObject *o, PyObject *name, long long *out)
{
    PyObject *v = peek(o, name);
    int ok = as_ll(v, out);
    Py_XDECREF(v);
    return ok;
}

/* The int object that o.name holds, borrowed, when it is a __slots__ member or an instance dict entry (NULL:
 * not one, or not set; no exception). */
static PyObject *held(PyObject *o, PyObject *name)
{
    PyTypeObject *tp = Py_TYPE(o);
    if (tp->tp_getattro != PyObject_GenericGetAttr || tp->tp_setattro != PyObject_GenericSetAttr)
        return NULL;
    ACache *c = alookup(tp, name);
    if (c->kind == A_SLOT && !c->readonly)
        return *(PyObject **)((char *)o + c->off);
    if (c->kind == A_DICT) {
        PyObject **dp = _PyObject_GetDictPtr(o);
        if (dp != NULL && *dp != NULL && PyDict_CheckExact(*dp)) {
            PyObject *v = PyDict_GetItemWithError(*dp, name);
            if (v == NULL)
                PyErr_Clear();
            return v;
        }
    }
    return NULL;
}

/* o.name = x. A counter or an instant is a new int object each time in Python; here, when the int that o.name
 * holds is referenced by nothing else (its count is 1: only that slot or dict entry holds it, so no code can
 * hold it, compare its identity or see it change) and x takes as many digits (1 or 2: above the small ints,
 * below 2**60), the new value is written into that object's digits: no allocation, no free, no dict write.
 * CPython 3.11's int layout (ob_size digits of PyLong_SHIFT bits, positive); other versions and a build
 * without the GIL always make a new int. */
INLINE int int_in_place(PyObject *old, long long x)
{
#if PY_VERSION_HEX < 0x030C0000 && !defined(Py_GIL_DISABLED)
    if (old != NULL && PyLong_CheckExact(old) && Py_REFCNT(old) == 1) {
        Py_ssize_t nd = x < ((long long)1 << PyLong_SHIFT) ? 1 : 2;
        if (Py_SIZE(old) == nd) {
            PyLongObject *lo = (PyLongObject *)old;
            lo->ob_digit[0] = (digit)(x & PyLong_MASK);
            if (nd == 2)
                lo->ob_digit[1] = (digit)(x >> PyLong_SHIFT);
            return 1;
        }
    }
#else
    (void)old;
    (void)x;
#endif
    return 0;
}

/* whether x can be written into an int's digits by int_in_place (above the small ints, below 2**60) */
#define IN_PLACE_RANGE(x) ((x) > 256 && (x) < ((long long)1 << (2 * PyLong_SHIFT)))

static int set_ll(PyObject *o, PyObject *name, long long x)
{
    if (IN_PLACE_RANGE(x) && int_in_place(held(o, name), x))
        return 0;
    PyObject *v = PyLong_FromLongLong(x);
    if (v == NULL)
        return -1;
    int r = fset(o, name, v);
    Py_DECREF(v);
    return r;
}

/* v + d as Python computes it (a new reference): the generic add, which may run Python when v is not an exact
 * int. */
static PyObject *py_add(PyObject *v, long long d)
{
    if (!PyLong_CheckExact(v))
        PY_RAN();  /* (its __add__ may be Python) */
    PyObject *dd = PyLong_FromLongLong(d);
    PyObject *s = dd ? PyNumber_Add(v, dd) : NULL;
    Py_XDECREF(dd);
    return s;
}

/* o.name += d (an exact int in Python: any size, as Python's own +=). */
static int add_attr(PyObject *o, PyObject *name, long long d)
{
    PyObject *v = fget(o, name);
    if (v == NULL)
        return -1;
    long long x;
    if (as_ll(v, &x) && d > -LIMIT && d < LIMIT) {  /* both well inside int64: no generic add */
        Py_DECREF(v);
        return set_ll(o, name, x + d);
    }
    PyObject *s = py_add(v, d);
    Py_DECREF(v);
    if (s == NULL)
        return -1;
    int r = fset(o, name, s);
    Py_DECREF(s);
    return r;
}

/* Python's a // b for b > 0. */
static long long floordiv(long long a, long long b)
{
    long long q = a / b;
    if ((a % b != 0) && (a < 0))
        q -= 1;
    return q;
}

/* Checked arithmetic: every step stays within +-LIMIT or *bad is set. */
static long long ck(long long x, int *bad)
{
    if (x > LIMIT || x < -LIMIT)
        *bad = 1;
    return x;
}
static long long mul(long long a, long long b, int *bad)
{
    long long r;
    if (__builtin_mul_overflow(a, b, &r)) {
        *bad = 1;
        return 0;
    }
    return ck(r, bad);
}

static int is_attr(PyObject *o, PyObject *name, PyObject *want)
{
    PyObject *v = peek(o, name);
    int r = v == want;
    Py_XDECREF(v);
    return r;
}

/* A bound method of exactly ``func``: its self (borrowed from the method ``m``), else NULL. */
static PyObject *bound_self(PyObject *m, PyObject *func)
{
    if (m != NULL && PyMethod_Check(m) && PyMethod_GET_FUNCTION(m) == func)
        return PyMethod_GET_SELF(m);
    return NULL;
}

/* The class of ``o`` finds ``func`` under ``name`` (a method not overridden by a subclass). */
static int type_has(PyObject *o, PyObject *name, PyObject *func)
{
    return _PyType_Lookup(Py_TYPE(o), name) == func;
}

static int call_noargs_(PyObject *o, PyObject *name)
{
    PyObject *r = PyObject_CallMethodNoArgs(o, name);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* A plain lock's ``locked`` field (LockMirror, native.h) is read only where dmaengine_lock_type_checked found
 * the layout it expects (set at period_setup); otherwise every lock is acquired and released by its methods. */
static PyTypeObject *lock_type = NULL;

/* ``with lock:``, its enter. A free _thread.lock is not taken: every thread that takes it needs the GIL to touch
 * what it guards, and the sections below keep the GIL from enter to exit (no Python code runs in them, no old
 * value is freed in them, nothing releases the GIL), so they run as if they held it. A lock that is held, or is
 * not a plain _thread.lock, is acquired by its method. *took: whether lock_exit must release it. */
#define call_noargs(o, n) (PY_RAN(), call_noargs_((o), (n)))
static int lock_enter(PyObject *lock, int *took)
{
    if (lock_type != NULL && Py_IS_TYPE(lock, lock_type) && ((LockMirror *)lock)->locked == 0) {
        *took = 0;
        return 0;
    }
    *took = 1;
    return call_noargs(lock, s_acquire);
}

static int lock_exit(PyObject *lock, int took)
{
    return took ? call_noargs(lock, s_release) : 0;
}

/* o.name is a __slots__ member or an instance dict entry of o's class: reading and writing it runs no Python. */
static int plain_attr(PyObject *o, PyObject *name)
{
    PyTypeObject *tp = Py_TYPE(o);
    return tp->tp_getattro == PyObject_GenericGetAttr && tp->tp_setattro == PyObject_GenericSetAttr
           && alookup(tp, name)->kind != A_OTHER;
}

static PyTypeObject *count_type = NULL;  /* itertools.count: next() on it runs no Python */

/* The exception set now, normalized, its traceback attached (a new reference; NULL: none), cleared. */
static PyObject *take_exc(void)
{
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    if (t == NULL)
        return NULL;
    PyErr_NormalizeException(&t, &v, &tb);
    if (v == NULL) {
        v = Py_NewRef(Py_None);
    }
    if (tb != NULL && v != Py_None)
        PyException_SetTraceback(v, tb);
    Py_XDECREF(tb);
    Py_DECREF(t);
    return v;
}

/* Set ``v`` (from take_exc; the reference is stolen) as the exception again. */
static void put_exc(PyObject *v)
{
    if (v == Py_None) {
        Py_DECREF(v);
        PyErr_SetString(PyExc_SystemError, "an exception was lost");
        return;
    }
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(v)), v, PyException_GetTraceback(v));
}

/* log.exception(fmt, a, b) as inside ``except``: the exception set now is the one handled; it is cleared. */
static void log_exception(const char *fmt, PyObject *a, PyObject *b)
{
    PY_RAN();
    PyObject *exc = take_exc();
    PyObject *prev = PyErr_GetHandledException();
    PyErr_SetHandledException(exc);
    PyObject *r = b == NULL ? PyObject_CallMethod(K[K_LOG], "exception", "sO", fmt, a)
                            : PyObject_CallMethod(K[K_LOG], "exception", "sOO", fmt, a, b);
    if (r == NULL)
        PyErr_WriteUnraisable(K[K_LOG]);
    Py_XDECREF(r);
    PyErr_SetHandledException(prev);
    Py_XDECREF(prev);
    Py_XDECREF(exc);
}

static int recording(void)
{
    if (PyModule_CheckExact(K[K_TRACE])) {  /* (a module's attribute is its dict's entry: no Python runs) */
        PyObject *r = PyDict_GetItemWithError(PyModule_GetDict(K[K_TRACE]), s_recorder);
        if (r != NULL)
            return r != Py_None;
        PyErr_Clear();
        return 1;
    }
    PyObject *r = fget(K[K_TRACE], s_recorder);
    if (r == NULL) {
        PyErr_Clear();
        return 1;
    }
    int on = r != Py_None;
    Py_DECREF(r);
    return on;
}

/* --- one event ------------------------------------------------------------------------------------------ */

typedef struct {
    /* borrowed from the references held in ``refs`` */
    PyObject *kern, *heap, *lane, *ev, *ch, *fn, *tl, *dmac, *plan, *prog, *views, *view, *port, *clock, *fifo,
        *cap, *driver, *chan, *vd, *device, *bh, *items, *item, *soc, *flow, *owner, *chans, *q, *qd, *irq,
        *wq;  /* (wq: the memo's chan.waitq, borrowed from it; NULL in a full precheck's period) */
    PyObject *refs[40];
    int nrefs;
    long long t, end, due, latency, m, j, bb, size, idx, idx2, b0, n, c, u, x1, nl, end2, due2, s, ch_idx,
        burst_ns;
    int wrap, irq_on;
    Py_buffer buf;
    int have_buf;
    const char *src;  /* the ring item's first byte (buf.buf, or the memo's view cache) when there is something left */
    PyObject *spare;  /* the queue entry run_until popped, when nothing else holds it: lane_schedule refills it */
} Ev;

static PyObject *keep(Ev *e, PyObject *o)
{
    if (o != NULL)
        e->refs[e->nrefs++] = o;
    return o;
}

static void ev_free(Ev *e)
{
    Py_CLEAR(e->spare);
    for (int i = 0; i < e->nrefs; i++)
        Py_DECREF(e->refs[i]);
    e->nrefs = 0;
    if (e->have_buf) {
        PyBuffer_Release(&e->buf);
        e->have_buf = 0;
    }
}

/* The ticks the codec plays by the period's end: port.clock.count(end) - ticks_done, into e->c (checked). */
static int ticks_due(Ev *e, long long epoch, long long num, long long den, long long off, long long done)
{
    int bad = 0;
    long long now = e->end;
    long long c = ck(floordiv(ck(mul(ck(now - epoch + 1, &bad), den, &bad) + num - 1, &bad), num) - off, &bad);
    e->c = (c > 0 ? c : 0) - done;
    if (bad)
        return 0;
    (void)mul(e->c > 0 ? e->c : 0, e->u, &bad);
    return !bad;
}

/* The next period (Flow.time_of of its first and last request): e->x1, nl, end2, due2, s (checked). */
static int next_period(Ev *e, long long epoch, long long num, long long den, long long off, long long ref_tick,
                       long long ref, long long unit, long long frb)
{
    int bad = 0;
    long long now = e->end;
    e->x1 = ck(frb + mul(e->j, e->bb, &bad), &bad);
    long long tick0 = ck(ref_tick - 1 + off, &bad);
    e->nl = ck(epoch + floordiv(mul(ck(tick0 - floordiv(ck(ref - e->x1, &bad), unit), &bad), num, &bad), den)
               + e->burst_ns, &bad);
    long long last_req = ck(ref - e->x1 - mul(e->j - 1, e->bb, &bad), &bad);
    e->end2 = ck(epoch + floordiv(mul(ck(tick0 - floordiv(last_req, unit), &bad), num, &bad), den) + e->burst_ns,
                 &bad);
    e->due2 = ck(e->end2 + e->latency, &bad);
    e->s = ck(now - e->burst_ns, &bad);
    return !bad && e->nl >= now && e->end2 >= now;
}

#define GET(dst, o, name) do { if ((dst = keep(e, peek((o), s_##name))) == NULL) return 0; } while (0)
#define NEED(cond) do { if (!(cond)) return 0; } while (0)

/* An exact int read from its digits (CPython 3.11's layout), else as_ll. */
INLINE int rd(PyObject *v, long long *out)
{
    if (v == NULL || !PyLong_CheckExact(v))
        return 0;
#if PY_VERSION_HEX < 0x030C0000
    Py_ssize_t sz = Py_SIZE(v);
    const digit *d = ((PyLongObject *)v)->ob_digit;
    if (sz == 0 || sz == 1) {
        *out = sz ? (long long)d[0] : 0;
        return 1;
    }
    if (sz == 2) {
        *out = (long long)d[0] | ((long long)d[1] << PyLong_SHIFT);
        return 1;
    }
#endif
    return as_ll(v, out);
}

static int ev_cancelled_direct(PyObject *ev, int *c);

/* --- the queue's heap, its plain entries compared here ------------------------------------------------------
 * heapq's heappush and heappop (the C ones: heap_plain) compare entries with ``<``: for the kernel's entries,
 * exact 4-tuples (time_ns, priority, seq, event) whose first three are ints, that is the first of the three that
 * differ compared as ints (tuple comparison). Here the same algorithm (heapq's siftdown and siftup, the same pairs
 * compared in the same order) runs on a copy of the list's item pointers with that comparison, and the list takes
 * the result only when every comparison was one of those: else (an entry of another shape, a tie on all three,
 * a heap of more than HEAP_MAX entries) heapq itself does it, comparisons and errors as in Python. */
#define HEAP_MAX 64
static int heap_plain = 0;  /* K_HEAPPUSH and K_HEAPPOP are _heapq's own (period_setup) */

/* a < b for two plain entries: 1 or 0; -1 when this file cannot tell (heapq must compare) */
INLINE int ent_lt(PyObject *a, PyObject *b)
{
    if (!PyTuple_CheckExact(a) || !PyTuple_CheckExact(b) || PyTuple_GET_SIZE(a) != 4 || PyTuple_GET_SIZE(b) != 4)
        return -1;
    for (int i = 0; i < 3; i++) {
        long long x, y;
        if (!rd(PyTuple_GET_ITEM(a, i), &x) || !rd(PyTuple_GET_ITEM(b, i), &y))
            return -1;
        if (x != y)
            return x < y;
    }
    return -1;
}

/* heapq's siftdown(heap, startpos, pos) on ``arr``: 0, or -1 when a comparison was not plain */
static int sift_down(PyObject **arr, Py_ssize_t startpos, Py_ssize_t pos)
{
    PyObject *newitem = arr[pos];
    while (pos > startpos) {
        Py_ssize_t parentpos = (pos - 1) >> 1;
        PyObject *parent = arr[parentpos];
        int cmp = ent_lt(newitem, parent);
        if (cmp < 0)
            return -1;
        if (cmp == 0)
            break;
        arr[parentpos] = newitem;
        arr[pos] = parent;
        pos = parentpos;
    }
    return 0;
}

/* heapq's siftup(heap, pos) on ``arr`` of ``endpos`` entries: 0, or -1 when a comparison was not plain */
static int sift_up(PyObject **arr, Py_ssize_t endpos, Py_ssize_t pos)
{
    Py_ssize_t startpos = pos, limit = endpos >> 1;
    while (pos < limit) {
        Py_ssize_t childpos = 2 * pos + 1;
        if (childpos + 1 < endpos) {
            int cmp = ent_lt(arr[childpos], arr[childpos + 1]);
            if (cmp < 0)
                return -1;
            childpos += ((unsigned)cmp ^ 1);
        }
        PyObject *tmp = arr[childpos];
        arr[childpos] = arr[pos];
        arr[pos] = tmp;
        pos = childpos;
    }
    return sift_down(arr, startpos, pos);
}

/* heapq.heappop(heap) (a new reference, or NULL with an exception set) */
static PyObject *heap_pop(PyObject *heap)
{
    Py_ssize_t n = PyList_GET_SIZE(heap);
    if (heap_plain && PyList_CheckExact(heap) && n > 0 && n <= HEAP_MAX) {
        PyObject *arr[HEAP_MAX];
        PyObject **items = ((PyListObject *)heap)->ob_item;
        memcpy(arr, items, sizeof(PyObject *) * (size_t)n);
        PyObject *ret = arr[0];
        Py_ssize_t m = n - 1;
        if (m > 0)
            arr[0] = arr[m];
        if (m == 0 || sift_up(arr, m, 0) == 0) {
            /* (list.pop(), then the new order: each entry keeps the one reference the list holds; the popped
             * entry's becomes the caller's) */
            memcpy(items, arr, sizeof(PyObject *) * (size_t)m);
            items[m] = NULL;
            Py_SET_SIZE(heap, m);
            return ret;
        }
    }
    return PyObject_CallOneArg(K[K_HEAPPOP], heap);
}

/* heapq.heappush(heap, item): 0, or -1 with an exception set */
static int heap_push(PyObject *heap, PyObject *item)
{
    Py_ssize_t n = PyList_GET_SIZE(heap);
    if (heap_plain && PyList_CheckExact(heap) && n < HEAP_MAX) {
        PyObject *arr[HEAP_MAX];
        memcpy(arr, ((PyListObject *)heap)->ob_item, sizeof(PyObject *) * (size_t)n);
        arr[n] = item;
        if (sift_down(arr, 0, n) == 0) {
            if (PyList_Append(heap, item) < 0)
                return -1;
            memcpy(((PyListObject *)heap)->ob_item, arr, sizeof(PyObject *) * (size_t)(n + 1));
            return 0;
        }
    }
    PyObject *pargs[2] = {heap, item};
    PyObject *x = PyObject_Vectorcall(K[K_HEAPPUSH], pargs, 2, NULL);
    if (x == NULL)
        return -1;
    Py_DECREF(x);
    return 0;
}

/* The queue's first entry that is not cancelled, as run_until finds it: cancelled entries popped off the top;
 * fills e->t and e->ev. 1 found (a plain entry), 0 none or not plain, -1 an error. */
static int heap_top(Ev *e)
{
    for (;;) {
        if (PyList_GET_SIZE(e->heap) == 0)
            return 0;
        PyObject *top = PyList_GET_ITEM(e->heap, 0);
        NEED(PyTuple_CheckExact(top) && PyTuple_GET_SIZE(top) == 4);
        PyObject *ev = PyTuple_GET_ITEM(top, 3);
        NEED(Py_IS_TYPE(ev, (PyTypeObject *)K[K_EVENT]));
        int c;
        if (!ev_cancelled_direct(ev, &c)) {
            PyObject *cancelled = peek(ev, s_cancelled);
            c = cancelled == Py_True;
            NEED(cancelled != NULL);
            Py_DECREF(cancelled);
        }
        if (!c) {
            NEED(rd(PyTuple_GET_ITEM(top, 0), &e->t));
            e->ev = keep(e, Py_NewRef(ev));
            return 1;
        }
        PyObject *r = heap_pop(e->heap);
        if (r == NULL)
            return -1;
        Py_DECREF(r);
    }
}

/* --- the ring's views without a buffer request each period ----------------------------------------------------
 * A ring item's view is a numpy array. Asking it for its buffer costs numpy a format string and a compare of its
 * cached buffer info (~600 instructions a period). What the buffer is follows from the array's leading fields
 * (numpy's PyArrayObject_fields, its ABI in numpy 1 and 2): the data pointer, the dimensions, the strides and the
 * dtype (an immutable object). So once a buffer request found a view to be one contiguous byte row, the memo keeps
 * those fields (and a reference to the view and its dtype); while they are the same, the buffer is the same, and
 * its pointer is used as is. Only for an exact numpy.ndarray whose fields, read so, agreed with that buffer. */
typedef struct {
    PyObject_HEAD
    char *data;
    int nd;
    Py_ssize_t *dimensions;
    Py_ssize_t *strides;
    PyObject *base;
    PyObject *descr;
} NdMirror;
#define VCACHE 8
typedef struct {
    PyObject *obj, *descr;  /* held */
    char *data;
    Py_ssize_t len;
} VEntry;
static PyTypeObject *nd_type = NULL;  /* numpy.ndarray, once a view's fields agreed with its buffer; held */
static int nd_bad = 0;                /* a view's fields did not agree: no cache */

/* The cached byte row of ``view``, or NULL (then the buffer is asked for). */
INLINE const char *vc_find(VEntry *vc, PyObject *view, Py_ssize_t need)
{
    if (vc == NULL || !Py_IS_TYPE(view, nd_type))
        return NULL;
    const NdMirror *a = (const NdMirror *)view;
    for (int i = 0; i < VCACHE; i++)
        if (vc[i].obj == view) {
            if (a->data == vc[i].data && a->nd == 1 && a->dimensions[0] == vc[i].len && a->strides[0] == 1
                && a->descr == vc[i].descr && vc[i].len >= need)
                return vc[i].data;
            return NULL;
        }
    return NULL;
}

/* After a buffer request found ``view`` a contiguous byte row ``b``: keep it in a free entry (none is let go before
 * period_run ends: no reference this file drops here can run a finalizer mid-period). */
static void vc_keep(VEntry *vc, PyObject *view, const Py_buffer *b)
{
    if (vc == NULL || nd_bad)
        return;
    PyTypeObject *tp = Py_TYPE(view);
    if (nd_type == NULL) {
        if (strcmp(tp->tp_name, "numpy.ndarray") != 0 || tp->tp_basicsize < (Py_ssize_t)sizeof(NdMirror))
            return;
    } else if (tp != nd_type)
        return;
    const NdMirror *a = (const NdMirror *)view;
    if (a->data != b->buf || a->nd != 1 || a->dimensions == NULL || a->strides == NULL
        || a->dimensions[0] != b->len || a->strides[0] != 1 || a->descr == NULL) {
        if (nd_type == NULL)
            nd_bad = 1;  /* (not the layout this file knows: never again) */
        return;
    }
    if (nd_type == NULL)
        nd_type = (PyTypeObject *)Py_NewRef((PyObject *)tp);
    int k = -1;
    for (int i = 0; i < VCACHE; i++) {
        if (vc[i].obj == view)
            return;  /* (known, and its fields changed since: the buffer is asked for each time) */
        if (vc[i].obj == NULL && k < 0)
            k = i;
    }
    if (k < 0)
        return;  /* (full) */
    vc[k].obj = Py_NewRef(view);
    vc[k].descr = Py_NewRef(a->descr);
    vc[k].data = a->data;
    vc[k].len = b->len;
}

static void vc_clear(VEntry *vc)
{
    for (int i = 0; i < VCACHE; i++) {
        Py_CLEAR(vc[i].obj);
        Py_CLEAR(vc[i].descr);
    }
}

/* The rest of the period (``e->m`` of ``e->j`` bursts moved, of ``e->bb`` bytes, in an item of ``e->size``): its
 * first byte ``e->b0``, its length ``e->n`` and the ring's view ``e->idx``, a contiguous byte row at ``e->src``
 * (held as a buffer, or known to the memo's cache ``vc``) when there is something left to move. 1 fit, 0 not the
 * plain case. */
static int take_view(Ev *e, VEntry *vc)
{
    int bad = 0;
    e->b0 = mul(e->m, e->bb, &bad);
    NEED(!bad && e->b0 <= e->size);
    e->n = e->size - e->b0;
    e->view = PyList_GET_ITEM(e->views, e->idx);
    if (e->n) {
        if ((e->src = vc_find(vc, e->view, e->size)) != NULL)
            return 1;
        if (PyObject_GetBuffer(e->view, &e->buf, PyBUF_ND | PyBUF_FORMAT) < 0) {
            PyErr_Clear();
            return 0;
        }
        e->have_buf = 1;
        NEED(e->buf.itemsize == 1 && e->buf.ndim == 1 && e->buf.len >= e->size && PyBuffer_IsContiguous(&e->buf, 'C'));
        e->src = e->buf.buf;
        vc_keep(vc, e->view, &e->buf);
    }
    return 1;
}

/* Is the top of the queue the lane's event, in the plain case this file covers? Fills ``e``; 1 yes, 0 no
 * (nothing changed but cancelled entries popped off the top, as run_until does). -1: an error. */
static int precheck(Ev *e, PyObject *kern, long long limit)
{
    e->kern = kern;
    GET(e->heap, kern, _heap);
    NEED(PyList_CheckExact(e->heap));
    {
        int r = heap_top(e);
        if (r <= 0)
            return r;
    }
    NEED(e->t <= limit);
    NEED(is_attr(kern, s_trace, Py_None) && is_attr(kern, s_probe, Py_None) && is_attr(kern, s_back_to_back, Py_True));
    NEED(!recording());
    GET(e->lane, kern, postponed);
    NEED(Py_IS_TYPE(e->lane, (PyTypeObject *)K[K_LANE]));
    NEED(is_attr(e->lane, s__ev, e->ev));
    GET(e->ch, e->lane, _owner);
    NEED(Py_IS_TYPE(e->ch, (PyTypeObject *)K[K_HWCHAN]));
    GET(e->fn, e->lane, _fn);
    NEED(is_attr(e->ch, s_period_end, e->fn));
    PyObject *func, *args;
    GET(func, e->fn, func);
    GET(args, e->fn, args);
    e->dmac = bound_self(func, K[K_PERIOD_END]);
    NEED(e->dmac != NULL && Py_IS_TYPE(e->dmac, (PyTypeObject *)K[K_DMAC]));
    NEED(PyTuple_CheckExact(args) && PyTuple_GET_SIZE(args) == 1 && PyTuple_GET_ITEM(args, 0) == e->ch);
    NEED(is_attr(e->dmac, s_lane, e->lane) && is_attr(e->dmac, s_kernel, kern) && is_attr(e->dmac, s_burst_probe, Py_None));
    NEED(is_attr(e->dmac, s__sched, Py_None));
    NEED(peek_ll(e->lane, s__end_ns, &e->end) && peek_ll(e->lane, s__due_ns, &e->due) && e->due == e->t);
    GET(e->tl, e->lane, tasklet);
    NEED(Py_IS_TYPE(e->tl, (PyTypeObject *)K[K_TASKLET]));
    NEED(is_attr(e->tl, s_killed, Py_False) && is_attr(e->tl, s_hold, Py_False) && is_attr(e->tl, s__ev, Py_None));
    NEED(peek_ll(e->tl, s_latency_ns, &e->latency));
    /* _period_end's own test, then _continue's */
    GET(e->plan, e->ch, plan);
    NEED(Py_IS_TYPE(e->plan, (PyTypeObject *)K[K_PLAN]));
    GET(e->prog, e->ch, prog);
    NEED(is_attr(e->prog, s_cyclic, Py_True) && is_attr(e->ch, s_abort_pending, Py_False)
         && is_attr(e->ch, s_paused, Py_False));
    long long item_offset, full, last_ns, flow_limit_none;
    NEED(peek_ll(e->plan, s_item_offset, &item_offset) && item_offset == 0);
    PyObject *flow;
    GET(flow, e->plan, flow);
    e->flow = flow;
    NEED(Py_IS_TYPE(flow, (PyTypeObject *)K[K_FLOW]));
    NEED(peek_ll(e->plan, s_item_bytes, &e->size) && peek_ll(e->plan, s_full_bursts, &full)
         && peek_ll(e->plan, s_burst_bytes, &e->bb) && e->bb > 0 && e->size >= 0);
    int bad = 0;
    NEED(e->size == mul(full, e->bb, &bad) && !bad);
    NEED(is_attr(e->ch, s_checked, e->prog));
    GET(e->views, e->ch, views);
    NEED(PyList_CheckExact(e->views));
    GET(e->port, e->prog, port);
    NEED(Py_IS_TYPE(e->port, (PyTypeObject *)K[K_I2STX]));
    NEED(is_attr(e->prog, s_direction, K[K_M2D]));
    GET(e->irq, e->dmac, irq);
    e->driver = bound_self(e->irq, K[K_IRQ]);
    NEED(e->driver != NULL);
    NEED(peek_ll(e->plan, s_materialized, &e->m) && peek_ll(e->plan, s_bursts, &e->j) && e->m >= 0 && e->m <= e->j);
    NEED(peek_ll(e->ch, s_item_idx, &e->idx) && e->idx >= 0 && e->idx < PyList_GET_SIZE(e->views));
    NEED(take_view(e, NULL));
    /* the port and its clock */
    GET(e->clock, e->port, clock);
    NEED(Py_IS_TYPE(e->clock, (PyTypeObject *)K[K_CLOCK]));
    NEED(is_attr(flow, s_clock, e->clock));
    long long epoch, num, den, off, done, ref_tick, ref, unit;
    NEED(peek_ll(e->clock, s_epoch_ns, &epoch) && peek_ll(e->clock, s_num, &num) && peek_ll(e->clock, s_den, &den)
         && peek_ll(e->clock, s_offset, &off) && num > 0 && den > 0);
    NEED(peek_ll(e->port, s_ticks_done, &done) && peek_ll(e->port, s_unit, &e->u) && e->u > 0);
    GET(e->fifo, e->port, fifo);
    NEED(PyByteArray_CheckExact(e->fifo));
    PyObject *owner;
    GET(owner, e->port, owner);
    GET(e->cap, owner, _played);
    e->owner = owner;
    /* the ticks due by the end: port.clock.count(now) - ticks_done */
    NEED(ticks_due(e, epoch, num, den, off, done));
    /* the item ends; the next one */
    GET(e->items, e->prog, items);
    NEED(PyList_CheckExact(e->items) && e->idx < PyList_GET_SIZE(e->items));
    e->item = PyList_GET_ITEM(e->items, e->idx);
    e->idx2 = e->idx + 1;
    e->wrap = e->idx2 == PyList_GET_SIZE(e->items);
    if (e->wrap)
        e->idx2 = 0;
    long long len2;
    NEED(peek_ll(PyList_GET_ITEM(e->items, e->idx2), s_length, &len2) && len2 == e->size);
    PyObject *item_irq = peek(e->item, s_irq);
    NEED(item_irq != NULL);
    e->irq_on = PyObject_IsTrue(item_irq);
    Py_DECREF(item_irq);
    NEED(e->irq_on >= 0);
    NEED(peek_ll(e->plan, s_last_burst_ns, &last_ns) && peek_ll(e->plan, s_burst_ns, &e->burst_ns)
         && last_ns == e->burst_ns);
    NEED(peek_ll(e->ch, s_idx, &e->ch_idx));
    /* the next period: Flow.time_of of its first and last request */
    PyObject *fl = peek(flow, s_limit);
    flow_limit_none = fl == Py_None;
    Py_XDECREF(fl);
    NEED(flow_limit_none);
    long long frb;
    NEED(peek_ll(flow, s_ref_tick, &ref_tick) && peek_ll(flow, s_ref_count, &ref) && peek_ll(flow, s_unit, &unit)
         && unit > 0 && peek_ll(e->plan, s_first_request_bytes, &frb));
    NEED(next_period(e, epoch, num, den, off, ref_tick, ref, unit, frb));
    /* the interrupt's path: the driver's channel, its descriptor, the bottom half */
    PyObject *chans;
    GET(chans, e->driver, channels);
    e->chans = chans;
    NEED(PyList_CheckExact(chans) && e->ch_idx >= 0 && e->ch_idx < PyList_GET_SIZE(chans));
    e->chan = keep(e, Py_NewRef(PyList_GET_ITEM(chans, e->ch_idx)));  /* (held: the callback may replace it) */
    NEED(type_has(e->chan, s_vchan_cyclic_callback, K[K_CYCLIC_CB]) && type_has(e->chan, s_bottom_half, K[K_BOTTOM_HALF]));
    GET(e->vd, e->chan, running);
    if (e->vd != Py_None)
        NEED(is_attr(e->vd, s_job, Py_None));
    GET(e->device, e->chan, device);
    NEED(type_has(e->device, s_schedule_bottom_half, K[K_SCHED_BH]));
    GET(e->bh, e->device, bh);
    NEED(Py_IS_TYPE(e->bh, (PyTypeObject *)K[K_BH]) && is_attr(e->bh, s_tasklet, e->tl));
    PyObject *q, *qd, *tfn;
    GET(q, e->bh, _queue);
    NEED(Py_IS_TYPE(q, (PyTypeObject *)K[K_DEQUE]) && PyObject_Length(q) == 0);
    GET(qd, e->bh, _queued);
    NEED(PySet_CheckExact(qd) && PySet_GET_SIZE(qd) == 0);
    e->q = q;
    e->qd = qd;
    GET(tfn, e->tl, _fn);
    NEED(bound_self(tfn, K[K_RUN_BH]) == e->bh);
    GET(e->soc, e->tl, _soc);
    NEED(is_attr(e->soc, s_kernel, kern) && is_attr(e->lane, s_kernel, kern));
    return 1;
}

/* --- the memo: a period after a plain one skips what cannot have changed ----------------------------------
 *
 * The full precheck above is a pure function of the objects it reads. After it passed, a period whose steps were
 * all the plain case (no Python ran but the client's callback: py_ran stays 0, no garbage collection ran) leaves
 * the objects as the precheck wants them, except for the callback, which may change anything. So the callback is
 * bracketed: just before it runs, a snapshot of what the precheck depends on is taken; just after, it is compared.
 * What is compared: the version tag of every class on the path (a class attribute set, a method monkeypatched),
 * the version of every instance dict (PEP 509: any write to the dict), and the slot area of every __slots__ (or C)
 * object (a memcmp of its pointers). The objects themselves are held by the memo, so no other object can take an
 * address it compares. Ints are not trusted by address: every int the period needs is read again (quick below).
 * Anything different, or anything that ran Python, and the next period does the full precheck, exactly as before.
 * CPython 3.11 only (dict versions, the int layout); elsewhere the full precheck runs every period. */
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000 && !defined(Py_GIL_DISABLED)
#define HAVE_MEMO 1
#else
#define HAVE_MEMO 0
#endif

static int memo_on = HAVE_MEMO;       /* period_memo(False) turns it off (tests compare both) */
static long long n_full, n_quick;     /* prechecks done in full / from the memo (period_stats) */
static long long n_sync;              /* Dmac.sync done in C (dmac_sync) */
static Py_ssize_t gc_runs;            /* collections started (gc.callbacks): a finalizer may have run Python */

#define SNAP_OBJS 32
#define SNAP_BYTES 8192
typedef struct {
    int n_tp, n_dict, n_area;
    PyTypeObject *tp[SNAP_OBJS];
    unsigned int tag[SNAP_OBJS];
    PyObject *downer[SNAP_OBJS];
    PyObject **dptr[SNAP_OBJS];       /* where the owner keeps its dict (fixed for the object's life) */
    PyObject *dict[SNAP_OBJS];        /* a reference held (NULL: the object had no dict yet) */
    uint64_t ver[SNAP_OBJS];
    int nkeys[SNAP_OBJS];
    PyObject *key[SNAP_OBJS][6], *val[SNAP_OBJS][6];  /* what precheck found under these keys (held by the memo) */
    PyObject *aobj[SNAP_OBJS];
    Py_ssize_t alen[SNAP_OBJS], aat[SNAP_OBJS];
    char save[SNAP_BYTES];
    char isint[SNAP_BYTES / sizeof(PyObject *)];  /* a slot that held an int: quick() reads it again, not compared */
    Py_ssize_t used;
    int armed, ok;
    int fresh;  /* save holds the areas' words (but int words, never compared), tag and ver the classes' tags and
                 * the dicts' versions: the next take records nothing again. Set by a take; kept while the memo
                 * holds, as the only writes then are the direct ones, which write their word into save too
                 * (dsave), and snap_same's, which accept a change (an int word, a dict's same entries) */
} Snap;

/* the ints quick() reads again each period, by their slot's address */
enum {
    Q_LANE_EV, Q_LANE_END, Q_LANE_DUE, Q_TL_LAT, Q_PLAN_IOFF, Q_PLAN_IBYTES, Q_PLAN_FULL, Q_PLAN_BB, Q_PLAN_M,
    Q_PLAN_J, Q_CH_ITEMIDX, Q_PLAN_LAST, Q_PLAN_BNS, Q_CH_IDX, Q_PLAN_FRB, Q_CLK_EPOCH, Q_CLK_NUM, Q_CLK_DEN,
    Q_CLK_OFF, Q_PORT_DONE, Q_PORT_UNIT, Q_FLOW_LIMIT, Q_FLOW_REFT, Q_FLOW_REFC, Q_FLOW_UNIT, NQ
};
static const struct { size_t at; PyObject **name; } qf[NQ] = {
    {offsetof(Ev, lane), &s__ev}, {offsetof(Ev, lane), &s__end_ns}, {offsetof(Ev, lane), &s__due_ns},
    {offsetof(Ev, tl), &s_latency_ns}, {offsetof(Ev, plan), &s_item_offset}, {offsetof(Ev, plan), &s_item_bytes},
    {offsetof(Ev, plan), &s_full_bursts}, {offsetof(Ev, plan), &s_burst_bytes}, {offsetof(Ev, plan), &s_materialized},
    {offsetof(Ev, plan), &s_bursts}, {offsetof(Ev, ch), &s_item_idx}, {offsetof(Ev, plan), &s_last_burst_ns},
    {offsetof(Ev, plan), &s_burst_ns}, {offsetof(Ev, ch), &s_idx}, {offsetof(Ev, plan), &s_first_request_bytes},
    {offsetof(Ev, clock), &s_epoch_ns}, {offsetof(Ev, clock), &s_num}, {offsetof(Ev, clock), &s_den},
    {offsetof(Ev, clock), &s_offset}, {offsetof(Ev, port), &s_ticks_done}, {offsetof(Ev, port), &s_unit},
    {offsetof(Ev, flow), &s_limit}, {offsetof(Ev, flow), &s_ref_tick}, {offsetof(Ev, flow), &s_ref_count},
    {offsetof(Ev, flow), &s_unit},
};

/* the attributes the period itself reads and writes, by the address the memo resolved (a __slots__ member of
 * the object precheck found there; see "direct access" below) */
enum {
    D_KERN_NOW, D_KERN_EVRUN, D_KERN_POSTPONED, D_KERN_WATCH, D_KERN_SEQ, D_KERN_DISPATCH,
    D_LANE_EV, D_LANE_PEND, D_LANE_OWNER, D_LANE_END, D_LANE_DUE, D_LANE_FN, D_LANE_LABEL, D_LANE_MERGED,
    D_TL_HOLD, D_TL_KILLED, D_TL_EV, D_TL_HELDSEQ, D_TL_SCHED, D_TL_RUNNING, D_TL_DONE,
    D_CH_EV, D_CH_PLAN, D_CH_ITEMOFF, D_CH_DONE, D_CH_ITEMIDX, D_CH_STATE, D_CH_LABEL,
    D_PLAN_MAT, D_PLAN_NL, D_PLAN_FRB, D_PLAN_START,
    D_DMAC_BURSTS, D_DMAC_LGNS, D_DMAC_LG, D_DMAC_BUSY, D_DMAC_PLANS, D_DMAC_SYNC, D_DMAC_LANE, D_DMAC_SCHED,
    D_PORT_WRITTEN, D_PORT_DRAINED, D_PORT_TICKS,
    D_CAP_CHUNKS, D_CAP_KEPT, D_CAP_TOTAL, D_CAP_LIMIT,
    D_CHAN_RUNNING, D_CHAN_CYCLIC, D_CHAN_DONE,
    D_BH_LOCK, D_BH_QUEUED, D_BH_QUEUE,
    D_SOC_OWNER,
    D_VD_CBR, D_VD_CB, D_VD_PARAM,
    D_WQ_SEQ, D_WQ_WAITERS,
    ND
};
static const struct { size_t at; PyObject **name; } df[ND] = {
    {offsetof(Ev, kern), &s_now_ns}, {offsetof(Ev, kern), &s_events_run}, {offsetof(Ev, kern), &s_postponed},
    {offsetof(Ev, kern), &s_watch_ns}, {offsetof(Ev, kern), &s__seq}, {offsetof(Ev, kern), &s_dispatching},
    {offsetof(Ev, lane), &s__ev}, {offsetof(Ev, lane), &s_postponed_end_ns}, {offsetof(Ev, lane), &s__owner},
    {offsetof(Ev, lane), &s__end_ns}, {offsetof(Ev, lane), &s__due_ns}, {offsetof(Ev, lane), &s__fn},
    {offsetof(Ev, lane), &s__label}, {offsetof(Ev, lane), &s_merged},
    {offsetof(Ev, tl), &s_hold}, {offsetof(Ev, tl), &s_killed}, {offsetof(Ev, tl), &s__ev},
    {offsetof(Ev, tl), &s_held_seq}, {offsetof(Ev, tl), &s__scheduled}, {offsetof(Ev, tl), &s__running},
    {offsetof(Ev, tl), &s__done},
    {offsetof(Ev, ch), &s_ev}, {offsetof(Ev, ch), &s_plan}, {offsetof(Ev, ch), &s_item_off},
    {offsetof(Ev, ch), &s_done}, {offsetof(Ev, ch), &s_item_idx}, {offsetof(Ev, ch), &s_state},
    {offsetof(Ev, ch), &s_item_label},
    {offsetof(Ev, plan), &s_materialized}, {offsetof(Ev, plan), &s_next_land_ns},
    {offsetof(Ev, plan), &s_first_request_bytes}, {offsetof(Ev, plan), &s_start_ns},
    {offsetof(Ev, dmac), &s_bursts}, {offsetof(Ev, dmac), &s__last_grant_ns}, {offsetof(Ev, dmac), &s__last_grant},
    {offsetof(Ev, dmac), &s__busy_until}, {offsetof(Ev, dmac), &s_plans}, {offsetof(Ev, dmac), &s__sync_ns},
    {offsetof(Ev, dmac), &s_lane}, {offsetof(Ev, dmac), &s__sched},
    {offsetof(Ev, port), &s_written}, {offsetof(Ev, port), &s_drained}, {offsetof(Ev, port), &s_ticks_done},
    {offsetof(Ev, cap), &s__chunks}, {offsetof(Ev, cap), &s__kept}, {offsetof(Ev, cap), &s_total},
    {offsetof(Ev, cap), &s_limit},
    {offsetof(Ev, chan), &s_running}, {offsetof(Ev, chan), &s_cyclic}, {offsetof(Ev, chan), &s_desc_completed},
    {offsetof(Ev, bh), &s__lock}, {offsetof(Ev, bh), &s__queued}, {offsetof(Ev, bh), &s__queue},
    {offsetof(Ev, soc), &s__owner},
    {offsetof(Ev, vd), &s_callback_result}, {offsetof(Ev, vd), &s_callback}, {offsetof(Ev, vd), &s_callback_param},
    {offsetof(Ev, wq), &s__seq}, {offsetof(Ev, wq), &s_waiters},
};
enum { E_TIME, E_FN, E_LABEL, E_PRIO, E_SEQ, E_CANCELLED, NE };  /* Event's slots, Event() done here */

struct Memo {
    int valid;           /* the next period may use quick() */
    int planned;         /* base, snap's lists and qa are set */
    Ev base;             /* the objects of the path (references held in base.refs) */
    PyObject **qa[NQ];
    PyObject *dobj[ND];  /* the object whose slot da[i] is (borrowed from base.refs), NULL: none */
    PyObject **da[ND];
    PyObject **dsave[ND];  /* where snap.save keeps the word da[i] (NULL: not in a compared area) */
    Py_ssize_t ev_off[NE];  /* Event's slot offsets (0: not resolved) */
    PyObject *lane_run;  /* the lane's class's _run (a plain function; the class is watched), held */
    PyObject *lane_bound;  /* lane_run bound to base.lane, made once (a bound method is immutable: the one Python
                            * makes each period equals it, and nothing compares the identity of ``ev.fn``) */
    PyObject *local_dv;  /* the bottom-half mark's class's ``depth`` (its class is watched), held */
    PyObject *chan_key;  /* id(base.chan), the bottom half's key for it (an int of that value, made once) */
    PyObject *c_lock, *c_waitq, *c_ctrls, *c_chans;  /* chan.lock, chan.waitq, soc.controllers, dmac.chans */
    PyObject **qa_nl;    /* plan.next_land_ns */
    Py_ssize_t ch_plan_off;  /* _HwChannel.plan */
    PyTypeObject *item_tp;
    Py_ssize_t item_len_off, item_irq_off;
    VEntry vc[VCACHE];   /* the ring's views known to be byte rows (see "the ring's views"); kept across memos */
    Snap snap;
};

typedef struct Memo Memo;
/* An entry the memo keeps (chan.lock, ...): valid while no Python ran in this period (it held at the last bracket
 * or at the full precheck, and nothing but this file's own steps, which do not write it, ran since). */
#define CACHED(f) (cur_memo != NULL && !py_ran && cur_memo->f != NULL)
static Snap *cur_snap = NULL;  /* the running period's snapshot, for the brackets (NULL: none) */
static Memo *cur_memo = NULL;  /* the running period's memo when planned (dmac_sync reads its slots) */

static void set_memo(Memo *M)
{
    cur_memo = M;
    dm = py_ran ? NULL : M;
}

/* --- direct access: while the memo holds (cur_memo set, no Python ran in this period), the period's own reads and
 * writes of the objects precheck found go straight to the __slots__ member's address that memo_take resolved: the
 * class is the one whose version tag the memo watches (any change to it runs Python first), so the member is
 * the one fget/fset would find, and what they do there is done here. Any other object, or after Python ran, the
 * generic fget/fset. */
INLINE PyObject **daddr(int id, PyObject *o)
{
    Memo *M = dm;
    return (M != NULL && M->dobj[id] == o) ? M->da[id] : NULL;
}

/* o.name, as fget */
INLINE PyObject *dget(int id, PyObject *o, PyObject *name)
{
    PyObject **a = daddr(id, o);
    if (a != NULL && *a != NULL)
        return Py_NewRef(*a);
    return fget(o, name);
}

/* o.name is ``want`` (is_attr) */
INLINE int dis(int id, PyObject *o, PyObject *name, PyObject *want)
{
    PyObject **a = daddr(id, o);
    if (a != NULL && *a != NULL)
        return *a == want;
    return is_attr(o, name, want);
}

/* o.name as an int within +-LIMIT (peek_ll) */
INLINE int dpeek_ll(int id, PyObject *o, PyObject *name, long long *out)
{
    PyObject **a = daddr(id, o);
    if (a != NULL && *a != NULL)
        return rd(*a, out);
    return peek_ll(o, name, out);
}

/* o.name = v, as fset */
INLINE int dset(int id, PyObject *o, PyObject *name, PyObject *v)
{
    PyObject **a = daddr(id, o);
    if (a == NULL || v == NULL)
        return fset(o, name, v);
    PyObject *old = *a;
    *a = Py_NewRef(v);
    if (cur_memo->dsave[id] != NULL)
        *cur_memo->dsave[id] = v;  /* (the snapshot's copy follows: see Snap.fresh) */
    Py_XDECREF(old);
    return 0;
}

static PyObject *never_obj = NULL;  /* NEVER_NS as an int, made once (Python's own NEVER is a shared constant) */

/* o.name = x, as set_ll (an int no one else holds takes the new value in place) */
INLINE int dset_ll(int id, PyObject *o, PyObject *name, long long x)
{
    PyObject **a = daddr(id, o);
    if (a == NULL)
        return set_ll(o, name, x);
    PyObject *old = *a;
    if (x == NEVER_NS && never_obj != NULL) {
        *a = Py_NewRef(never_obj);
        if (cur_memo->dsave[id] != NULL)
            *cur_memo->dsave[id] = never_obj;
        Py_XDECREF(old);
        return 0;
    }
    if (IN_PLACE_RANGE(x) && int_in_place(old, x))
        return 0;
    PyObject *v = PyLong_FromLongLong(x);
    if (v == NULL)
        return -1;
    *a = v;
    if (cur_memo->dsave[id] != NULL)
        *cur_memo->dsave[id] = v;
    Py_XDECREF(old);
    return 0;
}

/* id(o), the bottom half's key (a new reference): the memo's int while it holds and o is its channel. */
static PyObject *chan_key(PyObject *o)
{
    Memo *M = cur_memo;
    if (M != NULL && !py_ran && M->chan_key != NULL && o == M->base.chan)
        return Py_NewRef(M->chan_key);
    return PyLong_FromVoidPtr(o);
}

/* deque.append / deque.popleft, by the method descriptors of the (static, unchangeable) deque class when ``q`` is
 * exactly one; else by name. */
static PyObject *deque_append_d = NULL, *deque_popleft_d = NULL;
static PyObject *q_append(PyObject *q, PyObject *x)
{
    if (deque_append_d != NULL && Py_IS_TYPE(q, (PyTypeObject *)K[K_DEQUE])) {
        PyObject *a[2] = {q, x};
        return PyObject_Vectorcall(deque_append_d, a, 2, NULL);
    }
    return PyObject_CallMethodOneArg(q, s_append, x);
}
static PyObject *q_popleft(PyObject *q)
{
    if (deque_popleft_d != NULL && Py_IS_TYPE(q, (PyTypeObject *)K[K_DEQUE])) {
        PyObject *a[1] = {q};
        return PyObject_Vectorcall(deque_popleft_d, a, 1, NULL);
    }
    return PyObject_CallMethodNoArgs(q, s_popleft);
}

/* --- the bottom half's queue entry, deferred ------------------------------------------------------------------
 * The period's interrupt queues its channel on the bottom half (BottomHalf.schedule: ``_queued.add(key)``,
 * ``_queue.append(chan)``) and the bottom half, a microsecond later in the same run_event, takes it off again
 * (``popleft``, ``discard``): the queue and the set are empty before and after. While the memo holds and both are
 * empty, the interrupt only notes the entry here (bh_q, bh_qd, bh_chan, bh_key: borrowed from the memo), and
 * the bottom half takes the noted entry instead. Nothing reads the queue or the set in between but this file's own
 * steps; before any Python code could (PY_RAN, a bracket, a generic compare) and when the event ends without its
 * bottom half, the entry is put in as the interrupt would have put it (bh_flush): the same set, the same deque,
 * the same order. Their lock (a plain free lock, not taken, as lock_enter does) cannot have been taken since: no
 * other thread ran, as no Python code ran. The set is empty (its small table holds the key) and the deque is
 * empty (its block has room): neither add allocates, so neither can fail. */
static PyObject *bh_q = NULL, *bh_qd = NULL, *bh_chan = NULL, *bh_key = NULL;

static void bh_flush(void)
{
    if (bh_q == NULL)
        return;
    PyObject *q = bh_q, *qd = bh_qd, *chan = bh_chan, *key = bh_key;
    bh_q = bh_qd = bh_chan = bh_key = NULL;
    PyObject *exc = take_exc();  /* (an error being raised stays raised) */
    PyObject *x = PySet_Add(qd, key) < 0 ? NULL : q_append(q, chan);
    if (x == NULL)
        PyErr_WriteUnraisable(q);  /* (cannot happen: see above) */
    Py_XDECREF(x);
    if (exc != NULL)
        put_exc(exc);
}

/* An exact Event's ``cancelled`` by its slot's address while the memo holds: 1 read into *c, 0 not (read it). */
static int ev_cancelled_direct(PyObject *ev, int *c)
{
    Memo *M = cur_memo;
    if (M != NULL && !py_ran && M->ev_off[E_CANCELLED] != 0) {
        PyObject *v = *(PyObject **)((char *)ev + M->ev_off[E_CANCELLED]);
        if (v != NULL) {
            *c = v == Py_True;
            return 1;
        }
    }
    return 0;
}

/* An exact Event's ``cancelled`` is True (is_attr). */
INLINE int ev_cancelled(PyObject *ev)
{
    Memo *M = cur_memo;
    if (M != NULL && !py_ran && M->ev_off[E_CANCELLED] != 0) {
        PyObject *v = *(PyObject **)((char *)ev + M->ev_off[E_CANCELLED]);
        if (v != NULL)
            return v == Py_True;
    }
    return is_attr(ev, s_cancelled, Py_True);
}

/* o.name += d, as add_attr */
INLINE int dadd(int id, PyObject *o, PyObject *name, long long d)
{
    PyObject **a = daddr(id, o);
    long long x;
    if (a != NULL && *a != NULL && rd(*a, &x) && x > -LIMIT && x < LIMIT && d > -LIMIT && d < LIMIT)
        return dset_ll(id, o, name, x + d);
    return add_attr(o, name, d);
}

static void snap_add_type(Snap *sn, PyTypeObject *tp)
{
    if (!PyType_HasFeature(tp, Py_TPFLAGS_HEAPTYPE))
        return;  /* (a static type cannot change) */
    for (int i = 0; i < sn->n_tp; i++)
        if (sn->tp[i] == tp)
            return;
    if (sn->n_tp < SNAP_OBJS)
        sn->tp[sn->n_tp++] = tp;
    else
        sn->n_tp = SNAP_OBJS + 1;  /* too many: never valid */
}

/* Watch ``o``: its class, its instance dict (a change of version is accepted when the entries precheck read,
 * ``keys``, still hold the same objects, ``vals``), its slot area (but the slots that hold ints). 0: cannot. */
static int snap_add(Snap *sn, PyObject *o, int nkeys, PyObject *const *keys, PyObject *const *vals)
{
    if (o == NULL || o == Py_None)
        return 1;
    PyTypeObject *tp = Py_TYPE(o);
    snap_add_type(sn, tp);
    if (tp->tp_dictoffset != 0 || PyType_HasFeature(tp, Py_TPFLAGS_MANAGED_DICT)) {
        PyObject **dp = _PyObject_GetDictPtr(o);
        if (dp == NULL || sn->n_dict >= SNAP_OBJS)
            return 0;
        if (*dp != NULL && !PyDict_CheckExact(*dp))
            return 0;
        sn->downer[sn->n_dict] = o;
        sn->dptr[sn->n_dict] = dp;
        sn->dict[sn->n_dict] = Py_XNewRef(*dp);
        int nk = 0;
        for (int k = 0; k < nkeys; k++) {
            int kind = alookup(tp, keys[k])->kind;
            if (kind == A_SLOT)
                continue;  /* (a __slots__ member: the slot area below is compared) */
            if (kind != A_DICT)
                return 0;
            sn->key[sn->n_dict][nk] = keys[k];
            sn->val[sn->n_dict][nk] = vals[k];
            nk++;
        }
        sn->nkeys[sn->n_dict] = nkeys < 0 ? -1 : nk;
        sn->n_dict++;
    }
    Py_ssize_t len = tp->tp_basicsize - (Py_ssize_t)sizeof(PyObject);
    for (int i = 0; i < sn->n_area; i++)
        if (sn->aobj[i] == o)
            len = 0;  /* (its area is compared already) */
    if (tp->tp_itemsize == 0 && len > 0) {
        if (sn->n_area >= SNAP_OBJS || sn->used + len > SNAP_BYTES)
            return 0;
        sn->aobj[sn->n_area] = o;
        sn->alen[sn->n_area] = len;
        sn->aat[sn->n_area] = sn->used;
        for (Py_ssize_t w = 0; w < len / (Py_ssize_t)sizeof(PyObject *); w++) {
            PyObject *x = ((PyObject **)((char *)o + sizeof(PyObject)))[w];
            sn->isint[sn->used / sizeof(PyObject *) + w] = x != NULL && PyLong_CheckExact(x)
                                                          && PyType_HasFeature(tp, Py_TPFLAGS_HEAPTYPE);
        }
        sn->used += len;
        sn->n_area++;
    }
    return 1;
}

static void snap_clear(Snap *sn)
{
    for (int i = 0; i < sn->n_dict; i++)
        Py_CLEAR(sn->dict[i]);
    sn->n_tp = sn->n_dict = sn->n_area = 0;
    sn->used = 0;
    sn->armed = sn->ok = sn->fresh = 0;
}

#if HAVE_MEMO
/* Before the callback: what it could change. */
static void snap_take(Snap *sn)
{
    sn->armed = 0;
    if (sn->n_tp > SNAP_OBJS || py_ran)
        return;
    if (sn->fresh) {
        /* (the tags, versions and words of the last take, or as the last snap_same accepted them: since then only
         * this file's own steps ran, which change no class and write the areas' words through dsave; a write to a
         * watched dict shows as a new version, which snap_same checks by its entries) */
        sn->armed = 1;
        return;
    }
    for (int i = 0; i < sn->n_tp; i++) {
        if (!PyType_HasFeature(sn->tp[i], Py_TPFLAGS_VALID_VERSION_TAG))
            return;
        sn->tag[i] = sn->tp[i]->tp_version_tag;
    }
    for (int i = 0; i < sn->n_dict; i++) {
        if (*sn->dptr[i] != sn->dict[i])
            return;
        sn->ver[i] = sn->dict[i] == NULL ? 0 : ((PyDictObject *)sn->dict[i])->ma_version_tag;
    }
    for (int i = 0; i < sn->n_area; i++)
        memcpy(sn->save + sn->aat[i], (char *)sn->aobj[i] + sizeof(PyObject), (size_t)sn->alen[i]);
    sn->armed = sn->fresh = 1;
}

/* After the callback: 1 when nothing it could change has changed. */
static int snap_same(Snap *sn)
{
    for (int i = 0; i < sn->n_tp; i++)
        if (!PyType_HasFeature(sn->tp[i], Py_TPFLAGS_VALID_VERSION_TAG) || sn->tp[i]->tp_version_tag != sn->tag[i])
            return 0;
    for (int i = 0; i < sn->n_dict; i++) {
        if (*sn->dptr[i] != sn->dict[i])
            return 0;
        if (sn->dict[i] != NULL && ((PyDictObject *)sn->dict[i])->ma_version_tag != sn->ver[i]) {
            if (sn->nkeys[i] < 0)
                return 0;
            for (int k = 0; k < sn->nkeys[i]; k++) {  /* (no Python: exact dict, interned str keys) */
                PyObject *v = PyDict_GetItemWithError(sn->dict[i], sn->key[i][k]);
                if (v != sn->val[i][k]) {
                    PyErr_Clear();
                    return 0;
                }
            }
            /* the same entries: the new version is the one to compare next time */
            sn->ver[i] = ((PyDictObject *)sn->dict[i])->ma_version_tag;
        }
    }
    for (int i = 0; i < sn->n_area; i++) {
        PyObject *const *now = (PyObject *const *)((char *)sn->aobj[i] + sizeof(PyObject));
        PyObject *const *was = (PyObject *const *)(sn->save + sn->aat[i]);
        if (memcmp(now, was, (size_t)sn->alen[i]) == 0)
            continue;  /* (the usual case: one call; else word by word, an int slot may differ) */
        const char *isint = sn->isint + sn->aat[i] / sizeof(PyObject *);
        Py_ssize_t nw = sn->alen[i] / (Py_ssize_t)sizeof(PyObject *);
        for (Py_ssize_t w = 0; w < nw; w++)  /* (an int slot may hold another int, nothing else) */
            if (now[w] != was[w] && !(isint[w] && now[w] != NULL && PyLong_CheckExact(now[w])))
                return 0;
        if (sn->alen[i] % (Py_ssize_t)sizeof(PyObject *)
            && memcmp((const char *)(now + nw), (const char *)(was + nw),
                      (size_t)(sn->alen[i] % (Py_ssize_t)sizeof(PyObject *))) != 0)
            return 0;
        memcpy(sn->save + sn->aat[i], now, (size_t)sn->alen[i]);  /* (its new ints: save is the area again) */
    }
    return 1;
}
#else
static void snap_take(Snap *sn) { sn->armed = 0; }
static int snap_same(Snap *sn) { (void)sn; return 0; }
#endif

/* Python code the runner calls itself (the controller's sync) in a bracket, as the callback: 1 taken. */
static int bracket_begin(void)
{
    bh_flush();  /* (Python runs next) */
    if (cur_snap == NULL || py_ran)
        return 0;
    snap_take(cur_snap);
    return cur_snap->armed;
}

static void bracket_end(int taken)
{
    if (!taken || !snap_same(cur_snap))
        PY_RAN();
}

static void memo_clear(Memo *M)
{
    if (M->planned)
        ev_free(&M->base);
    Py_CLEAR(M->c_lock);
    Py_CLEAR(M->c_waitq);
    Py_CLEAR(M->c_ctrls);
    Py_CLEAR(M->c_chans);
    snap_clear(&M->snap);
    memset(M->dobj, 0, sizeof M->dobj);
    memset(M->dsave, 0, sizeof M->dsave);
    memset(M->ev_off, 0, sizeof M->ev_off);
    Py_CLEAR(M->lane_run);
    Py_CLEAR(M->lane_bound);
    Py_CLEAR(M->local_dv);
    Py_CLEAR(M->chan_key);
    M->valid = M->planned = 0;
}

/* The address of o's __slots__ member ``name`` that reading and writing it as an attribute would use, or NULL. */
static PyObject **slot_addr(PyObject *o, PyObject *name)
{
    if (o == NULL || o == Py_None)
        return NULL;
    PyTypeObject *tp = Py_TYPE(o);
    if (tp->tp_getattro != PyObject_GenericGetAttr || tp->tp_setattro != PyObject_GenericSetAttr)
        return NULL;
    ACache *c = alookup(tp, name);
    if (c->kind != A_SLOT || c->readonly)
        return NULL;
    return (PyObject **)((char *)o + c->off);
}

/* After a full precheck that passed: hold its objects and plan what to watch. 0: no memo (not an error). */
static int memo_take(Memo *M, Ev *e)
{
    memo_clear(M);
    if (!memo_on || !HAVE_MEMO)
        return 0;
    M->base = *e;
    M->base.have_buf = 0;
    M->base.spare = NULL;
    for (int i = 0; i < e->nrefs; i++)
        Py_INCREF(e->refs[i]);
    M->planned = 1;
    for (int i = 0; i < NQ; i++) {
        PyObject *o = *(PyObject **)((char *)e + qf[i].at);
        PyTypeObject *tp = Py_TYPE(o);
        ACache *c = alookup(tp, *qf[i].name);
        if (tp->tp_getattro != PyObject_GenericGetAttr || c->kind != A_SLOT)
            goto no;
        M->qa[i] = (PyObject **)((char *)o + c->off);
    }
    ACache *cp = alookup(Py_TYPE(e->plan), s_next_land_ns);
    if (cp->kind != A_SLOT)
        goto no;
    M->qa_nl = (PyObject **)((char *)e->plan + cp->off);
    cp = alookup(Py_TYPE(e->ch), s_plan);
    if (cp->kind != A_SLOT)
        goto no;
    M->ch_plan_off = cp->off;
    M->item_tp = Py_TYPE(e->item);
    ACache *c = alookup(M->item_tp, s_length);
    if (M->item_tp->tp_getattro != PyObject_GenericGetAttr || c->kind != A_SLOT)
        goto no;
    M->item_len_off = c->off;
    c = alookup(M->item_tp, s_irq);
    if (c->kind != A_SLOT)
        goto no;
    M->item_irq_off = c->off;
    Snap *sn = &M->snap;
    PyObject *watch[] = {e->kern, e->lane, e->ch, e->fn, e->tl, e->plan, e->prog, e->flow, e->port, e->clock,
                         e->cap, e->vd, e->bh};
    for (size_t i = 0; i < sizeof watch / sizeof watch[0]; i++)
        if (!snap_add(sn, watch[i], -1, NULL, NULL))
            goto no;
    /* the dict objects: the entries precheck read, and four the period reads (kept while they hold) */
    M->c_lock = peek(e->chan, s_lock);
    M->c_waitq = peek(e->chan, s_waitq);
    M->c_ctrls = peek(e->soc, s_controllers);
    M->c_chans = peek(e->dmac, s_chans);
    if (M->c_lock == NULL || M->c_waitq == NULL || M->c_ctrls == NULL || M->c_chans == NULL
        || !plain_attr(e->chan, s_lock) || !plain_attr(e->chan, s_waitq) || !plain_attr(e->soc, s_controllers)
        || !plain_attr(e->dmac, s_chans))
        goto no;  /* (instance dict entries or slots only, compared below: anything else is read each time) */
    PyObject *dk[] = {s_lane, s_kernel, s_burst_probe, s__sched, s_irq, s_chans};
    PyObject *dv[] = {e->lane, e->kern, Py_None, Py_None, e->irq, M->c_chans};
    PyObject *ck1[] = {s_running, s_device, s_lock, s_waitq}, *cv1[] = {e->vd, e->device, M->c_lock, M->c_waitq};
    PyObject *sk[] = {s_kernel, s_controllers}, *sv[] = {e->kern, M->c_ctrls};
    if (!snap_add(sn, e->dmac, 6, dk, dv) || !snap_add(sn, e->driver, 1, &s_channels, &e->chans)
        || !snap_add(sn, e->chan, 4, ck1, cv1) || !snap_add(sn, e->device, 1, &s_bh, &e->bh)
        || !snap_add(sn, e->soc, 2, sk, sv) || !snap_add(sn, e->owner, 1, &s__played, &e->cap)
        || !snap_add(sn, K[K_TRACE], 1, &s_recorder, &dv[2]))
        goto no;
    snap_add_type(sn, M->item_tp);
    snap_add_type(sn, Py_TYPE(e->ev));
    if (K_local_obj != NULL)
        snap_add_type(sn, Py_TYPE(K_local_obj));
    M->base.wq = M->c_waitq;  /* (the memo's: chan.waitq is one of the entries snap_same compares) */
    e->wq = M->c_waitq;
    /* direct access: the slots the period reads and writes (an object whose class the snapshot watches) */
    for (int i = 0; i < ND; i++) {
        PyObject *o = *(PyObject **)((char *)e + df[i].at);
        PyObject **a = slot_addr(o, *df[i].name);
        if (a != NULL) {
            snap_add_type(sn, Py_TYPE(o));
            M->dobj[i] = o;
            M->da[i] = a;
            for (int k = 0; k < sn->n_area; k++) {
                char *lo = (char *)sn->aobj[k] + sizeof(PyObject);
                if ((char *)a >= lo && (char *)a + sizeof(PyObject *) <= lo + sn->alen[k])
                    M->dsave[i] = (PyObject **)(sn->save + sn->aat[k] + ((char *)a - lo));
            }
        }
    }
    {
        PyTypeObject *etp = (PyTypeObject *)K[K_EVENT];
        PyObject *const en[NE] = {s_time_ns, s_fn, s_label, s_priority, s_seq, s_cancelled};
        int all = etp->tp_getattro == PyObject_GenericGetAttr && etp->tp_setattro == PyObject_GenericSetAttr
                  && Py_IS_TYPE(e->ev, etp);
        for (int i = 0; all && i < NE; i++) {
            ACache *c = alookup(etp, en[i]);
            all = c->kind == A_SLOT && !c->readonly;
            M->ev_off[i] = all ? c->off : 0;
        }
        if (!all)
            memset(M->ev_off, 0, sizeof M->ev_off);
    }
    {
        PyObject *runf = _PyType_Lookup(Py_TYPE(e->lane), s__run);
        M->lane_run = runf != NULL && PyFunction_Check(runf) ? Py_NewRef(runf) : NULL;
        if (M->lane_run != NULL && (M->lane_bound = PyMethod_New(M->lane_run, e->lane)) == NULL)
            goto no;
        if (K_local_obj != NULL)
            M->local_dv = Py_XNewRef(_PyType_Lookup(Py_TYPE(K_local_obj), s_depth));
        M->chan_key = PyLong_FromVoidPtr(e->chan);
        if (M->chan_key == NULL)
            goto no;
    }
    if (sn->n_tp > SNAP_OBJS)
        goto no;
    return 1;
no:
    memo_clear(M);
    e->wq = NULL;
    return 0;
}

/* precheck, from the memo: the objects are the ones the last full precheck found (nothing that could change
 * them has changed since); what changes from period to period is read again and checked as precheck checks it.
 * 1 yes, 0 no (then the full precheck decides), -1 an error. */
static int quick(Memo *M, Ev *e, long long limit)
{
    memcpy(e, &M->base, offsetof(Ev, refs));  /* (the objects; every number below is read again) */
    e->nrefs = 0;
    e->have_buf = 0;
    e->spare = NULL;
    e->view = e->item = NULL;
    {
        int r = heap_top(e);
        if (r <= 0)
            return r;
    }
    NEED(e->t <= limit && *M->qa[Q_LANE_EV] == e->ev && *M->qa[Q_FLOW_LIMIT] == Py_None);
    long long v[NQ];
    for (int i = Q_LANE_END; i < NQ; i++)
        if (i != Q_FLOW_LIMIT)
            NEED(rd(*M->qa[i], &v[i]));
    e->end = v[Q_LANE_END];
    e->due = v[Q_LANE_DUE];
    e->latency = v[Q_TL_LAT];
    e->size = v[Q_PLAN_IBYTES];
    e->bb = v[Q_PLAN_BB];
    e->m = v[Q_PLAN_M];
    e->j = v[Q_PLAN_J];
    e->idx = v[Q_CH_ITEMIDX];
    e->burst_ns = v[Q_PLAN_BNS];
    e->ch_idx = v[Q_CH_IDX];
    e->u = v[Q_PORT_UNIT];
    NEED(e->due == e->t && v[Q_PLAN_IOFF] == 0 && e->bb > 0 && e->size >= 0);
    int bad = 0;
    NEED(e->size == mul(v[Q_PLAN_FULL], e->bb, &bad) && !bad);
    NEED(PyList_CheckExact(e->views) && e->m >= 0 && e->m <= e->j && e->idx >= 0
         && e->idx < PyList_GET_SIZE(e->views));
    NEED(take_view(e, M->vc));
    NEED(v[Q_CLK_NUM] > 0 && v[Q_CLK_DEN] > 0 && e->u > 0);
    NEED(ticks_due(e, v[Q_CLK_EPOCH], v[Q_CLK_NUM], v[Q_CLK_DEN], v[Q_CLK_OFF], v[Q_PORT_DONE]));
    NEED(PyList_CheckExact(e->items) && e->idx < PyList_GET_SIZE(e->items));
    e->item = PyList_GET_ITEM(e->items, e->idx);
    e->idx2 = e->idx + 1;
    e->wrap = e->idx2 == PyList_GET_SIZE(e->items);
    if (e->wrap)
        e->idx2 = 0;
    PyObject *item2 = PyList_GET_ITEM(e->items, e->idx2);
    NEED(Py_IS_TYPE(e->item, M->item_tp) && Py_IS_TYPE(item2, M->item_tp));
    long long len2;
    NEED(rd(*(PyObject **)((char *)item2 + M->item_len_off), &len2) && len2 == e->size);
    PyObject *irq = *(PyObject **)((char *)e->item + M->item_irq_off);
    NEED(irq == Py_True || irq == Py_False);
    e->irq_on = irq == Py_True;
    NEED(v[Q_PLAN_LAST] == e->burst_ns && v[Q_FLOW_UNIT] > 0);
    NEED(next_period(e, v[Q_CLK_EPOCH], v[Q_CLK_NUM], v[Q_CLK_DEN], v[Q_CLK_OFF], v[Q_FLOW_REFT], v[Q_FLOW_REFC],
                     v[Q_FLOW_UNIT], v[Q_PLAN_FRB]));
    NEED(PyList_CheckExact(e->chans) && e->ch_idx >= 0 && e->ch_idx < PyList_GET_SIZE(e->chans)
         && PyList_GET_ITEM(e->chans, e->ch_idx) == e->chan);
    NEED(Py_IS_TYPE(e->q, (PyTypeObject *)K[K_DEQUE]) && PyObject_Length(e->q) == 0);
    NEED(PySet_CheckExact(e->qd) && PySet_GET_SIZE(e->qd) == 0);
    return 1;
}

/* --- the codec's FIFO, in place ------------------------------------------------------------------------------
 * The FIFO is an exact bytearray (precheck). While nothing exports its buffer (a memoryview of it, say: then it
 * cannot be resized, and Python's ``+=`` or ``del`` raises BufferError, as the generic calls below do), its bytes
 * are moved here as bytearray's own ``+=``, ``fifo[:k]`` and ``del fifo[:k]`` move them: the same bytes in the same
 * order. Only the buffer's bookkeeping differs: a take advances the start (bytearray's own ``del fifo[:k]`` does
 * too, then gives the rest a buffer of its size), and a put uses the room left at the front before it grows the
 * buffer, so a steady stream reuses one buffer instead of two allocations a period. */
static int fifo_plain(PyObject *f)
{
    return PyByteArray_CheckExact(f) && ((PyByteArrayObject *)f)->ob_exports == 0;
}

/* fifo += src[:n] */
static int fifo_put(PyObject *f, const char *src, Py_ssize_t n)
{
    Py_ssize_t size = PyByteArray_GET_SIZE(f);
    if (n <= 0)
        return 0;
    if (n > PY_SSIZE_T_MAX - size - 1) {
        PyErr_NoMemory();
        return -1;
    }
    if (fifo_plain(f)) {
        PyByteArrayObject *b = (PyByteArrayObject *)f;
        Py_ssize_t off = b->ob_start - b->ob_bytes;
        if (b->ob_bytes != NULL && off + size + n + 1 > b->ob_alloc && size + n + 1 <= b->ob_alloc) {
            memmove(b->ob_bytes, b->ob_start, (size_t)size);  /* (the room at the front, used) */
            b->ob_start = b->ob_bytes;
            off = 0;
        }
        if (b->ob_bytes != NULL && off + size + n + 1 <= b->ob_alloc) {
            memcpy(b->ob_start + size, src, (size_t)n);
            Py_SET_SIZE(b, size + n);
            b->ob_start[size + n] = '\0';
            return 0;
        }
    }
    if (PyByteArray_Resize(f, size + n) < 0)
        return -1;
    memcpy(PyByteArray_AS_STRING(f) + size, src, (size_t)n);
    return 0;
}

/* fifo[:k] as a new bytearray, then del fifo[:k] (0 <= k <= len(fifo)) */
static PyObject *fifo_take(PyObject *f, Py_ssize_t k)
{
    PyObject *played = PyByteArray_FromStringAndSize(PyByteArray_AS_STRING(f), k);
    if (played == NULL)
        return NULL;
    if (fifo_plain(f) && ((PyByteArrayObject *)f)->ob_bytes != NULL) {
        PyByteArrayObject *b = (PyByteArrayObject *)f;
        b->ob_start += k;
        Py_SET_SIZE(b, Py_SIZE(b) - k);
        b->ob_start[Py_SIZE(b)] = '\0';
    } else if (PySequence_DelSlice(f, 0, k) < 0) {
        Py_DECREF(played);
        return NULL;
    }
    return played;
}

/* bytes(fifo), then fifo.clear() */
static PyObject *fifo_take_all(PyObject *f)
{
    PyObject *played = PyBytes_FromStringAndSize(PyByteArray_AS_STRING(f), PyByteArray_GET_SIZE(f));
    if (played == NULL)
        return NULL;
    if (fifo_plain(f) && ((PyByteArrayObject *)f)->ob_bytes != NULL) {
        PyByteArrayObject *b = (PyByteArrayObject *)f;
        b->ob_start = b->ob_bytes;
        Py_SET_SIZE(b, 0);
        b->ob_start[0] = '\0';
    } else if (PyByteArray_Resize(f, 0) < 0) {
        Py_DECREF(played);
        return NULL;
    }
    return played;
}

static int codec_ticks(Ev *e);
static int codec_ticks_after(Ev *e, const char *src, Py_ssize_t n);

/* The instant burst ``k`` (1-based) of the plan lands: ItemPlan.land_ns with Flow.time_of (no limit) and
 * TickClock.time. ``v`` holds the memo's ints (quick's order). */
static long long land_at(const long long *v, long long frb, long long k, int *bad)
{
    if (k > v[Q_PLAN_J])
        return NEVER_NS;
    long long mb = ck(frb + mul(k - 1, v[Q_PLAN_BB], bad), bad);
    long long kk = -floordiv(ck(-(mb - v[Q_FLOW_REFC]), bad), v[Q_FLOW_UNIT]);
    long long tick = ck(v[Q_FLOW_REFT] + kk - 1 + v[Q_CLK_OFF], bad);
    long long s = ck(v[Q_CLK_EPOCH] + floordiv(mul(tick, v[Q_CLK_NUM], bad), v[Q_CLK_DEN]), bad);
    return ck(s + (k <= v[Q_PLAN_FULL] ? v[Q_PLAN_BNS] : v[Q_PLAN_LAST]), bad);
}

/* Dmac.sync at ``now`` (the bottom half's Soc.sync, a planned landing due), its plain case: the lone plan's bursts
 * landed by now move into the codec's FIFO (Dmac._materialize, TxPort.steady_write, Port.advance), in Python's
 * order. Only right after this period's own steps (no Python ran: the memo's objects and slots are the ones
 * precheck found). 1 done, 0 not the plain case (the caller calls d.sync()), -1 an error. */
static int dmac_sync(Ev *e, PyObject *d, long long now)
{
    Memo *M = cur_memo;
    if (M == NULL || py_ran || d != e->dmac || e->irq_on < 0)
        return 0;
    PyObject *chans = M->c_chans != NULL ? Py_NewRef(M->c_chans) : fget(d, s_chans);
    if (chans == NULL) {
        PyErr_Clear();
        return 0;
    }
    int ok = PyList_CheckExact(chans);
    for (Py_ssize_t i = 0; ok && i < PyList_GET_SIZE(chans); i++) {
        PyObject *c = PyList_GET_ITEM(chans, i);
        PyObject *plan = Py_IS_TYPE(c, (PyTypeObject *)K[K_HWCHAN]) ? *(PyObject **)((char *)c + M->ch_plan_off)
                                                                    : NULL;
        ok = plan != NULL && (plan == Py_None || (c == e->ch && plan == e->plan));
    }
    Py_DECREF(chans);
    long long v[NQ], nl, ioff, item_idx;
    if (!ok || !rd(*M->qa_nl, &nl))
        return 0;
    if (now < nl) {  /* (the usual case: nothing lands by now; the lone plan's next landing is the next sync) */
        if (dset_ll(D_DMAC_SYNC, d, s__sync_ns, nl) < 0)
            return -1;
        n_sync++;
        return 1;
    }
    for (int i = Q_LANE_END; i < NQ; i++)
        if (i != Q_FLOW_LIMIT && !rd(*M->qa[i], &v[i]))
            return 0;
    if (*M->qa[Q_FLOW_LIMIT] != Py_None || !rd(*M->qa[Q_PLAN_IOFF], &ioff)
        || !rd(*M->qa[Q_CH_ITEMIDX], &item_idx) || v[Q_PLAN_BB] <= 0 || v[Q_FLOW_UNIT] <= 0 || v[Q_CLK_NUM] <= 0
        || v[Q_CLK_DEN] <= 0 || v[Q_PORT_UNIT] <= 0)
        return 0;
    int bad = 0;
    long long frb = v[Q_PLAN_FRB], m = v[Q_PLAN_M], bursts = v[Q_PLAN_J], bb = v[Q_PLAN_BB], size = v[Q_PLAN_IBYTES];
    long long newnl = nl, j = 0, b0 = 0, b1 = 0;
    if (now >= nl) {
        /* plan.done(now): Flow.count(now - burst_ns) */
        long long x = ck(now - v[Q_PLAN_BNS], &bad);
        long long cc = ck(floordiv(ck(mul(ck(x - v[Q_CLK_EPOCH] + 1, &bad), v[Q_CLK_DEN], &bad) + v[Q_CLK_NUM] - 1,
                                      &bad), v[Q_CLK_NUM]) - v[Q_CLK_OFF], &bad);
        if (cc < 0)
            cc = 0;
        long long cnt = ck(v[Q_FLOW_REFC] + mul(v[Q_FLOW_UNIT], ck(cc - v[Q_FLOW_REFT], &bad), &bad), &bad);
        if (cnt >= frb) {
            j = floordiv(cnt - frb, bb) + 1;
            if (j > bursts)
                j = bursts;
        }
        if (j <= m)
            newnl = land_at(v, frb, m + 1, &bad);
        else {
            b0 = mul(m, bb, &bad);
            b1 = mul(j, bb, &bad);
            if (b1 > size) {
                b1 = size;
                if (b0 > size)
                    b0 = size;
            }
            newnl = land_at(v, frb, j + 1, &bad);
        }
    }
    if (bad)
        return 0;
    long long n = b1 - b0;
    if (j > m) {
        /* port.steady_write(now, views[item_idx][off:off + n].tobytes()): the bytes, then Port.advance(now) */
        long long off = ioff + b0;
        if (n > 0) {
            if (!PyList_CheckExact(e->views) || item_idx < 0 || item_idx >= PyList_GET_SIZE(e->views) || off < 0)
                return 0;
            Py_buffer b;
            if (PyObject_GetBuffer(PyList_GET_ITEM(e->views, item_idx), &b, PyBUF_ND | PyBUF_FORMAT) < 0) {
                PyErr_Clear();
                return 0;
            }
            if (b.itemsize != 1 || b.ndim != 1 || b.len < off + n || !PyBuffer_IsContiguous(&b, 'C')) {
                PyBuffer_Release(&b);
                return 0;
            }
            int r = fifo_put(e->fifo, (const char *)b.buf + off, n);
            PyBuffer_Release(&b);
            if (r < 0)
                return -1;
        }
        if (dadd(D_PORT_WRITTEN, e->port, s_written, n) < 0)
            return -1;
        long long done;
        if (!rd(*M->qa[Q_PORT_DONE], &done)) {
            PyErr_SetString(PyExc_TypeError, "ticks_done must be an int");
            return -1;
        }
        long long save_end = e->end, save_c = e->c;
        e->end = now;
        int t_ok = ticks_due(e, v[Q_CLK_EPOCH], v[Q_CLK_NUM], v[Q_CLK_DEN], v[Q_CLK_OFF], done);
        e->end = save_end;
        int r = 0;
        if (!t_ok) {
            PyErr_SetString(PyExc_OverflowError, "the codec's ticks are out of range");
            r = -1;
        } else if (e->c > 0)
            r = codec_ticks(e);
        e->c = save_c;
        if (r < 0)
            return -1;
        if (dadd(D_DMAC_BURSTS, d, s_bursts, j - m) < 0 || dset_ll(D_PLAN_MAT, e->plan, s_materialized, j) < 0
            || dset_ll(D_PLAN_NL, e->plan, s_next_land_ns, newnl) < 0
            || dset_ll(D_CH_ITEMOFF, e->ch, s_item_off, ioff + b1) < 0 || dadd(D_CH_DONE, e->ch, s_done, n) < 0)
            return -1;
    } else if (newnl != nl && dset_ll(D_PLAN_NL, e->plan, s_next_land_ns, newnl) < 0)
        return -1;
    if (dset_ll(D_DMAC_SYNC, d, s__sync_ns, newnl) < 0)
        return -1;
    n_sync++;
    return 1;
}

/* An instance attribute ``sync`` on a Dmac (``hw.sync = f``: its instance dict, which Dmac's __slots__ keep): the
 * Python Soc.sync calls it, so the C one must too. 1 there is one (or it cannot tell: d.sync() by attribute, the
 * generic path), 0 none, -1 an error. The usual case, no instance dict or an empty one, is two loads; else the
 * last answer holds while that dict's PEP 509 version does (a version is never reused, by any dict: the borrowed
 * pointer is only compared). */
static PyObject *isync_dict = NULL;  /* borrowed: only compared */
static uint64_t isync_ver;
static int isync_has;

static int dmac_has_own_sync(PyObject *d)
{
    PyObject **dp = _PyObject_GetDictPtr(d);
    if (dp == NULL)
        return 1;
    PyObject *dict = *dp;
    if (dict == NULL)
        return 0;
    if (!PyDict_CheckExact(dict))
        return 1;
    if (PyDict_GET_SIZE(dict) == 0)
        return 0;
    uint64_t ver = ((PyDictObject *)dict)->ma_version_tag;
    if (dict == isync_dict && ver == isync_ver)
        return isync_has;
    PyObject *v = PyDict_GetItemWithError(dict, s_sync);
    if (v == NULL && PyErr_Occurred())
        return -1;
    isync_dict = dict;
    isync_ver = ver;  /* (the version before the lookup: a key's __eq__ that wrote the dict is seen next time) */
    isync_has = v != NULL;
    return isync_has;
}

/* The bottom half's Soc.sync: 0, or -1 with an exception set (the tasklet logs it). */
static int soc_sync(Ev *e, long long now)
{
    PyObject *owner = dget(D_SOC_OWNER, e->soc, s__owner);
    if (owner == NULL)
        return -1;
    unsigned long ident = PyThread_get_thread_ident();
    int mine;
    if (PyLong_CheckExact(owner)) {  /* (the usual case: no int made to compare) */
        unsigned long v = PyLong_AsUnsignedLong(owner);
        if (v == (unsigned long)-1 && PyErr_Occurred()) {
            PyErr_Clear();
            mine = 0;
        } else
            mine = v == ident;
    } else {
        PyObject *me = PyLong_FromUnsignedLong(ident);
        bh_flush();  /* (a generic compare may run Python) */
        mine = me == NULL ? -1 : PyObject_RichCompareBool(owner, me, Py_EQ);
        Py_XDECREF(me);
    }
    Py_DECREF(owner);
    if (mine < 0)
        return -1;
    if (!mine)
        return call_noargs(e->soc, s_sync);
    PyObject *ctrls = CACHED(c_ctrls) ? Py_NewRef(cur_memo->c_ctrls) : fget(e->soc, s_controllers);
    if (ctrls == NULL)
        return -1;
    if (!PyList_CheckExact(ctrls)) {
        Py_DECREF(ctrls);
        return call_noargs(e->soc, s_sync);
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(ctrls); i++) {
        PyObject *d = PyList_GET_ITEM(ctrls, i);
        Py_INCREF(d);
        int r = 0;
        PyObject *lane = dget(D_DMAC_LANE, d, s_lane);
        if (lane == NULL)
            r = -1;
        else if (lane != Py_None) {
            PyObject *pe = fget(lane, s_postponed_end_ns);
            if (pe == NULL)
                r = -1;
            else {
                long long pe_ns;
                PyObject *nowv = NULL;
                int le = rd(pe, &pe_ns) ? pe_ns <= now : -2;
                if (le != 0)
                    nowv = PyLong_FromLongLong(now);
                if (le == -2) {
                    bh_flush();  /* (a generic compare may run Python) */
                    le = nowv == NULL ? -1 : PyObject_RichCompareBool(pe, nowv, Py_LE);
                }
                if (le > 0 && nowv == NULL)
                    le = -1;
                if (le > 0) {
                    PY_RAN();
                    PyObject *x = PyObject_CallMethodOneArg(lane, s_settle, nowv);
                    le = x == NULL ? -1 : 0;
                    Py_XDECREF(x);
                }
                Py_XDECREF(nowv);
                Py_DECREF(pe);
                r = le < 0 ? -1 : 0;
            }
        }
        Py_XDECREF(lane);
        int own = 0;  /* Dmac's own sync (its class's; not a subclass's, nor an instance attribute) */
        if (r == 0 && Py_IS_TYPE(d, (PyTypeObject *)K[K_DMAC])) {
            int has = dmac_has_own_sync(d);
            r = has < 0 ? -1 : 0;
            own = has == 0;
        }
        if (r == 0) {  /* d.sync(): one comparison while no schedule and no planned landing by now */
            long long sync_ns;
            int plain = own && dis(D_DMAC_SCHED, d, s__sched, Py_None)
                        && dpeek_ll(D_DMAC_SYNC, d, s__sync_ns, &sync_ns) && now < sync_ns;
            if (!plain && own && dis(D_DMAC_SCHED, d, s__sched, Py_None)) {
                int k = dmac_sync(e, d, now);  /* its plain case in C */
                if (k != 0) {
                    plain = 1;
                    r = k < 0 ? -1 : 0;
                }
            }
            if (!plain)
            {
                int br = bracket_begin();  /* (our own Python: the plan's bursts landed by now move) */
                r = call_noargs_(d, s_sync);
                bracket_end(br);
            }
        }
        Py_DECREF(d);
        if (r < 0) {
            Py_DECREF(ctrls);
            return -1;
        }
    }
    Py_DECREF(ctrls);
    return 0;
}

/* The bottom half of the channel: VirtChannel.bottom_half, its cyclic case; the rest in Python. */
static int chan_bottom_half(Ev *e)
{
    PyObject *chan = e->chan;
    PyObject *done = dget(D_CHAN_DONE, chan, s_desc_completed);
    if (done == NULL)
        return -1;
    int any = done == Py_None ? 0 : PyObject_IsTrue(done);
    Py_DECREF(done);
    if (any < 0)
        return -1;
    if (any || (!(cur_memo != NULL && !py_ran) && recording()))  /* (the memo watches the trace module's recorder) */
        return call_noargs(chan, s_bottom_half);
    PyObject *lock = CACHED(c_lock) ? Py_NewRef(cur_memo->c_lock) : fget(chan, s_lock);
    if (lock == NULL)
        return -1;
    int took = 1;
    if ((daddr(D_CHAN_CYCLIC, chan) != NULL || plain_attr(chan, s_cyclic)) ? lock_enter(lock, &took) < 0
                                                                          : call_noargs(lock, s_acquire) < 0) {
        Py_DECREF(lock);
        return -1;
    }
    PyObject *cyc = dget(D_CHAN_CYCLIC, chan, s_cyclic);  /* (its reference is kept: nothing is freed under the lock) */
    int r = cyc == NULL ? -1 : dset(D_CHAN_CYCLIC, chan, s_cyclic, Py_None);
    if (lock_exit(lock, took) < 0)
        r = -1;
    Py_DECREF(lock);
    if (r < 0) {
        Py_XDECREF(cyc);
        return -1;
    }
    if (cyc == Py_None) {
        Py_DECREF(cyc);
        return 0;
    }
    /* the client's callback (an exception, even a BaseException, is logged and counted) */
    PyObject *res = NULL;
    int bracketed = 0;  /* the client's callback ran after snap_take */
    PyObject *cbr = dget(D_VD_CBR, cyc, s_callback_result);
    if (cbr != NULL && cbr != Py_None) {
        PyObject *param = fget(cyc, s_callback_param);
        PyObject *result = fget(cyc, s_result);
        PyObject *residue = fget(cyc, s_residue);
        PY_RAN();  /* (TxResult and callback_result: not the memo's bracketed case) */
        PyObject *txr = (result && residue) ? PyObject_CallFunctionObjArgs(K[K_TXRESULT], result, residue, NULL)
                                            : NULL;
        if (param && txr)
            res = PyObject_CallFunctionObjArgs(cbr, param, txr, NULL);
        Py_XDECREF(param);
        Py_XDECREF(result);
        Py_XDECREF(residue);
        Py_XDECREF(txr);
    } else if (cbr != NULL) {
        PyObject *cb = dget(D_VD_CB, cyc, s_callback);
        if (cb != NULL && cb != Py_None) {
            PyObject *param = dget(D_VD_PARAM, cyc, s_callback_param);
            if (param != NULL) {
                if (cur_snap != NULL) {
                    snap_take(cur_snap);  /* (the memo's bracket: see "the memo") */
                    bracketed = 1;
                }
                res = PyObject_CallOneArg(cb, param);
            }
            Py_XDECREF(param);
        } else if (cb != NULL)
            res = Py_NewRef(Py_None);
        Py_XDECREF(cb);
    }
    Py_XDECREF(cbr);
    if (res == NULL) {
        PyObject *exc = take_exc();
        int a = add_attr(chan, s_n_callback_errors, 1);
        PyObject *err2 = a < 0 ? take_exc() : NULL;
        PyObject *nm = fget(chan, s_name);
        if (nm == NULL)
            nm = Py_NewRef(Py_None);
        PyErr_Clear();
        put_exc(exc);
        log_exception("%s: callback of %r raised", nm, cyc);
        Py_DECREF(nm);
        if (err2 != NULL) {
            Py_DECREF(cyc);
            put_exc(err2);
            return -1;
        }
    }
    Py_XDECREF(res);
    Py_DECREF(cyc);
    if (bracketed && (!cur_snap->armed || !snap_same(cur_snap)))
        PY_RAN();  /* (a take that could not arm leaves the callback unbracketed: as any other Python) */
    /* self.waitq.wake(): one count while nobody waits */
    PyObject *wq = CACHED(c_waitq) ? Py_NewRef(cur_memo->c_waitq) : fget(chan, s_waitq);
    if (wq == NULL)
        return -1;
    long long waiters;
    if (Py_IS_TYPE(wq, (PyTypeObject *)K[K_WAITQ]) && dpeek_ll(D_WQ_WAITERS, wq, s_waiters, &waiters) && waiters == 0)
        r = dadd(D_WQ_SEQ, wq, s__seq, 1);
    else
        r = call_noargs(wq, s_wake);
    Py_DECREF(wq);
    return r;
}

/* The calling thread's dict of the bottom-half mark (a threading.local), fetched once per period_run call (one
 * thread); NULL: not fetched yet. */
static PyObject *cur_ldict = NULL;
/* The last value local_add wrote to cur_ldict and the dict's version after it (ld_set: that dict, else NULL). */
static PyObject *ld_set = NULL, *ld_val = NULL;
static uint64_t ld_ver = 0;

/* ``_local.depth += d`` (the bottom-half mark): in the thread's dict directly while the class keeps ``depth`` as a
 * plain int class attribute (no descriptor: what local_getattro/local_setattro do then); else the generic way. */
static int local_add(long long d)
{
    PyObject *lo = K[K_LOCAL];
    PyObject *dv = cur_memo != NULL && !py_ran && cur_memo->local_dv != NULL && lo == K_local_obj
                   ? cur_memo->local_dv : _PyType_Lookup(Py_TYPE(lo), s_depth);
    if (dv == NULL || !PyLong_CheckExact(dv))
        return add_attr(lo, s_depth, d);
    if (cur_ldict == NULL) {
        PyObject *ld = PyObject_GetAttrString(lo, "__dict__");
        if (ld == NULL || !PyDict_CheckExact(ld)) {
            Py_XDECREF(ld);
            PyErr_Clear();
            return add_attr(lo, s_depth, d);
        }
        cur_ldict = ld;
    }
    PyObject *v;
#if HAVE_MEMO
    if (ld_set == cur_ldict && ((PyDictObject *)cur_ldict)->ma_version_tag == ld_ver)
        v = ld_val;  /* (the dict is as our last write left it: PEP 509) */
    else
#endif
    {
        v = PyDict_GetItemWithError(cur_ldict, s_depth);
        if (v == NULL) {
            if (PyErr_Occurred())
                return -1;
            v = dv;
        }
    }
    long long x;
    PyObject *nv;
    if (rd(v, &x) && x > -LIMIT && x < LIMIT)
        nv = PyLong_FromLongLong(x + d);
    else
        nv = py_add(v, d);
    if (nv == NULL)
        return -1;
    int r = PyDict_SetItem(cur_ldict, s_depth, nv);
    ld_set = NULL;
#if HAVE_MEMO
    if (r == 0) {
        ld_set = cur_ldict;
        ld_val = nv;  /* (borrowed: the dict holds it while its version stays) */
        ld_ver = ((PyDictObject *)cur_ldict)->ma_version_tag;
    }
#endif
    Py_DECREF(nv);
    return r;
}

/* SimTasklet._run of the held run, with BottomHalf.run inline for the one channel queued. */
static int tasklet_run(Ev *e, long long now)
{
    PyObject *tl = e->tl;
    if (dset(D_TL_EV, tl, s__ev, Py_None) < 0)
        return -1;
    PyObject *run_id = dget(D_TL_SCHED, tl, s__scheduled);
    if (run_id == NULL)
        return -1;
    /* Soc.sync and the flag are before the tasklet's try: an error there propagates */
    if (soc_sync(e, now) < 0 || dset(D_TL_RUNNING, tl, s__running, Py_True) < 0) {
        Py_DECREF(run_id);
        return -1;
    }
    int r;
    if (local_add(1) < 0) {
        Py_DECREF(run_id);
        goto fail;
    }
    /* BottomHalf.run: the channel the interrupt queued, then (in Python) any other one asked meanwhile */
    PyObject *bh = e->bh;
    PyObject *q = dget(D_BH_QUEUE, bh, s__queue);
    PyObject *qd = dget(D_BH_QUEUED, bh, s__queued);
    PyObject *lk = dget(D_BH_LOCK, bh, s__lock);
    r = (q && qd && lk) ? 0 : -1;
    int noted = r == 0 && bh_q != NULL && bh_q == q && bh_qd == qd;  /* (the interrupt's entry, noted: the one) */
    if (!noted)
        bh_flush();
    if (r == 0 && (noted || PyObject_Length(q) == 1)) {
        int took = 1;
        r = lock_enter(lk, &took);  /* (the queue and the set are the exact classes: precheck) */
        if (r == 0) {
            PyObject *got, *key = NULL;
            if (noted) {  /* popleft and discard of the noted entry: nothing to do but take it */
                got = Py_NewRef(bh_chan);
                bh_q = bh_qd = bh_chan = bh_key = NULL;
            } else {
                got = q_popleft(q);
                key = got != NULL ? chan_key(got) : NULL;
                if (got == NULL || key == NULL || PySet_Discard(qd, key) < 0)
                    r = -1;
            }
            Py_XDECREF(key);
            if (lock_exit(lk, took) < 0)
                r = -1;
            if (r == 0 && got != e->chan) {
                /* not the channel the interrupt queued: BottomHalf.run would serve it; do exactly that */
                PY_RAN();
                PyObject *x = PyObject_CallMethodNoArgs(got, s_bottom_half);
                if (x == NULL) {
                    add_attr(bh, s_failures, 1);
                    PyObject *nm = fget(got, s_name);
                    log_exception("bottom half of %s failed", nm ? nm : Py_None, NULL);
                    Py_XDECREF(nm);
                }
                Py_XDECREF(x);
            } else if (r == 0 && chan_bottom_half(e) < 0) {
                add_attr(bh, s_failures, 1);
                PyObject *nm = fget(e->chan, s_name);
                log_exception("bottom half of %s failed", nm ? nm : Py_None, NULL);
                Py_XDECREF(nm);
            }
            Py_XDECREF(got);
        }
    }
    if (r == 0 && PyObject_Length(q) > 0)
        r = call_noargs(bh, s_run);
    Py_XDECREF(q);
    Py_XDECREF(qd);
    Py_XDECREF(lk);
    {
        PyObject *exc = r < 0 ? take_exc() : NULL;
        int r2 = local_add(-1);
        if (exc != NULL) {
            if (r2 < 0)
                PyErr_Clear();
            put_exc(exc);
        } else if (r2 < 0)
            r = -1;
    }
    if (r < 0) {
        PyObject *nm = fget(tl, s_name);
        log_exception("bottom half %s failed", nm ? nm : Py_None, NULL);
        Py_XDECREF(nm);
    }
    r = dset(D_TL_RUNNING, tl, s__running, Py_False);
    if (r == 0)
        r = dset(D_TL_DONE, tl, s__done, run_id);
    Py_DECREF(run_id);
    return r;
fail: {
        PyObject *nm = fget(tl, s_name);
        log_exception("bottom half %s failed", nm ? nm : Py_None, NULL);
        Py_XDECREF(nm);
        r = fset(tl, s__running, Py_False);
        return r;
    }
}

/* Event(time_ns, fn, label, priority, seq), its __init__ (sim/_kernel.py) done here: the same six slots. */
static PyObject *new_event(PyObject *time_ns, PyObject *fn, PyObject *label, PyObject *priority, PyObject *seq)
{
    PyTypeObject *tp = (PyTypeObject *)K[K_EVENT];
    PyObject *ev = tp->tp_alloc(tp, 0);
    if (ev == NULL)
        return NULL;
    Memo *M = cur_memo;
    if (M != NULL && !py_ran && M->ev_off[E_TIME] != 0) {  /* (the slots, fresh: nothing to let go) */
        PyObject *const v[NE] = {time_ns, fn, label, priority, seq, Py_False};
        for (int i = 0; i < NE; i++)
            *(PyObject **)((char *)ev + M->ev_off[i]) = Py_NewRef(v[i]);
        return ev;
    }
    if (fset(ev, s_time_ns, time_ns) < 0 || fset(ev, s_fn, fn) < 0 || fset(ev, s_label, label) < 0
        || fset(ev, s_priority, priority) < 0 || fset(ev, s_seq, seq) < 0 || fset(ev, s_cancelled, Py_False) < 0) {
        Py_DECREF(ev);
        return NULL;
    }
    return ev;
}

/* Slot ``i`` of a held object (an Event's, by the memo's offsets) set to ``v``: the old value let go. */
INLINE void slot_set(PyObject *o, Py_ssize_t off, PyObject *v)
{
    PyObject **a = (PyObject **)((char *)o + off);
    PyObject *old = *a;
    *a = Py_NewRef(v);
    Py_XDECREF(old);
}

/* The next period's Event: the one just run when only this file still holds it (its queue entry, ``e->spare``,
 * and the reference heap_top keeps; no weak reference can reach it: Event has no __weakref__ slot), its slots
 * set as Event.__init__ sets them; else a new one. Nothing can tell the two apart: no code holds the old one. */
static PyObject *reuse_event(Ev *e, PyObject *time_ns, PyObject *fn, PyObject *label, PyObject *priority,
                             PyObject *seq)
{
    Memo *M = cur_memo;
    PyObject *old = e->ev;
    if (M != NULL && !py_ran && M->ev_off[E_TIME] != 0 && old != NULL && Py_IS_TYPE(old, (PyTypeObject *)K[K_EVENT])
        && Py_TYPE(old)->tp_weaklistoffset == 0 && e->spare != NULL && PyTuple_GET_ITEM(e->spare, 3) == old
        && Py_REFCNT(old) == 2) {
        PyObject *const v[NE] = {time_ns, fn, label, priority, seq, Py_False};
        for (int i = 0; i < NE; i++)
            slot_set(old, M->ev_off[i], v[i]);
        return Py_NewRef(old);
    }
    return new_event(time_ns, fn, label, priority, seq);
}

/* The queue entry (time_ns, priority, seq, ev): the one run_until popped when only this file holds it (a tuple no
 * code can see; its items replaced as a fresh tuple's would be), else a new one. */
static PyObject *reuse_entry(Ev *e, PyObject *time_ns, PyObject *priority, PyObject *seq, PyObject *ev)
{
    PyObject *t = e->spare;
    if (t == NULL || Py_REFCNT(t) != 1)
        return PyTuple_Pack(4, time_ns, priority, seq, ev);
    e->spare = NULL;
    PyObject *const v[4] = {time_ns, priority, seq, ev};
    PyObject *old[4];
    for (int i = 0; i < 4; i++) {
        old[i] = PyTuple_GET_ITEM(t, i);
        PyTuple_SET_ITEM(t, i, Py_NewRef(v[i]));
    }
    for (int i = 0; i < 4; i++)
        Py_DECREF(old[i]);
    return t;
}

/* PeriodLane.schedule of the next period's end, its plain case inline; else the Python method. */
static int lane_schedule(Ev *e)
{
    PyObject *kern = e->kern, *lane = e->lane;
    long long watch, now, nheap = PyList_GET_SIZE(e->heap);
    int plain = dis(D_KERN_POSTPONED, kern, s_postponed, Py_None) && dpeek_ll(D_KERN_WATCH, kern, s_watch_ns, &watch)
                && dpeek_ll(D_KERN_NOW, kern, s_now_ns, &now) && dis(D_TL_KILLED, e->tl, s_killed, Py_False)
                && !(e->end2 <= now + e->latency) && nheap <= 16 && !(e->due2 <= watch) && !(e->due2 < now);
    for (Py_ssize_t i = 0; plain && i < nheap && i < PyList_GET_SIZE(e->heap); i++) {
        PyObject *ent = PyList_GET_ITEM(e->heap, i);
        long long t;
        if (!PyTuple_CheckExact(ent) || PyTuple_GET_SIZE(ent) != 4 || !rd(PyTuple_GET_ITEM(ent, 0), &t)
            || !Py_IS_TYPE(PyTuple_GET_ITEM(ent, 3), (PyTypeObject *)K[K_EVENT])) {
            plain = 0;  /* (an entry only Python understands: its own code decides) */
            break;
        }
        if (e->end2 <= t && t <= e->due2 && !ev_cancelled(PyTuple_GET_ITEM(ent, 3)))
            plain = 0;
    }
    PyObject *label = dget(D_CH_LABEL, e->ch, s_item_label);
    if (label == NULL)
        return -1;
    if (!plain) {
        PyObject *endv = PyLong_FromLongLong(e->end2);
        PY_RAN();
        PyObject *ev = endv ? PyObject_CallMethodObjArgs(lane, s_schedule, e->ch, endv, e->fn, label, NULL) : NULL;
        Py_XDECREF(endv);
        Py_DECREF(label);
        if (ev == NULL)
            return -1;
        int r = dset(D_CH_EV, e->ch, s_ev, ev);
        Py_DECREF(ev);
        return r;
    }
    /* seq = next(k._seq); Event(due, self._run, label, PRIO_HW, seq); heappush */
    PyObject *seqit = dget(D_KERN_SEQ, kern, s__seq);
    PyObject *seq = seqit ? PyIter_Next(seqit) : NULL;
    Py_XDECREF(seqit);
    if (seq == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "the kernel's sequence ended");
        Py_DECREF(label);
        return -1;
    }
    /* lane._run: a plain function of the lane's class is bound here (no generic getattr: nothing else can run) */
    int direct = cur_memo != NULL && !py_ran && lane == cur_memo->base.lane;
    PyObject *runf = direct && cur_memo->lane_run != NULL ? cur_memo->lane_run : _PyType_Lookup(Py_TYPE(lane), s__run);
    PyObject *run = direct && cur_memo->lane_bound != NULL ? Py_NewRef(cur_memo->lane_bound)
                    : runf != NULL && PyFunction_Check(runf) ? PyMethod_New(runf, lane) : fget(lane, s__run);
    PyObject *duev = PyLong_FromLongLong(e->due2);
    PyObject *prio = PyLong_FromLong(0);
    PyObject *ev = (run && duev && prio) ? reuse_event(e, duev, run, label, prio, seq) : NULL;
    PyObject *ent = ev ? reuse_entry(e, duev, prio, seq, ev) : NULL;
    int r = ent != NULL ? heap_push(e->heap, ent) : -1;
    Py_XDECREF(ent);
    Py_XDECREF(run);
    Py_XDECREF(prio);
    Py_XDECREF(seq);
    if (r == 0)
        r = dset(D_LANE_EV, lane, s__ev, ev);
    if (r == 0)
        r = dset_ll(D_LANE_END, lane, s__end_ns, e->end2);
    if (r == 0)
        r = dset(D_LANE_DUE, lane, s__due_ns, duev);
    if (r == 0)
        r = dset(D_LANE_FN, lane, s__fn, e->fn);
    if (r == 0)
        r = dset(D_LANE_LABEL, lane, s__label, label);
    if (r == 0)
        r = dset(D_LANE_OWNER, lane, s__owner, e->ch);
    if (r == 0)
        r = dset_ll(D_LANE_PEND, lane, s_postponed_end_ns, e->end2);
    if (r == 0)
        r = dset(D_KERN_POSTPONED, kern, s_postponed, lane);
    if (r == 0 && e->due2 > watch)
        r = dset(D_KERN_WATCH, kern, s_watch_ns, duev);
    if (r == 0)
        r = dset(D_CH_EV, e->ch, s_ev, ev);
    Py_XDECREF(duev);
    Py_XDECREF(ev);
    Py_DECREF(label);
    return r;
}

/* The interrupt: SimDmaDevice._irq(idx, PERIOD, NOERROR, 0), its cyclic case (checked by precheck). */
static int period_irq(Ev *e)
{
    PyObject *chan = e->chan;
    PyObject *lock = CACHED(c_lock) ? Py_NewRef(cur_memo->c_lock) : fget(chan, s_lock);
    if (lock == NULL)
        return -1;
    /* (no lock is left out where Python code could run inside: a property, a sequence that is not a count) */
    int may_skip = (daddr(D_CHAN_RUNNING, chan) && daddr(D_CHAN_CYCLIC, chan) && daddr(D_KERN_SEQ, e->kern))
                   || (plain_attr(chan, s_running) && plain_attr(chan, s_cyclic) && plain_attr(e->kern, s__seq));
    if (may_skip) {
        PyObject *seqit = dget(D_KERN_SEQ, e->kern, s__seq);
        may_skip = seqit != NULL && count_type != NULL && Py_IS_TYPE(seqit, count_type);
        Py_XDECREF(seqit);
        PyErr_Clear();
    }
    int took = 1, btook = 1;
    if (may_skip ? lock_enter(lock, &took) < 0 : call_noargs(lock, s_acquire) < 0) {
        Py_DECREF(lock);
        return -1;
    }
    int r = 0;
    PyObject *old = NULL;  /* the slot's old value, let go after the lock (its last reference may run code) */
    PyObject *vd = dget(D_CHAN_RUNNING, chan, s_running);
    if (vd == NULL)
        r = -1;
    else if (vd != Py_None) {
        /* vchan_cyclic_callback(vd): the slot, then DmaDevice.schedule_bottom_half -> BottomHalf.schedule */
        old = dget(D_CHAN_CYCLIC, chan, s_cyclic);
        r = old == NULL ? -1 : dset(D_CHAN_CYCLIC, chan, s_cyclic, vd);
        PyObject *bh = e->bh;
        PyObject *key = r == 0 ? chan_key(chan) : NULL;
        PyObject *blk = key ? dget(D_BH_LOCK, bh, s__lock) : NULL;
        PyObject *qd = blk ? dget(D_BH_QUEUED, bh, s__queued) : NULL;
        PyObject *q = qd ? dget(D_BH_QUEUE, bh, s__queue) : NULL;
        int in = -1;
        if (q != NULL && may_skip && cur_memo != NULL && !py_ran && key == cur_memo->chan_key && chan == cur_memo->base.chan
            && q == cur_memo->base.q && qd == cur_memo->base.qd && Py_IS_TYPE(q, (PyTypeObject *)K[K_DEQUE])
            && PyObject_Length(q) == 0 && PySet_CheckExact(qd) && PySet_GET_SIZE(qd) == 0 && lock_type != NULL
            && Py_IS_TYPE(blk, lock_type) && ((LockMirror *)blk)->locked == 0 && deque_append_d != NULL
            && bh_q == NULL) {
            bh_q = q;  /* (noted: see "the bottom half's queue entry, deferred") */
            bh_qd = qd;
            bh_chan = chan;
            bh_key = key;
            in = 0;
        }
        if (in == 0)
            ;
        else if (q == NULL || (may_skip ? lock_enter(blk, &btook) < 0 : call_noargs(blk, s_acquire) < 0))
            r = -1;
        else {
            in = PySet_Contains(qd, key);
            if (in < 0)
                r = -1;
            else if (!in) {
                PyObject *x = PySet_Add(qd, key) < 0 ? NULL : q_append(q, chan);
                if (x == NULL)
                    r = -1;
                Py_XDECREF(x);
            }
            if (lock_exit(blk, btook) < 0)
                r = -1;
        }
        if (r == 0 && in == 0) {
            if (dis(D_TL_EV, e->tl, s__ev, Py_None) && dis(D_TL_KILLED, e->tl, s_killed, Py_False)) {
                /* SimTasklet.schedule while held: a sequence number kept, not queued */
                r = dadd(D_TL_SCHED, e->tl, s__scheduled, 1);
                PyObject *seqit = r == 0 ? dget(D_KERN_SEQ, e->kern, s__seq) : NULL;
                PyObject *seq = seqit ? PyIter_Next(seqit) : NULL;
                if (seq == NULL || dset(D_TL_HELDSEQ, e->tl, s_held_seq, seq) < 0
                    || dset(D_TL_EV, e->tl, s__ev, K[K_HELD]) < 0)
                    r = -1;
                Py_XDECREF(seq);
                Py_XDECREF(seqit);
            }
        }
        Py_XDECREF(key);
        Py_XDECREF(blk);
        Py_XDECREF(qd);
        Py_XDECREF(q);
    }
    Py_XDECREF(vd);
    PyObject *exc = r < 0 ? take_exc() : NULL;
    if (lock_exit(lock, took) < 0) {
        if (exc)
            PyErr_Clear();
        r = -1;
    }
    if (exc)
        put_exc(exc);
    Py_DECREF(lock);
    if (old != NULL) {
        exc = r < 0 ? take_exc() : NULL;
        Py_DECREF(old);
        if (exc)
            put_exc(exc);
    }
    return r;
}

/* The codec plays ``e->c`` ticks: _I2sTx._ticks(c, False), its steady case; else the Python method. */
static int codec_ticks(Ev *e)
{
    return codec_ticks_after(e, NULL, 0);
}

/* The played bytes when the FIFO is followed by src[:n] not put in yet (``fifo += src[:n]`` first, in Python):
 * ``bytes(fifo + src)`` when all of it plays (``all``), else ``(fifo + src)[:ku]``, and the FIFO left with the
 * rest. Each byte is copied once: the ones that play into the played object, the rest into the FIFO. */
static PyObject *fifo_put_take(PyObject *f, const char *src, Py_ssize_t n, Py_ssize_t ku, int all)
{
    Py_ssize_t h0 = PyByteArray_GET_SIZE(f);
    PyObject *played = all ? PyBytes_FromStringAndSize(NULL, ku) : PyByteArray_FromStringAndSize(NULL, ku);
    if (played == NULL)
        return NULL;
    char *dst = all ? PyBytes_AS_STRING(played) : PyByteArray_AS_STRING(played);
    PyByteArrayObject *b = (PyByteArrayObject *)f;
    Py_ssize_t k0 = ku < h0 ? ku : h0;  /* from the FIFO */
    memcpy(dst, PyByteArray_AS_STRING(f), (size_t)k0);
    memcpy(dst + k0, src, (size_t)(ku - k0));  /* (then from src) */
    if (b->ob_bytes != NULL) {
        b->ob_start += k0;
        Py_SET_SIZE(b, h0 - k0);
        b->ob_start[h0 - k0] = '\0';
    }
    if (fifo_put(f, src + (ku - k0), n - (ku - k0)) < 0) {
        Py_DECREF(played);
        return NULL;
    }
    return played;
}

/* codec_ticks when src[:n] goes into the FIFO first (Dmac._period_end: the period's last bytes, then the ticks). */
static int codec_ticks_after(Ev *e, const char *src, Py_ssize_t n)
{
    long long c = e->c, ku = c * e->u;
    Py_ssize_t have = PyByteArray_GET_SIZE(e->fifo) + n;
    if (n > 0 && (have < ku || !fifo_plain(e->fifo))) {
        if (fifo_put(e->fifo, src, n) < 0)  /* (not the steady case: in first, as Python) */
            return -1;
        n = 0;
    }
    long long limit = 0, kept = 0;
    PyObject *lim = NULL;
    if (Py_IS_TYPE(e->cap, (PyTypeObject *)K[K_CAPTURE])) {
        lim = dget(D_CAP_LIMIT, e->cap, s_limit);
        if (lim == NULL)
            PyErr_Clear();
    }
    int fits = lim != NULL && (lim == Py_None || as_ll(lim, &limit)) && dpeek_ll(D_CAP_KEPT, e->cap, s__kept, &kept)
               && (lim == Py_None || kept + ku <= limit);
    Py_XDECREF(lim);
    if (have < ku) {
        PyObject *cv = PyLong_FromLongLong(c);
        PY_RAN();
        PyObject *x = cv ? PyObject_CallMethodObjArgs(e->port, s__ticks, cv, Py_False, NULL) : NULL;
        Py_XDECREF(cv);
        if (x == NULL)
            return -1;
        Py_DECREF(x);
        return 0;
    }
    PyObject *played = n > 0 ? fifo_put_take(e->fifo, src, n, ku, have == ku)
                       : have == ku ? fifo_take_all(e->fifo) : fifo_take(e->fifo, ku);
    if (played == NULL) {
        if (n > 0 && PyByteArray_GET_SIZE(e->fifo) + n == have) {  /* (nothing moved: in, as Python has it) */
            PyObject *exc = take_exc();
            if (fifo_put(e->fifo, src, n) < 0)
                PyErr_Clear();
            put_exc(exc);
        }
        return -1;
    }
    int r;
    if (fits) {  /* ByteCapture.append, inlined while within its bound */
        PyObject *chunks = dget(D_CAP_CHUNKS, e->cap, s__chunks);
        if (chunks != NULL && !PyList_CheckExact(chunks) && !Py_IS_TYPE(chunks, (PyTypeObject *)K[K_DEQUE]))
            PY_RAN();
        if (chunks != NULL && PyList_CheckExact(chunks))
            r = PyList_Append(chunks, played);  /* (list.append itself) */
        else {
            PyObject *x = chunks ? q_append(chunks, played) : NULL;
            r = x == NULL ? -1 : 0;
            Py_XDECREF(x);
        }
        Py_XDECREF(chunks);
        if (r == 0)
            r = dadd(D_CAP_KEPT, e->cap, s__kept, ku);
        if (r == 0)
            r = dadd(D_CAP_TOTAL, e->cap, s_total, ku);
    } else {
        PY_RAN();
        PyObject *x = PyObject_CallMethodOneArg(e->cap, s_append, played);
        r = x == NULL ? -1 : 0;
        Py_XDECREF(x);
    }
    Py_DECREF(played);
    if (r == 0)
        r = dadd(D_PORT_DRAINED, e->port, s_drained, ku);
    if (r == 0)
        r = dadd(D_PORT_TICKS, e->port, s_ticks_done, c);
    return r;
}

static int run_event_steps(Ev *e);

/* One lane event, from run_until's pop to the end of its bottom half. 0, or -1 with an exception set. */
static int run_event(Ev *e)
{
    int r = run_event_steps(e);
    bh_flush();  /* (an interrupt's entry the bottom half did not take: put in, as the interrupt would have) */
    return r;
}

static int run_event_steps(Ev *e)
{
    PyObject *kern = e->kern, *lane = e->lane, *ch = e->ch, *plan = e->plan, *dmac = e->dmac, *tl = e->tl;
    /* Kernel.run_until */
    PyObject *x = heap_pop(e->heap);
    if (x == NULL)
        return -1;
    if (cur_memo != NULL && !py_ran && e->spare == NULL && PyTuple_CheckExact(x) && PyTuple_GET_SIZE(x) == 4
        && Py_REFCNT(x) == 1 && PyObject_GC_IsTracked(x))
        e->spare = x;  /* (only this file holds it: lane_schedule may refill it rather than make another) */
    else
        Py_DECREF(x);
    if (dset_ll(D_KERN_NOW, kern, s_now_ns, e->t) < 0 || dadd(D_KERN_EVRUN, kern, s_events_run, 1) < 0)
        return -1;
    /* PeriodLane._run */
    if (dset(D_LANE_EV, lane, s__ev, Py_None) < 0 || dset_ll(D_LANE_PEND, lane, s_postponed_end_ns, NEVER_NS) < 0
        || dset(D_LANE_OWNER, lane, s__owner, Py_None) < 0 || dset(D_KERN_POSTPONED, kern, s_postponed, Py_None) < 0
        || dset(D_TL_HOLD, tl, s_hold, Py_True) < 0 || dset_ll(D_KERN_NOW, kern, s_now_ns, e->end) < 0)
        return -1;
    int r = 0;
    /* Dmac._period_end: the last bursts' bytes into the FIFO, the ticks due by now */
    if (dset(D_CH_EV, ch, s_ev, Py_None) < 0)
        r = -1;
    if (r == 0 && e->n) {
        /* fifo += bytes; port.written += n; the ticks due (when some play and the FIFO is plain, the bytes go in
         * with them: see fifo_put_take; the count first then: were it to fail, the bytes go in before the error,
         * as in Python). Else in that order: an exported FIFO refuses the bytes before the count moves. */
        const char *src = e->src + e->b0;
        if (e->c <= 0 || !fifo_plain(e->fifo)) {
            r = fifo_put(e->fifo, src, e->n);
            if (r == 0)
                r = dadd(D_PORT_WRITTEN, e->port, s_written, e->n);
            if (r == 0 && e->c > 0)
                r = codec_ticks(e);
        } else if ((r = dadd(D_PORT_WRITTEN, e->port, s_written, e->n)) < 0) {
            PyObject *exc = take_exc();
            if (fifo_put(e->fifo, src, e->n) < 0)
                PyErr_Clear();
            put_exc(exc);
        } else
            r = codec_ticks_after(e, src, e->n);
        if (e->have_buf) {
            PyBuffer_Release(&e->buf);  /* (not held while the client's callback runs) */
            e->have_buf = 0;
        }
    }
    if (r == 0)
        r = dadd(D_DMAC_BURSTS, dmac, s_bursts, e->j - e->m);
    if (r == 0)
        r = dset_ll(D_PLAN_MAT, plan, s_materialized, e->j);
    if (r == 0)
        r = dset_ll(D_PLAN_NL, plan, s_next_land_ns, NEVER_NS);
    PyObject **lga = daddr(D_DMAC_LGNS, dmac);
    long long lgv;
    if (r == 0 && lga != NULL && *lga != NULL && rd(*lga, &lgv)) {  /* (the memo's slot: an int compared in C) */
        if (e->s > lgv) {
            r = dset_ll(D_DMAC_LGNS, dmac, s__last_grant_ns, e->s);
            if (r == 0)
                r = dset_ll(D_DMAC_LG, dmac, s__last_grant, e->ch_idx);
        }
    } else if (r == 0) {
        PyObject *v = dget(D_DMAC_LGNS, dmac, s__last_grant_ns);
        long long lg;
        PyObject *sv = v != NULL && rd(v, &lg) && e->s <= lg ? NULL : PyLong_FromLongLong(e->s);
        int gt = sv == NULL ? (v != NULL && !PyErr_Occurred() ? 0 : -1)
                            : (v ? PyObject_RichCompareBool(sv, v, Py_GT) : -1);
        if (gt < 0)
            r = -1;
        else if (gt) {
            r = dset(D_DMAC_LGNS, dmac, s__last_grant_ns, sv);
            if (r == 0)
                r = dset_ll(D_DMAC_LG, dmac, s__last_grant, e->ch_idx);
        }
        Py_XDECREF(v);
        Py_XDECREF(sv);
    }
    if (r == 0)
        r = dset(D_CH_PLAN, ch, s_plan, Py_None);
    if (r == 0)
        r = dset_ll(D_DMAC_BUSY, dmac, s__busy_until, e->end);
    /* _after_burst: the item ends */
    if (r == 0)
        r = dset_ll(D_CH_ITEMOFF, ch, s_item_off, 0);
    if (r == 0)
        r = e->wrap ? dset_ll(D_CH_DONE, ch, s_done, 0) : dadd(D_CH_DONE, ch, s_done, e->n);
    if (r == 0)
        r = dset_ll(D_CH_ITEMIDX, ch, s_item_idx, e->idx2);
    if (r == 0 && e->irq_on)
        r = period_irq(e);
    /* _continue: the next period follows on */
    if (r == 0)
        r = dset_ll(D_PLAN_FRB, plan, s_first_request_bytes, e->x1);
    if (r == 0)
        r = dset_ll(D_PLAN_START, plan, s_start_ns, e->end);
    if (r == 0)
        r = dset_ll(D_PLAN_MAT, plan, s_materialized, 0);
    if (r == 0)
        r = dset(D_CH_PLAN, ch, s_plan, plan);
    if (r == 0)
        r = dset(D_CH_STATE, ch, s_state, K[K_STEADY]);
    if (r == 0)
        r = dadd(D_DMAC_PLANS, dmac, s_plans, 1);
    if (r == 0)
        r = dset_ll(D_PLAN_NL, plan, s_next_land_ns, e->nl);
    PyObject **sya = daddr(D_DMAC_SYNC, dmac);
    long long syv;
    if (r == 0 && sya != NULL && *sya != NULL && rd(*sya, &syv)) {
        if (e->nl < syv)
            r = dset_ll(D_DMAC_SYNC, dmac, s__sync_ns, e->nl);
    } else if (r == 0) {
        PyObject *v = dget(D_DMAC_SYNC, dmac, s__sync_ns);
        long long sy;
        PyObject *nv = v != NULL && rd(v, &sy) && e->nl >= sy ? NULL : PyLong_FromLongLong(e->nl);
        bh_flush();  /* (a generic compare may run Python) */
        int lt = nv == NULL ? (v != NULL && !PyErr_Occurred() ? 0 : -1)
                            : (v ? PyObject_RichCompareBool(nv, v, Py_LT) : -1);
        if (lt < 0)
            r = -1;
        else if (lt)
            r = dset(D_DMAC_SYNC, dmac, s__sync_ns, nv);
        Py_XDECREF(v);
        Py_XDECREF(nv);
    }
    if (r == 0)
        r = lane_schedule(e);
    /* back in PeriodLane._run (its try/finally: hold off whatever happened) */
    {
        PyObject *exc = r < 0 ? take_exc() : NULL;
        int r2 = dset(D_TL_HOLD, tl, s_hold, Py_False);
        if (exc) {
            if (r2 < 0)
                PyErr_Clear();
            put_exc(exc);
            return -1;
        }
        if (r2 < 0)
            return -1;
    }
    long long seq;
    PyObject *seqv = dget(D_TL_HELDSEQ, tl, s_held_seq);
    if (seqv == NULL)
        return -1;
    if (!rd(seqv, &seq)) {
        Py_DECREF(seqv);
        PyErr_SetString(PyExc_TypeError, "held_seq must be an int");
        return -1;
    }
    if (dset_ll(D_TL_HELDSEQ, tl, s_held_seq, -1) < 0) {
        Py_DECREF(seqv);
        return -1;
    }
    for (;;) {  /* k.peek() */
        if (PyList_GET_SIZE(e->heap) == 0)
            break;
        PyObject *top = PyList_GET_ITEM(e->heap, 0);
        PyObject *tev = PyTuple_CheckExact(top) && PyTuple_GET_SIZE(top) == 4 ? PyTuple_GET_ITEM(top, 3) : NULL;
        if (tev == NULL || !Py_IS_TYPE(tev, (PyTypeObject *)K[K_EVENT]) || !ev_cancelled(tev))
            break;
        x = heap_pop(e->heap);
        if (x == NULL) {
            Py_DECREF(seqv);
            return -1;
        }
        Py_DECREF(x);
    }
    if (PyList_GET_SIZE(e->heap)) {
        PyObject *top = PyList_GET_ITEM(e->heap, 0);
        PyObject *tv = PyTuple_CheckExact(top) && PyTuple_GET_SIZE(top) >= 1 ? PyTuple_GET_ITEM(top, 0) : NULL;
        long long tt;
        int known = tv != NULL && rd(tv, &tt);
        PyObject *duev = known && tt > e->due ? NULL : PyLong_FromLongLong(e->due);
        if (!known)
            bh_flush();  /* (a generic compare may run Python) */
        int le = known && tt > e->due ? 0 : (tv && duev) ? PyObject_RichCompareBool(tv, duev, Py_LE) : -1;
        if (le != 0) {
            int rr = le;
            if (le > 0 && seq >= 0) {
                PY_RAN();
                x = PyObject_CallMethodObjArgs(tl, s_queue_held, duev, seqv, NULL);
                rr = x == NULL ? -1 : 0;
                Py_XDECREF(x);
            }
            Py_XDECREF(duev);
            Py_DECREF(seqv);
            return rr < 0 ? -1 : 0;
        }
        Py_XDECREF(duev);
    }
    Py_DECREF(seqv);
    if (dset_ll(D_KERN_NOW, kern, s_now_ns, e->due) < 0)
        return -1;
    if (seq >= 0) {
        if (dadd(D_LANE_MERGED, lane, s_merged, 1) < 0)
            return -1;
        if (dis(D_TL_EV, tl, s__ev, K[K_HELD]))  /* run_now */
            return tasklet_run(e, e->due);
    }
    return 0;
}

/* period_run(kernel, limit_ns) -> bool */
static PyObject *period_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "period_run takes 2 arguments (kernel, limit_ns), not %zd", nargs);
        return NULL;
    }
    long long limit;
    if (!PyLong_Check(args[1])) {
        PyErr_Format(PyExc_TypeError, "limit_ns must be an int, not %R", args[1]);
        return NULL;
    }
    int overflow = 0;
    limit = PyLong_AsLongLongAndOverflow(args[1], &overflow);
    if (limit == -1 && PyErr_Occurred())
        return NULL;
    if (overflow > 0 || limit > LIMIT)
        limit = LIMIT;
    if (overflow < 0)
        Py_RETURN_FALSE;
    if (!k_ready)
        Py_RETURN_FALSE;
    PyObject *kern = args[0];
    int ran = 0;
    /* (a callback may call period_run again: the outer call's state is put back, and it keeps no memo) */
    Snap *outer_snap = cur_snap;
    Memo *outer_memo = cur_memo;
    PyObject *outer_ldict = cur_ldict;
    cur_ldict = NULL;
    Memo *M = PyMem_Calloc(1, sizeof(Memo));
    if (M == NULL)
        return PyErr_NoMemory();
    PyObject *result = NULL;
    for (;;) {
        Ev e;
        int ok = 0;
        if (M->valid && M->base.kern == kern) {
            set_memo(M);  /* (no Python ran since the last period: its direct access holds) */
            ok = quick(M, &e, limit);
            set_memo(NULL);
            if (ok > 0)
                n_quick++;
            else {
                ev_free(&e);
                memo_clear(M);
                if (ok < 0)
                    goto out;
            }
        }
        if (ok == 0) {
            memo_clear(M);
            memset(&e, 0, sizeof e);
            ok = precheck(&e, kern, limit);
            if (ok <= 0) {
                ev_free(&e);
                if (ok < 0)
                    goto out;
                break;
            }
            n_full++;
            memo_take(M, &e);
        }
        py_ran = 0;
        Py_ssize_t gc0 = gc_runs;
        M->snap.armed = M->snap.ok = 0;
        cur_snap = M->planned ? &M->snap : NULL;
        set_memo(M->planned ? M : NULL);
        if (dset(D_KERN_DISPATCH, kern, s_dispatching, Py_True) < 0) {
            cur_snap = NULL;
            set_memo(NULL);
            ev_free(&e);
            goto out;
        }
        int r = run_event(&e);
        PyObject *exc = r < 0 ? take_exc() : NULL;
        int r2 = dset(D_KERN_DISPATCH, kern, s_dispatching, Py_False);
        cur_snap = NULL;
        set_memo(NULL);
        ev_free(&e);
        M->valid = M->planned && r == 0 && r2 == 0 && !py_ran && gc_runs == gc0;
        if (!M->valid)
            memo_clear(M);
        if (exc) {
            if (r2 < 0)
                PyErr_Clear();
            put_exc(exc);
            goto out;
        }
        if (r2 < 0)
            goto out;
        ran++;
    }
    result = PyBool_FromLong(ran > 0);
out:
    memo_clear(M);
    vc_clear(M->vc);
    PyMem_Free(M);
    cur_snap = outer_snap;
    cur_memo = outer_memo;  /* (and dm NULL: PY_RAN below) */
    Py_XDECREF(cur_ldict);
    cur_ldict = outer_ldict;
    ld_set = NULL;
    PY_RAN();
    return result;
}

/* gc.callbacks: a collection may run finalizers (Python): the running period keeps no memo. */
static PyObject *period_gc(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    (void)args;
    (void)nargs;
    gc_runs++;
    Py_RETURN_NONE;
}

/* period_memo(on: bool) -> bool (the previous setting): whether period_run may skip the full precheck. */
static PyObject *period_memo(PyObject *self, PyObject *arg)
{
    (void)self;
    int on = PyObject_IsTrue(arg);
    if (on < 0)
        return NULL;
    int was = memo_on;
    memo_on = on && HAVE_MEMO;
    return PyBool_FromLong(was);
}

/* period_stats() -> (full, quick, sync): prechecks done in full and from the memo, and the controller's syncs done
 * in C (dmac_sync), since the module loaded. */
static PyObject *period_stats(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return Py_BuildValue("(LLL)", n_full, n_quick, n_sync);
}

/* ``f`` is _heapq's own function ``name`` (a builtin of that module: what heap_push and heap_pop follow) */
static int is_heapq(PyObject *f, const char *name)
{
    if (!PyCFunction_CheckExact(f))
        return 0;
    PyCFunctionObject *c = (PyCFunctionObject *)f;
    return c->m_ml != NULL && strcmp(c->m_ml->ml_name, name) == 0 && c->m_module != NULL
           && PyUnicode_Check(c->m_module) && PyUnicode_CompareWithASCIIString(c->m_module, "_heapq") == 0;
}

/* period_setup(consts: dict): the classes and functions whose code this file follows (sim/_driver.py). */
static PyObject *period_setup(PyObject *self, PyObject *arg)
{
    (void)self;
    if (!PyDict_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "period_setup takes a dict, not %.100s", Py_TYPE(arg)->tp_name);
        return NULL;
    }
    PyObject *got[NK];
    for (int i = 0; i < NK; i++) {
        got[i] = PyDict_GetItemString(arg, k_names[i]);
        if (got[i] == NULL) {
            PyErr_Format(PyExc_KeyError, "period_setup: %s missing", k_names[i]);
            return NULL;
        }
    }
    static const int types[] = {K_EVENT, K_LANE, K_HWCHAN, K_DMAC, K_PLAN, K_FLOW, K_CLOCK, K_I2STX, K_CAPTURE,
                                K_BH, K_TASKLET, K_WAITQ, K_DEQUE};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!PyType_Check(got[types[i]])) {
            PyErr_Format(PyExc_TypeError, "period_setup: %s must be a class, not %R", k_names[types[i]],
                         got[types[i]]);
            return NULL;
        }
    for (int i = 0; i < NK; i++) {
        Py_XSETREF(K[i], Py_NewRef(got[i]));
    }
    K_local_obj = K[K_LOCAL];
    heap_plain = is_heapq(K[K_HEAPPUSH], "heappush") && is_heapq(K[K_HEAPPOP], "heappop");
    static PyMethodDef gc_def = {"period_gc", (PyCFunction)(void (*)(void))period_gc, METH_FASTCALL,
                                 "counts collections for dmaengine's period runner (src/native/period.c)"};
    static int gc_hooked = 0;
    if (!gc_hooked) {
        PyObject *gc = PyImport_ImportModule("gc");
        PyObject *cbs = gc ? PyObject_GetAttrString(gc, "callbacks") : NULL;
        PyObject *f = cbs ? PyCFunction_NewEx(&gc_def, NULL, NULL) : NULL;
        if (f == NULL || !PyList_Check(cbs) || PyList_Append(cbs, f) < 0) {
            Py_XDECREF(f);
            Py_XDECREF(cbs);
            Py_XDECREF(gc);
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_RuntimeError, "period_setup: gc.callbacks is not a list");
            return NULL;
        }
        Py_DECREF(f);
        Py_DECREF(cbs);
        Py_DECREF(gc);
        gc_hooked = 1;
    }
    if (lock_type == NULL)
        lock_type = dmaengine_lock_type_checked();
    if (count_type == NULL) {
        PyObject *mod = PyImport_ImportModule("itertools");
        PyObject *c = mod ? PyObject_CallMethod(mod, "count", NULL) : NULL;
        if (c != NULL)
            count_type = (PyTypeObject *)Py_NewRef((PyObject *)Py_TYPE(c));
        Py_XDECREF(c);
        Py_XDECREF(mod);
        PyErr_Clear();
    }
    if (never_obj == NULL && (never_obj = PyLong_FromLongLong(NEVER_NS)) == NULL)
        return NULL;
    Py_CLEAR(deque_append_d);
    Py_CLEAR(deque_popleft_d);
    if (!PyType_HasFeature((PyTypeObject *)K[K_DEQUE], Py_TPFLAGS_HEAPTYPE)) {  /* (a static class cannot change) */
        PyObject *a = PyObject_GetAttrString(K[K_DEQUE], "append");
        PyObject *p = PyObject_GetAttrString(K[K_DEQUE], "popleft");
        if (a != NULL && p != NULL && Py_IS_TYPE(a, &PyMethodDescr_Type) && Py_IS_TYPE(p, &PyMethodDescr_Type)) {
            deque_append_d = a;
            deque_popleft_d = p;
        } else {
            Py_XDECREF(a);
            Py_XDECREF(p);
        }
        PyErr_Clear();
    }
    k_ready = 1;
    Py_RETURN_NONE;
}

static PyMethodDef period_methods[] = {
    {"period_run", (PyCFunction)(void (*)(void))period_run, METH_FASTCALL,
     "period_run(kernel, limit_ns) -> bool: run the lane's period events due by limit_ns (sim/_lane.py) while "
     "they are the plain case; False when the next event is not one (run it in Python)."},
    {"period_setup", period_setup, METH_O, "period_setup(consts): what period_run follows (sim/_driver.py)."},
    {"period_memo", period_memo, METH_O,
     "period_memo(on) -> bool: let period_run skip the full precheck after a plain period (CPython 3.11; the "
     "default there); returns the previous setting."},
    {"period_stats", period_stats, METH_NOARGS, "period_stats() -> (full, quick, sync): prechecks done in full and from the memo, controller syncs done in C."},
    {NULL, NULL, 0, NULL},
};

int dmaengine_period_init(PyObject *module)
{
#define INTERN(n) if ((s_##n = PyUnicode_InternFromString(#n)) == NULL) return -1;
    NAMES(INTERN)
#undef INTERN
    for (PyMethodDef *d = period_methods; d->ml_name != NULL; d++) {
        PyObject *f = PyCFunction_NewEx(d, NULL, NULL);
        if (f == NULL || PyModule_AddObject(module, d->ml_name, f) < 0) {
            Py_XDECREF(f);
            return -1;
        }
    }
    return 0;
}
