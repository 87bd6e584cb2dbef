/* The simulator's compiled hot path (sim/): the shared-bus schedule's grant loop.
 *
 * BusCore is the state of one sim._bus.BusSchedule and the loop that runs it: the same events, grants,
 * segments, item ends, program ends, stop instants, snapshots and replays as BusSchedule's pure-Python code,
 * which is the specification (read it first: this file follows it line by line). The state is flat int64
 * arrays owned by the object; BusSchedule hands its start state over as a snapshot tuple (its _Snapshot
 * layout) and reads the state back with state(). A flow whose time_of is the plain arithmetic form (_arith) is
 * computed inline, any other is called back in Python. Values taken in must be within +-2**62 (sequence
 * numbers 1.5 * 2**62): the constructor raises OverflowError otherwise, and BusSchedule runs that schedule in
 * Python; so every instant the loop adds up fits in int64, and one computed past it (a flow's time_of, a byte
 * count) raises OverflowError.
 */
#include "native.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <structmember.h>

#define BUS_NEVER ((int64_t)1 << 62)
#define BUS_SNAPSHOT_EVENTS 64
#define BUS_MAX_LANES 64
#define BUS_BOUND BUS_NEVER                            /* the largest magnitude of a value taken in */
#define BUS_SEQ_BOUND (BUS_NEVER + (BUS_NEVER >> 1))   /* ... of a sequence number */

/* Per-lane constants. */
enum { C_IDX, C_BURSTS, C_BB, C_BNS, C_LAST_BYTES, C_LAST_BNS, C_ENDS, C_PERIPH, C_ARITH, C_LIMIT, C_REF, C_UNIT,
       C_TICK0, C_EPOCH, C_NUM, C_DEN, NCONST };
/* Per-lane state, in the order of the snapshot tuple's lists. */
enum { S_GRANTED, S_LANDED, S_REQUEST, S_LIMIT, S_SINCE, S_NEXT_END, S_IRQ, S_ITEM_K, NSTATE };
/* A snapshot's scalars, then 4 int64 per heap entry, then NSTATE * n. */
enum { P_AT, P_STOP, P_LAST_POS, P_RR, P_SEQ, P_BUSY, P_LAST_GRANT, P_LAST_GRANT_NS, P_WAITING, P_EVENTS, P_JUMPS,
       P_NHEAP, NSNAP };

typedef struct {
    int64_t t, seq, kind, pos;
} HeapEnt;

typedef struct {
    int64_t grant, count, stride, dur, bytes, req;
} Seg;

typedef struct {
    Seg *v;
    Py_ssize_t n, cap, taken_si, taken_done;
} SegList;

typedef struct {
    PyObject_HEAD
    Py_ssize_t n;
    int64_t *c;           /* n * NCONST */
    PyObject **time_of;   /* n: the flow's time_of, NULL for memory to memory */
    int64_t **items;      /* n: 2 * nitems[p]: (bursts, irq) of the next items */
    Py_ssize_t *nitems;
    int64_t *s;           /* n * NSTATE */
    HeapEnt *heap;
    Py_ssize_t nheap, capheap;
    SegList *segs;        /* n */
    int64_t **snaps;
    Py_ssize_t nsnaps, capsnaps;
    PyObject *item_ends, *program_ends;  /* lists shared with the BusSchedule */
    PyObject **movers_ok; /* n: the mover tuple check_mover last passed for each lane (a reference), or NULL */
    int64_t stop, rr, seq, busy, last_grant, last_grant_ns, events, jumps, last_pos, computed, last_event;
    uint64_t waiting;
} BusCore;

static PyTypeObject BusCoreType;

#define CST(o, p, k) ((o)->c[(p) * NCONST + (k)])
#define ST(o, p, k) ((o)->s[(p) * NSTATE + (k)])

/* --- arithmetic, as Python does it ------------------------------------------------------------------------ */

static inline int64_t floordiv64(int64_t a, int64_t b)  /* a // b, b != 0, no INT64_MIN / -1 */
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static inline int64_t fmod64(int64_t a, int64_t b)  /* a % b, Python's sign */
{
    int64_t r = a % b;
    if (r != 0 && ((r < 0) != (b < 0)))
        r += b;
    return r;
}

static inline __int128 fdiv128(__int128 a, __int128 b)
{
    __int128 q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static int fits(__int128 v, int64_t *out)
{
    if (v > INT64_MAX || v < INT64_MIN) {
        PyErr_SetString(PyExc_OverflowError, "bus schedule: an instant does not fit in 64 bits");
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

/* flow_time past its inline case: the arithmetic in 128 bits, or time_of called. */
static __attribute__((noinline)) int flow_time_slow(BusCore *o, Py_ssize_t pos, int64_t x, int64_t *out)
{
    if (CST(o, pos, C_ARITH)) {
        __int128 q = fdiv128((__int128)CST(o, pos, C_REF) - x, CST(o, pos, C_UNIT));
        __int128 v = ((__int128)CST(o, pos, C_TICK0) - q);
        if (v > INT64_MAX || v < INT64_MIN)
            return fits(v, out);
        v = fdiv128(v * CST(o, pos, C_NUM), CST(o, pos, C_DEN)) + CST(o, pos, C_EPOCH);
        if (fits(v, out) < 0)
            return -1;
        return 1;
    }
    PyObject *r = PyObject_CallFunction(o->time_of[pos], "L", (long long)x);
    if (r == NULL)
        return -1;
    if (r == Py_None) {
        Py_DECREF(r);
        return 0;
    }
    if (!PyLong_Check(r)) {
        PyErr_Format(PyExc_TypeError, "bus schedule: time_of returned %R, not an int or None", r);
        Py_DECREF(r);
        return -1;
    }
    long long v = PyLong_AsLongLong(r);
    Py_DECREF(r);
    if (v == -1 && PyErr_Occurred())
        return -1;
    *out = v;
    return 1;
}

/* Lane pos's flow.time_of(x): 1 with *out, 0 for None, -1 with an exception. Inline: the plain arithmetic form
 * in 64 bits, when nothing overflows (else flow_time_slow: in 128 bits, or time_of called). */
static inline int flow_time(BusCore *o, Py_ssize_t pos, int64_t x, int64_t *out)
{
    const int64_t *c = &CST(o, pos, 0);
    if (c[C_ARITH]) {
        if (x > c[C_LIMIT])
            return 0;
        int64_t unit = c[C_UNIT], den = c[C_DEN], d, t0, m;
        if (unit > 0 && den > 0 && !__builtin_sub_overflow(c[C_REF], x, &d)
                && !__builtin_sub_overflow(c[C_TICK0], floordiv64(d, unit), &t0)
                && !__builtin_mul_overflow(t0, c[C_NUM], &m)
                && !__builtin_add_overflow(floordiv64(m, den), c[C_EPOCH], out))
            return 1;
    }
    return flow_time_slow(o, pos, x, out);
}

/* --- the heap: (t, seq, kind, pos) in tuple order ----------------------------------------------------------- */

static inline int ent_lt(const HeapEnt *a, const HeapEnt *b)
{
    if (a->t != b->t)
        return a->t < b->t;
    if (a->seq != b->seq)
        return a->seq < b->seq;
    if (a->kind != b->kind)
        return a->kind < b->kind;
    return a->pos < b->pos;
}

static inline int heap_push(BusCore *o, int64_t t, int64_t seq, int64_t kind, int64_t pos)
{
    if (o->nheap == o->capheap) {
        Py_ssize_t cap = o->capheap ? 2 * o->capheap : 8;
        HeapEnt *h = PyMem_Realloc(o->heap, (size_t)cap * sizeof(HeapEnt));
        if (h == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        o->heap = h;
        o->capheap = cap;
    }
    HeapEnt e = {t, seq, kind, pos};
    Py_ssize_t i = o->nheap++;
    while (i > 0) {
        Py_ssize_t up = (i - 1) / 2;
        if (!ent_lt(&e, &o->heap[up]))
            break;
        o->heap[i] = o->heap[up];
        i = up;
    }
    o->heap[i] = e;
    return 0;
}

/* Put e at the root of the heap's first nheap entries (the root's own entry is gone) and sift it down. */
static inline __attribute__((always_inline)) void heap_sift_root(BusCore *o, HeapEnt e)
{
    Py_ssize_t n = o->nheap, i = 0;
    for (;;) {
        Py_ssize_t l = 2 * i + 1;
        if (l >= n)
            break;
        if (l + 1 < n && ent_lt(&o->heap[l + 1], &o->heap[l]))
            l++;
        if (!ent_lt(&o->heap[l], &e))
            break;
        o->heap[i] = o->heap[l];
        i = l;
    }
    o->heap[i] = e;
}

static void heap_pop(BusCore *o)
{
    HeapEnt e = o->heap[--o->nheap];
    if (o->nheap)
        heap_sift_root(o, e);
}

/* The segment buffers of dead cores, kept for new ones (a busy SoC's relanes replay into a new core every few
 * milliseconds: its lanes' lists would grow from nothing each time): at most SEG_POOL of them, of at most
 * SEG_POOL_CAP segments each (a longer one is freed). Only touched with the GIL held. */
#define SEG_POOL 32
#define SEG_POOL_CAP 1024
static struct {
    Seg *v;
    Py_ssize_t cap;
} seg_pool[SEG_POOL];
static int seg_npool;

/* A dead core's segment list: into the pool, or freed. */
static void seg_release(SegList *sl)
{
    if (sl->v != NULL && sl->cap <= SEG_POOL_CAP && seg_npool < SEG_POOL) {
        seg_pool[seg_npool].v = sl->v;
        seg_pool[seg_npool++].cap = sl->cap;
    }
    else
        PyMem_Free(sl->v);
    sl->v = NULL;
    sl->cap = 0;
}

/* A lane's segment list longer: a buffer from the pool for an empty one, else twice as long (64 to start with:
 * most lanes of a schedule grant dozens of bursts). */
static __attribute__((noinline)) int seg_grow(SegList *sl)
{
    if (sl->cap == 0 && seg_npool > 0) {
        seg_npool--;
        sl->v = seg_pool[seg_npool].v;
        sl->cap = seg_pool[seg_npool].cap;
        return 0;
    }
    Py_ssize_t cap = sl->cap ? 2 * sl->cap : 64;
    Seg *v = PyMem_Realloc(sl->v, (size_t)cap * sizeof(Seg));
    if (v == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    sl->v = v;
    sl->cap = cap;
    return 0;
}

static inline int seg_add(BusCore *o, Py_ssize_t pos, int64_t grant, int64_t count, int64_t stride, int64_t dur,
                          int64_t bytes, int64_t req)
{
    SegList *sl = &o->segs[pos];
    if (sl->n == sl->cap && seg_grow(sl) < 0)
        return -1;
    sl->v[sl->n++] = (Seg){grant, count, stride, dur, bytes, req};
    return 0;
}

/* The root's entry taken but not yet removed (run_loop's deferred pop): the next push fills the hole with one
 * sift down, in place of a pop's and a push's; heap_settle removes it when no push came. Nothing outside
 * run_loop ever sees a hole: it settles before every call that can run Python code and before it returns. */
static inline __attribute__((always_inline)) int heap_put(BusCore *o, int *hole, int64_t t, int64_t seq,
                                                           int64_t kind, int64_t pos)
{
    if (!*hole)
        return heap_push(o, t, seq, kind, pos);
    *hole = 0;
    heap_sift_root(o, (HeapEnt){t, seq, kind, pos});
    return 0;
}

static inline void heap_settle(BusCore *o, int *hole)
{
    if (*hole) {
        *hole = 0;
        heap_pop(o);
    }
}

/* --- snapshots ---------------------------------------------------------------------------------------------- */

/* The snapshot buffers of dead cores, kept for new snapshots (as the segment buffers are): at most SNAP_POOL,
 * each with the number of int64 it holds at least. Only touched with the GIL held. */
#define SNAP_POOL 64
static struct {
    int64_t *v;
    Py_ssize_t len;
} snap_pool[SNAP_POOL];
static int snap_npool;

/* A buffer of len int64: the last pooled one when it is long enough, else a new one (NULL with no memory). */
static int64_t *snap_alloc(Py_ssize_t len)
{
    if (snap_npool > 0 && snap_pool[snap_npool - 1].len >= len)
        return snap_pool[--snap_npool].v;
    return PyMem_Malloc((size_t)len * sizeof(int64_t));
}

/* A dead core's snapshot of n lanes: into the pool, or freed. */
static void snap_release(int64_t *p, Py_ssize_t n)
{
    if (snap_npool < SNAP_POOL) {
        snap_pool[snap_npool].v = p;
        snap_pool[snap_npool++].len = NSNAP + 4 * p[P_NHEAP] + NSTATE * n;
    }
    else
        PyMem_Free(p);
}

static int snapshot(BusCore *o, int64_t at_ns)
{
    if (o->nsnaps == o->capsnaps) {
        Py_ssize_t cap = o->capsnaps ? 2 * o->capsnaps : 16;
        int64_t **v = PyMem_Realloc(o->snaps, (size_t)cap * sizeof(int64_t *));
        if (v == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        o->snaps = v;
        o->capsnaps = cap;
    }
    int64_t *p = snap_alloc(NSNAP + 4 * o->nheap + NSTATE * o->n);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    p[P_AT] = at_ns;
    p[P_STOP] = o->stop;
    p[P_LAST_POS] = o->last_pos;
    p[P_RR] = o->rr;
    p[P_SEQ] = o->seq;
    p[P_BUSY] = o->busy;
    p[P_LAST_GRANT] = o->last_grant;
    p[P_LAST_GRANT_NS] = o->last_grant_ns;
    p[P_WAITING] = (int64_t)o->waiting;
    p[P_EVENTS] = o->events;
    p[P_JUMPS] = o->jumps;
    p[P_NHEAP] = o->nheap;
    memcpy(p + NSNAP, o->heap, (size_t)o->nheap * sizeof(HeapEnt));
    memcpy(p + NSNAP + 4 * o->nheap, o->s, (size_t)(NSTATE * o->n) * sizeof(int64_t));
    o->snaps[o->nsnaps++] = p;
    return 0;
}

/* --- the loop ------------------------------------------------------------------------------------------------ */

/* A new tuple of k ints (k <= 3): what Py_BuildValue("(L...)") builds, without parsing a format per call. */
static PyObject *int_tuple(int k, int64_t a, int64_t b, int64_t c)
{
    int64_t v[3] = {a, b, c};
    PyObject *r = PyTuple_New(k);
    for (int i = 0; r != NULL && i < k; i++) {
        PyObject *x = PyLong_FromLongLong((long long)v[i]);
        if (x == NULL)
            Py_CLEAR(r);
        else
            PyTuple_SET_ITEM(r, i, x);
    }
    return r;
}

/* list.append(int_tuple(k, a, b, c)): 0 or -1 with an exception. */
static int append_ints(PyObject *list, int k, int64_t a, int64_t b, int64_t c)
{
    PyObject *e = int_tuple(k, a, b, c);
    if (e == NULL)
        return -1;
    int r = PyList_Append(list, e);
    Py_DECREF(e);
    return r;
}

/* BusSchedule._next_item. */
static int next_item(BusCore *o, Py_ssize_t pos, int64_t g, int64_t end_ns)
{
    if (ST(o, pos, S_IRQ) && append_ints(o->item_ends, 2, end_ns, pos, 0) < 0)
        return -1;
    int64_t k = ST(o, pos, S_ITEM_K);
    if (k < 0 || k >= o->nitems[pos]) {
        PyErr_SetString(PyExc_IndexError, "tuple index out of range");
        return -1;
    }
    ST(o, pos, S_IRQ) = o->items[pos][2 * k + 1];
    ST(o, pos, S_NEXT_END) = g + o->items[pos][2 * k];
    ST(o, pos, S_ITEM_K) = k + 1 < o->nitems[pos] ? k + 1 : 0;
    return 0;
}

/* BusSchedule._jump: 1 taken, 0 not, -1 error. */
static int jump(BusCore *o, int64_t t, Py_ssize_t pos, int *hole)
{
    Py_ssize_t n = o->n;
    int64_t tp = o->stop;
    for (Py_ssize_t i = 0; i < o->nheap; i++)
        if (o->heap[i].kind == 1 && o->heap[i].t < tp)
            tp = o->heap[i].t;
    int64_t bns = CST(o, pos, C_BNS);
    Py_ssize_t parts[BUS_MAX_LANES];
    Py_ssize_t k = 0;
    parts[k++] = pos;
    for (Py_ssize_t p = pos + 1; p < n; p++)
        if (o->waiting >> p & 1)
            parts[k++] = p;
    for (Py_ssize_t p = 0; p < pos; p++)
        if (o->waiting >> p & 1)
            parts[k++] = p;
    if (bns == 0) {
        PyErr_SetString(PyExc_ZeroDivisionError, "integer division or modulo by zero");
        return -1;
    }
    __int128 m = (__int128)fdiv128((__int128)tp - 1 - t, bns) + 1;
    for (Py_ssize_t i = 0; i < k; i++) {
        Py_ssize_t p = parts[i];
        if (CST(o, p, C_BNS) != bns)
            return 0;
        __int128 q = (__int128)CST(o, p, C_BURSTS) - ST(o, p, S_GRANTED) - 1;
        __int128 cand = i == 0 ? (q + 1) * k - 1 : q * k + i - 1;
        if (cand < m)
            m = cand;
    }
    if (m < 2)
        return 0;
    int64_t mm = (int64_t)m;  /* m <= (tp - 1 - t) // bns + 1: it fits */
    *hole = 1;  /* heap_pop(o), deferred */
    o->events += mm;
    o->jumps += 1;
    int64_t stride = k * bns;
    for (Py_ssize_t i = 0; i < k; i++) {
        Py_ssize_t p = parts[i];
        int64_t g1 = i ? i : k;
        if (mm >= g1) {
            int64_t c = (mm - g1) / k + 1;
            if (seg_add(o, p, t + (g1 - 1) * bns, c, stride, bns, CST(o, p, C_BB), i == 0 ? t : ST(o, p, S_SINCE))
                < 0)
                return -1;
            ST(o, p, S_GRANTED) += c;
        }
        if (mm > i)
            ST(o, p, S_LANDED) += (mm - i + k - 1) / k;
    }
    Py_ssize_t hold = parts[mm % k];
    int64_t grant = t + (mm - 1) * bns;
    o->waiting = 0;
    for (Py_ssize_t i = 0; i < k; i++) {
        Py_ssize_t p = parts[i];
        if (p != hold) {
            o->waiting |= (uint64_t)1 << p;
            int64_t last = mm - 1 - fmod64(mm - 1 - i, k);
            if (last >= 0)
                ST(o, p, S_SINCE) = t + last * bns;
        }
    }
    if (mm >= k)
        ST(o, hold, S_SINCE) = t + (mm - k) * bns;
    int64_t end = grant + bns;
    o->busy = end;
    o->last_grant = CST(o, hold, C_IDX);
    o->last_grant_ns = grant;
    o->last_pos = hold;
    o->rr = hold + 1;
    o->seq += 1;
    if (heap_put(o, hole, end, o->seq, 0, hold) < 0)
        return -1;
    return 1;
}

/* 1 when an entry at t comes before every entry in the heap (under a hole: in the root's subtrees). */
static inline int heap_before(const BusCore *o, int hole, int64_t t)
{
    const HeapEnt *h = o->heap;
    Py_ssize_t n = o->nheap;
    if (hole)
        return (n < 2 || t < h[1].t) && (n < 3 || t < h[2].t);
    return n < 1 || t < h[0].t;
}

/* BusSchedule._loop (the body; run_loop below settles the heap after it). A grant's landing that comes before
 * every entry in the heap (what it nearly always is: a burst lasts nanoseconds, the other lanes' requests are
 * microseconds apart) is kept out of it, in nx: the loop takes it next, with no sift in and none out. It goes
 * into the heap (NX_FLUSH) wherever the heap must be whole: before a snapshot, a jump, a call that can run
 * Python code (with heap_settle: SETTLE), a break, and an error. */
static int run_loop_body(BusCore *o, int64_t max_events, int snapshots, int *hole)
{
    Py_ssize_t n = o->n;
    int64_t safe[BUS_MAX_LANES];
    uint64_t periph = 0;
    for (Py_ssize_t p = 0; p < n; p++) {
        safe[p] = CST(o, p, C_PERIPH) ? 0 : BUS_NEVER;
        if (CST(o, p, C_PERIPH))
            periph |= (uint64_t)1 << p;
    }
    int64_t work = 0, next_snap = o->events, last_t = -1, computed = o->stop;
    HeapEnt nx = {0, 0, 0, 0};
    int nx_on = 0;
#define NX_FLUSH() (nx_on ? (nx_on = 0, heap_put(o, hole, nx.t, nx.seq, nx.kind, nx.pos)) : 0)
#define SETTLE() do { if (NX_FLUSH() < 0) goto fail; heap_settle(o, hole); } while (0)
    for (;;) {
        /* The next event: the entry kept out of the heap (it is not in it: nothing to pop), else the heap's root
         * (popped when the next push fills its place, or settled). */
        int kept = nx_on;
        if (kept)
            nx_on = 0;
        else {
            heap_settle(o, hole);
            if (!o->nheap)
                break;
        }
        const HeapEnt *cur = kept ? &nx : &o->heap[0];  /* (read here: the heap and nx change below) */
        int64_t t = cur->t, kind = cur->kind;
        Py_ssize_t pos = (Py_ssize_t)cur->pos;
        if (t >= o->stop || (t > last_t && work >= max_events)) {
            computed = t >= o->stop ? o->stop : t;
            nx_on = kept;  /* (back into the heap) */
            if (NX_FLUSH() < 0)
                return -1;
            break;
        }
        if (t > last_t) {
            if (snapshots && o->events >= next_snap) {
                nx_on = kept;  /* (into the heap first: its root now) */
                kept = 0;
                if (NX_FLUSH() < 0 || snapshot(o, t) < 0)
                    return -1;
                next_snap = o->events + BUS_SNAPSHOT_EVENTS;
            }
            last_t = t;
        }
        Py_ssize_t p = -1;  /* the lane granted at t, if any */
        if (kind == 0) {
            if (!CST(o, pos, C_PERIPH) && o->busy <= t && CST(o, pos, C_BNS) < o->stop - t && !(o->waiting & periph)) {
                nx_on = kept;  /* (into the heap first: its root now, as jump takes it) */
                kept = 0;
                if (NX_FLUSH() < 0)
                    return -1;
                int r = jump(o, t, pos, hole);
                if (r < 0)
                    return -1;
                if (r) {
                    work++;
                    continue;
                }
            }
            if (!kept)
                *hole = 1;  /* heap_pop(o), deferred */
            o->events++;
            work++;
            int64_t nl = ++ST(o, pos, S_LANDED);
            int64_t bursts = CST(o, pos, C_BURSTS);
            if (nl >= bursts && CST(o, pos, C_ENDS)) {
                SETTLE();  /* (Python code may run: no hole) */
                if (append_ints(o->program_ends, 3, t, pos, o->seq) < 0)
                    goto fail;
            }
            else if (nl < bursts) {
                if (!CST(o, pos, C_PERIPH)) {
                    o->waiting |= (uint64_t)1 << pos;
                    ST(o, pos, S_SINCE) = t;
                }
                else {
                    int64_t b = CST(o, pos, C_BB), x, lim;
                    if (__builtin_add_overflow(ST(o, pos, S_REQUEST), b, &x)
                        || __builtin_add_overflow(ST(o, pos, S_LIMIT), b, &lim)) {
                        PyErr_SetString(PyExc_OverflowError, "bus schedule: a byte count does not fit in 64 bits");
                        goto fail;
                    }
                    ST(o, pos, S_REQUEST) = x;
                    ST(o, pos, S_LIMIT) = lim;
                    int64_t r;
                    if (!CST(o, pos, C_ARITH))
                        SETTLE();  /* time_of is Python code: no hole */
                    int rc = flow_time(o, pos, x, &r);
                    if (rc < 0)
                        goto fail;
                    if (rc) {
                        if (r <= t) {
                            o->waiting |= (uint64_t)1 << pos;
                            ST(o, pos, S_SINCE) = t;
                        }
                        else {
                            o->seq += 1;
                            if (heap_put(o, hole, r, o->seq, 1, pos) < 0)  /* (nothing kept: taken above) */
                                goto fail;
                            ST(o, pos, S_SINCE) = r;
                        }
                    }
                }
            }
        }
        else {
            if (!kept)
                *hole = 1;  /* heap_pop(o), deferred */
            o->events++;
            work++;
            if (!o->waiting && o->busy <= t)
                p = pos;  /* the bus free and no lane waiting: the arbitration below grants this one */
            else
                o->waiting |= (uint64_t)1 << pos;
        }
        /* Arbitration: the bus is free, grant the waiting lane next after the last granted one. */
        if (p < 0 && o->waiting && o->busy <= t) {
            uint64_t m = o->rr >= 64 ? 0 : (o->waiting >> o->rr << o->rr);
            if (!m)
                m = o->waiting;
            p = __builtin_ctzll(m);
            o->waiting &= ~((uint64_t)1 << p);
        }
        if (p >= 0) {
            int64_t g = ++ST(o, p, S_GRANTED);
            int64_t nbytes, dur;
            if (g < CST(o, p, C_BURSTS)) {
                nbytes = CST(o, p, C_BB);
                dur = CST(o, p, C_BNS);
            }
            else {
                nbytes = CST(o, p, C_LAST_BYTES);
                dur = CST(o, p, C_LAST_BNS);
            }
            int64_t end = t + dur;
            o->busy = end;
            o->rr = p + 1;
            o->last_pos = p;
            o->last_grant_ns = t;
            o->seq += 1;
            if (heap_before(o, *hole, end)) {  /* (nothing kept: taken above) */
                nx = (HeapEnt){end, o->seq, 0, p};
                nx_on = 1;
            }
            else if (heap_put(o, hole, end, o->seq, 0, p) < 0)
                goto fail;
            if (seg_add(o, p, t, 1, 0, dur, nbytes, ST(o, p, S_SINCE)) < 0)
                goto fail;
            if (end < o->stop) {
                if (end >= safe[p]) {
                    int64_t late;
                    int64_t x;
                    if (__builtin_add_overflow(ST(o, p, S_LIMIT), 1, &x)) {
                        PyErr_SetString(PyExc_OverflowError, "bus schedule: a byte count does not fit in 64 bits");
                        goto fail;
                    }
                    if (!CST(o, p, C_ARITH))
                        SETTLE();
                    int rc = flow_time(o, p, x, &late);
                    if (rc < 0)
                        goto fail;
                    safe[p] = rc ? late : BUS_NEVER;
                }
                if (end >= safe[p])
                    o->stop = end;
                else if (g == ST(o, p, S_NEXT_END)) {
                    if (g >= CST(o, p, C_BURSTS)) {
                        if (!CST(o, p, C_ENDS))
                            o->stop = end;
                    }
                    else {
                        SETTLE();  /* next_item may build a tuple: no hole */
                        if (next_item(o, p, g, end) < 0)
                            goto fail;
                    }
                }
            }
        }
    }
    o->computed = computed < o->stop ? computed : o->stop;
    if (last_t > o->last_event)
        o->last_event = last_t;
    if (o->last_pos >= 0)
        o->last_grant = CST(o, o->last_pos, C_IDX);
    return 0;
fail:
    (void)NX_FLUSH();  /* (the schedule is spent; its heap whole) */
    return -1;
#undef NX_FLUSH
#undef SETTLE
}

static int run_loop(BusCore *o, int64_t max_events, int snapshots)
{
    int hole = 0;
    int r = run_loop_body(o, max_events, snapshots, &hole);
    heap_settle(o, &hole);
    return r;
}

/* --- construction -------------------------------------------------------------------------------------------- */

/* An int within +-bound (BUS_BOUND, or BUS_SEQ_BOUND for a sequence number), else OverflowError: every sum of
 * two values the loop forms then fits in int64 (a sequence number only grows by one per event). */
static int get_bounded(PyObject *v, int64_t *out, const char *what, int64_t bound)
{
    if (!PyLong_Check(v)) {
        PyErr_Format(PyExc_TypeError, "BusCore: %s must be an int, not %R", what, v);
        return -1;
    }
    long long x = PyLong_AsLongLong(v);
    if (x == -1 && PyErr_Occurred())
        return -1;
    if (x > bound || x < -bound) {
        PyErr_Format(PyExc_OverflowError, "BusCore: %s %R is out of range", what, v);
        return -1;
    }
    *out = x;
    return 0;
}

static int get_i64(PyObject *v, int64_t *out, const char *what)
{
    return get_bounded(v, out, what, BUS_BOUND);
}

/* A sequence of exactly n items, as a new reference to a tuple or list (PySequence_Fast). */
static PyObject *get_seq(PyObject *v, Py_ssize_t n, const char *what)
{
    PyObject *f = PySequence_Fast(v, what);
    if (f == NULL)
        return NULL;
    if (n >= 0 && PySequence_Fast_GET_SIZE(f) != n) {
        PyErr_Format(PyExc_ValueError, "BusCore: %s must have %zd items, not %zd", what, n,
                     PySequence_Fast_GET_SIZE(f));
        Py_DECREF(f);
        return NULL;
    }
    return f;
}

static BusCore *core_alloc(Py_ssize_t n)
{
    BusCore *o = PyObject_GC_New(BusCore, &BusCoreType);
    if (o == NULL)
        return NULL;
    o->n = n;
    o->c = NULL;
    o->time_of = NULL;
    o->items = NULL;
    o->nitems = NULL;
    o->s = NULL;
    o->heap = NULL;
    o->nheap = o->capheap = 0;
    o->segs = NULL;
    o->movers_ok = NULL;
    o->snaps = NULL;
    o->nsnaps = o->capsnaps = 0;
    o->item_ends = o->program_ends = NULL;
    o->stop = o->rr = o->seq = o->busy = o->last_grant = o->last_grant_ns = o->events = o->jumps = 0;
    o->last_pos = -1;
    o->computed = 0;
    o->last_event = -1;
    o->waiting = 0;
    size_t k = n ? (size_t)n : 1;
    /* The per-lane arrays in one block (8-byte items each: aligned), which o->c starts. */
    char *b = PyMem_Calloc(1, k * (NCONST * sizeof(int64_t) + sizeof(PyObject *) + sizeof(int64_t *)
                                   + sizeof(Py_ssize_t) + NSTATE * sizeof(int64_t) + sizeof(SegList)
                                   + sizeof(PyObject *)));
    if (b != NULL) {
        o->c = (int64_t *)b;
        o->time_of = (PyObject **)(o->c + k * NCONST);
        o->items = (int64_t **)(o->time_of + k);
        o->nitems = (Py_ssize_t *)(o->items + k);
        o->s = (int64_t *)(o->nitems + k);
        o->segs = (SegList *)(o->s + k * NSTATE);
        o->movers_ok = (PyObject **)(o->segs + k);
    }
    PyObject_GC_Track(o);
    if (b == NULL) {
        Py_DECREF(o);
        PyErr_NoMemory();
        return NULL;
    }
    return o;
}

/* The constants of lane p from (idx, bursts, burst_bytes, burst_ns, last_bytes, last_burst_ns, ends_program,
 * arith or None, time_of or None, next_items). */
static int load_lane(BusCore *o, Py_ssize_t p, PyObject *spec)
{
    static const char *names[] = {"idx", "bursts", "burst_bytes", "burst_ns", "last_bytes", "last_burst_ns"};
    PyObject *f = get_seq(spec, 10, "a lane");
    if (f == NULL)
        return -1;
    PyObject **it = PySequence_Fast_ITEMS(f);
    int rc = -1;
    for (int k = 0; k < 6; k++)
        if (get_i64(it[k], &CST(o, p, k), names[k]) < 0)
            goto done;
    int ends = PyObject_IsTrue(it[6]);
    if (ends < 0)
        goto done;
    CST(o, p, C_ENDS) = ends;
    PyObject *ar = it[7], *to = it[8];
    if (to != Py_None) {
        if (!PyCallable_Check(to)) {
            PyErr_Format(PyExc_TypeError, "BusCore: time_of must be callable or None, not %R", to);
            goto done;
        }
        o->time_of[p] = Py_NewRef(to);
        CST(o, p, C_PERIPH) = 1;
    }
    if (ar != Py_None) {
        if (to == Py_None) {
            PyErr_SetString(PyExc_ValueError, "BusCore: a lane with arith needs its time_of");
            goto done;
        }
        PyObject *a = get_seq(ar, 7, "arith");
        if (a == NULL)
            goto done;
        int bad = 0;
        for (int k = 0; k < 7 && !bad; k++)
            bad = get_i64(PySequence_Fast_GET_ITEM(a, k), &CST(o, p, C_LIMIT + k), "an arith value") < 0;
        Py_DECREF(a);
        if (bad)
            goto done;
        /* A zero divisor is left to time_of (which raises as Python does). */
        CST(o, p, C_ARITH) = CST(o, p, C_UNIT) != 0 && CST(o, p, C_DEN) != 0;
    }
    PyObject *nx = get_seq(it[9], -1, "next_items");
    if (nx == NULL)
        goto done;
    Py_ssize_t ni = PySequence_Fast_GET_SIZE(nx);
    o->items[p] = PyMem_Calloc(ni ? (size_t)(2 * ni) : 1, sizeof(int64_t));
    if (o->items[p] == NULL) {
        Py_DECREF(nx);
        PyErr_NoMemory();
        goto done;
    }
    o->nitems[p] = ni;
    for (Py_ssize_t k = 0; k < ni; k++) {
        PyObject *pair = get_seq(PySequence_Fast_GET_ITEM(nx, k), 2, "a next item");
        if (pair == NULL) {
            Py_DECREF(nx);
            goto done;
        }
        int irq = -1;
        int bad = get_i64(PySequence_Fast_GET_ITEM(pair, 0), &o->items[p][2 * k], "a next item's bursts") < 0
                  || (irq = PyObject_IsTrue(PySequence_Fast_GET_ITEM(pair, 1))) < 0;
        Py_DECREF(pair);
        if (bad) {
            Py_DECREF(nx);
            goto done;
        }
        o->items[p][2 * k + 1] = irq;
    }
    Py_DECREF(nx);
    rc = 0;
done:
    Py_DECREF(f);
    return rc;
}

/* The state from a snapshot tuple: (at_ns, stop_ns, heap, last_pos, rr, seq, busy_until_ns, last_grant,
 * last_grant_ns, waiting, events, jumps, granted, landed, request, limit, since_ns, next_end, irq, item_k). */
static int load_state(BusCore *o, PyObject *state)
{
    PyObject *f = get_seq(state, 12 + NSTATE, "the state");
    if (f == NULL)
        return -1;
    PyObject **it = PySequence_Fast_ITEMS(f);
    int rc = -1;
    int64_t *scal[] = {&o->computed, &o->stop, NULL, &o->last_pos, &o->rr, &o->seq, &o->busy, &o->last_grant,
                       &o->last_grant_ns, NULL, &o->events, &o->jumps};
    for (int k = 0; k < 12; k++)
        if (scal[k] != NULL && get_bounded(it[k], scal[k], "a state value", k == 5 ? BUS_SEQ_BOUND : BUS_BOUND) < 0)
            goto done;
    if (o->last_pos < -1 || o->last_pos >= o->n || o->rr < 0 || o->rr > o->n) {
        PyErr_Format(PyExc_ValueError, "BusCore: last_pos %lld or rr %lld out of range", (long long)o->last_pos,
                     (long long)o->rr);
        goto done;
    }
    if (!PyLong_Check(it[9])) {
        PyErr_Format(PyExc_TypeError, "BusCore: waiting must be an int, not %R", it[9]);
        goto done;
    }
    unsigned long long w = PyLong_AsUnsignedLongLong(it[9]);
    if (w == (unsigned long long)-1 && PyErr_Occurred())
        goto done;
    if (o->n < 64 && (w >> o->n) != 0) {
        PyErr_Format(PyExc_ValueError, "BusCore: waiting %R names a lane past %zd", it[9], o->n);
        goto done;
    }
    o->waiting = w;
    PyObject *h = get_seq(it[2], -1, "the heap");
    if (h == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(h); i++) {
        PyObject *e = get_seq(PySequence_Fast_GET_ITEM(h, i), 4, "a heap entry");
        int64_t v[4];
        int bad = e == NULL;
        for (int k = 0; k < 4 && !bad; k++)
            bad = get_bounded(PySequence_Fast_GET_ITEM(e, k), &v[k], "a heap value",
                              k == 1 ? BUS_SEQ_BOUND : BUS_BOUND) < 0;
        Py_XDECREF(e);
        if (!bad && (v[2] < 0 || v[2] > 1 || v[3] < 0 || v[3] >= o->n)) {
            PyErr_Format(PyExc_ValueError, "BusCore: heap entry kind %lld / pos %lld out of range",
                         (long long)v[2], (long long)v[3]);
            bad = 1;
        }
        if (bad || heap_push(o, v[0], v[1], v[2], v[3]) < 0) {
            Py_DECREF(h);
            goto done;
        }
    }
    Py_DECREF(h);
    for (int k = 0; k < NSTATE; k++) {
        PyObject *l = get_seq(it[12 + k], o->n, "a per-lane state list");
        if (l == NULL)
            goto done;
        int bad = 0;
        for (Py_ssize_t p = 0; p < o->n && !bad; p++) {
            PyObject *v = PySequence_Fast_GET_ITEM(l, p);
            if (k == S_IRQ) {
                int b = PyObject_IsTrue(v);
                bad = b < 0;
                ST(o, p, k) = b;
            }
            else
                bad = get_i64(v, &ST(o, p, k), "a per-lane state value") < 0;
        }
        Py_DECREF(l);
        if (bad)
            goto done;
    }
    rc = 0;
done:
    Py_DECREF(f);
    return rc;
}

static PyObject *core_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)type;
    static char *kw[] = {"lanes", "state", "segments", "last_event_ns", "item_ends", "program_ends", NULL};
    PyObject *lanes, *state, *segments, *item_ends, *program_ends;
    long long last_event;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOLO!O!:BusCore", kw, &lanes, &state, &segments, &last_event,
                                     &PyList_Type, &item_ends, &PyList_Type, &program_ends))
        return NULL;
    PyObject *lf = get_seq(lanes, -1, "lanes");
    if (lf == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(lf);
    if (n > BUS_MAX_LANES) {
        Py_DECREF(lf);
        PyErr_Format(PyExc_ValueError, "BusCore: at most %d lanes, not %zd", BUS_MAX_LANES, n);
        return NULL;
    }
    BusCore *o = core_alloc(n);
    if (o == NULL) {
        Py_DECREF(lf);
        return NULL;
    }
    o->item_ends = Py_NewRef(item_ends);
    o->program_ends = Py_NewRef(program_ends);
    o->last_event = last_event;
    for (Py_ssize_t p = 0; p < n; p++) {
        if (load_lane(o, p, PySequence_Fast_GET_ITEM(lf, p)) < 0) {
            Py_DECREF(lf);
            Py_DECREF(o);
            return NULL;
        }
    }
    Py_DECREF(lf);
    if (load_state(o, state) < 0)
        goto fail;
    PyObject *sf = get_seq(segments, n, "segments");
    if (sf == NULL)
        goto fail;
    for (Py_ssize_t p = 0; p < n; p++) {
        PyObject *sl = get_seq(PySequence_Fast_GET_ITEM(sf, p), -1, "a lane's segments");
        int bad = sl == NULL;
        for (Py_ssize_t i = 0; !bad && i < PySequence_Fast_GET_SIZE(sl); i++) {
            PyObject *e = get_seq(PySequence_Fast_GET_ITEM(sl, i), 6, "a segment");
            int64_t v[6];
            bad = e == NULL;
            for (int k = 0; k < 6 && !bad; k++)
                bad = get_i64(PySequence_Fast_GET_ITEM(e, k), &v[k], "a segment value") < 0;
            Py_XDECREF(e);
            bad = bad || seg_add(o, p, v[0], v[1], v[2], v[3], v[4], v[5]) < 0;
        }
        Py_XDECREF(sl);
        if (bad) {
            Py_DECREF(sf);
            goto fail;
        }
    }
    Py_DECREF(sf);
    return (PyObject *)o;
fail:
    Py_DECREF(o);
    return NULL;
}

static int core_traverse(BusCore *o, visitproc visit, void *arg)
{
    Py_VISIT(o->item_ends);
    Py_VISIT(o->program_ends);
    if (o->time_of != NULL)
        for (Py_ssize_t p = 0; p < o->n; p++)
            Py_VISIT(o->time_of[p]);
    if (o->movers_ok != NULL)
        for (Py_ssize_t p = 0; p < o->n; p++)
            Py_VISIT(o->movers_ok[p]);
    return 0;
}

static int core_clear(BusCore *o)
{
    Py_CLEAR(o->item_ends);
    Py_CLEAR(o->program_ends);
    if (o->time_of != NULL)
        for (Py_ssize_t p = 0; p < o->n; p++)
            Py_CLEAR(o->time_of[p]);
    if (o->movers_ok != NULL)
        for (Py_ssize_t p = 0; p < o->n; p++)
            Py_CLEAR(o->movers_ok[p]);
    return 0;
}

static void core_dealloc(BusCore *o)
{
    PyObject_GC_UnTrack(o);
    core_clear(o);
    for (Py_ssize_t p = 0; p < o->n; p++) {
        if (o->items != NULL)
            PyMem_Free(o->items[p]);
        if (o->segs != NULL)
            seg_release(&o->segs[p]);
    }
    for (Py_ssize_t i = 0; i < o->nsnaps; i++)
        snap_release(o->snaps[i], o->n);
    PyMem_Free(o->snaps);
    PyMem_Free(o->c);  /* (the per-lane arrays' block: core_alloc) */
    PyMem_Free(o->heap);
    PyObject_GC_Del(o);
}

/* --- methods ------------------------------------------------------------------------------------------------- */

/* METH_FASTCALL's arguments, checked as PyArg_ParseTuple's "L", "n" and "p" check them (the hot methods below
 * take them so: no argument tuple built, no format parsed per call). */
static int fc_nargs(Py_ssize_t nargs, Py_ssize_t min, Py_ssize_t max, const char *fn)
{
    if (nargs >= min && nargs <= max)
        return 0;
    if (min == max)
        PyErr_Format(PyExc_TypeError, "%s() takes exactly %zd arguments (%zd given)", fn, min, nargs);
    else
        PyErr_Format(PyExc_TypeError, "%s() takes from %zd to %zd arguments (%zd given)", fn, min, max, nargs);
    return -1;
}

static int fc_ll(PyObject *v, long long *out)  /* "L" */
{
    long long x = PyLong_AsLongLong(v);  /* (an int, or an object with __index__, as "L") */
    if (x == -1 && PyErr_Occurred())
        return -1;
    *out = x;
    return 0;
}

static int fc_n(PyObject *v, Py_ssize_t *out)  /* "n" */
{
    Py_ssize_t x;
    if (PyLong_Check(v))
        x = PyLong_AsSsize_t(v);
    else {
        PyObject *i = PyNumber_Index(v);
        if (i == NULL)
            return -1;
        x = PyLong_AsSsize_t(i);
        Py_DECREF(i);
    }
    if (x == -1 && PyErr_Occurred())
        return -1;
    *out = x;
    return 0;
}

static int fc_p(PyObject *v, int *out)  /* "p" */
{
    int b = PyObject_IsTrue(v);
    if (b < 0)
        return -1;
    *out = b;
    return 0;
}

static PyObject *core_loop(BusCore *o, PyObject *const *args, Py_ssize_t nargs)
{
    long long max_events;
    int snapshots;
    if (fc_nargs(nargs, 2, 2, "loop") < 0 || fc_ll(args[0], &max_events) < 0 || fc_p(args[1], &snapshots) < 0)
        return NULL;
    if (run_loop(o, max_events, snapshots) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* An int of value v: old itself where it is an exact int of that value (what sync_into replaces: no new object
 * for a value that did not change), else a new one. */
static PyObject *int_same(PyObject *old, int64_t v)
{
    if (old != NULL && PyLong_CheckExact(old)) {
        int of = 0;
        long long x = PyLong_AsLongLongAndOverflow(old, &of);
        if (!of && x == v)
            return Py_NewRef(old);
    }
    return PyLong_FromLongLong((long long)v);
}

/* 1 when l is an exact list of n exact ints (whose items can be replaced with no code run by a release). */
static int int_list(PyObject *l, Py_ssize_t n)
{
    if (l == NULL || !PyList_CheckExact(l) || PyList_GET_SIZE(l) != n)
        return 0;
    for (Py_ssize_t p = 0; p < n; p++)
        if (!PyLong_CheckExact(PyList_GET_ITEM(l, p)))
            return 0;
    return 1;
}

/* Lane state k as a list: old itself updated in place where it is an exact list of n exact ints (what sync_into
 * replaces: the list the pure-Python loop updates in place too), its ints reused where equal; else a new list. */
static PyObject *lane_list(BusCore *o, int k, PyObject *old)
{
    if (int_list(old, o->n)) {
        for (Py_ssize_t p = 0; p < o->n; p++) {
            PyObject *was = PyList_GET_ITEM(old, p);
            PyObject *v = int_same(was, ST(o, p, k));
            if (v == NULL)
                return NULL;
            PyList_SET_ITEM(old, p, v);
            Py_DECREF(was);
        }
        return Py_NewRef(old);
    }
    PyObject *l = PyList_New(o->n);
    if (l == NULL)
        return NULL;
    for (Py_ssize_t p = 0; p < o->n; p++) {
        PyObject *v = PyLong_FromLongLong((long long)ST(o, p, k));
        if (v == NULL) {
            Py_DECREF(l);
            return NULL;
        }
        PyList_SET_ITEM(l, p, v);
    }
    return l;
}

#define NSTATE_ITEMS 13

/* Item i of state() as a new reference (old: the value it replaces, as int_same and lane_list take it). */
static PyObject *state_item(BusCore *o, int i, PyObject *old)
{
    switch (i) {
    case 0:
        return o->waiting >> 63 ? PyLong_FromUnsignedLongLong(o->waiting) : int_same(old, (int64_t)o->waiting);
    case 1:
        return int_same(old, o->busy);
    case 2:
        return int_same(old, o->stop);
    case 3:
        return int_same(old, o->computed);
    case 4:
        return int_same(old, o->events);
    case 5:
        return int_same(old, o->jumps);
    case 6:
        return int_same(old, o->last_grant);
    case 7:
        return int_same(old, o->last_grant_ns);
    case 8:
        return int_same(old, o->last_event);
    case 9:
        return lane_list(o, S_GRANTED, old);
    case 10:
        return lane_list(o, S_LANDED, old);
    case 11:
        return lane_list(o, S_SINCE, old);
    default:
        return int_same(old, o->nheap);
    }
}

/* (waiting, busy_until_ns, stop_ns, computed_ns, events, jumps, last_grant, last_grant_ns, last_event_ns,
 * granted, landed, since_ns, heap size). */
static PyObject *core_state(BusCore *o, PyObject *unused)
{
    (void)unused;
    PyObject *r = PyTuple_New(NSTATE_ITEMS);
    for (int i = 0; r != NULL && i < NSTATE_ITEMS; i++) {
        PyObject *v = state_item(o, i, NULL);
        if (v == NULL)
            Py_CLEAR(r);
        else
            PyTuple_SET_ITEM(r, i, v);
    }
    return r;
}

static int cmp_seq(const void *a, const void *b)
{
    const HeapEnt *x = a, *y = b;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static PyObject *core_pending(BusCore *o, PyObject *unused)
{
    (void)unused;
    HeapEnt *v = PyMem_Malloc((size_t)(o->nheap ? o->nheap : 1) * sizeof(HeapEnt));
    if (v == NULL)
        return PyErr_NoMemory();
    memcpy(v, o->heap, (size_t)o->nheap * sizeof(HeapEnt));
    qsort(v, (size_t)o->nheap, sizeof(HeapEnt), cmp_seq);
    PyObject *l = PyList_New(o->nheap);
    for (Py_ssize_t i = 0; l != NULL && i < o->nheap; i++) {
        PyObject *e = Py_BuildValue("(LLLL)", (long long)v[i].t, (long long)v[i].seq, (long long)v[i].kind,
                                    (long long)v[i].pos);
        if (e == NULL)
            Py_CLEAR(l);
        else
            PyList_SET_ITEM(l, i, e);
    }
    PyMem_Free(v);
    return l;
}

static PyObject *core_segments(BusCore *o, PyObject *arg)
{
    Py_ssize_t pos = PyNumber_AsSsize_t(arg, PyExc_IndexError);
    if (pos == -1 && PyErr_Occurred())
        return NULL;
    if (pos < 0 || pos >= o->n) {
        PyErr_Format(PyExc_IndexError, "BusCore: no lane %zd", pos);
        return NULL;
    }
    SegList *sl = &o->segs[pos];
    PyObject *l = PyList_New(sl->n);
    for (Py_ssize_t i = 0; l != NULL && i < sl->n; i++) {
        Seg *s = &sl->v[i];
        PyObject *e = Py_BuildValue("(LLLLLL)", (long long)s->grant, (long long)s->count, (long long)s->stride,
                                    (long long)s->dur, (long long)s->bytes, (long long)s->req);
        if (e == NULL)
            Py_CLEAR(l);
        else
            PyList_SET_ITEM(l, i, e);
    }
    return l;
}

/* BusSchedule.take: 0 or -1 with an exception. */
static int take(BusCore *o, Py_ssize_t pos, int64_t t, PyObject *bursts, int64_t *count_out, int64_t *bytes_out,
                int64_t *last_out)
{
    SegList *sl = &o->segs[pos];
    Py_ssize_t si = sl->taken_si;
    int64_t done = sl->taken_done, last = -1;
    __int128 count = 0, nbytes = 0;
    while (si < sl->n) {
        Seg *s = &sl->v[si];
        if (done == 0 && bursts == NULL) {  /* a run of lone bursts (what most segments are), in 64 bits */
            const Seg *v = sl->v;
            int64_t c1 = 0, b1 = 0, nb;
            while (si < sl->n && v[si].count == 1 && v[si].grant + v[si].dur <= t
                   && !__builtin_add_overflow(b1, v[si].bytes, &nb)) {  /* (grant, dur within +-2**62) */
                b1 = nb;
                last = v[si].grant + v[si].dur;
                c1++;
                si++;
            }
            if (c1) {
                count += c1;
                nbytes += b1;
                continue;
            }
        }
        if (s->grant + done * s->stride + s->dur > t)
            break;
        int64_t k = s->count;
        if (s->stride != 0) {
            int64_t kk = floordiv64(t - s->grant - s->dur, s->stride) + 1;
            if (kk < k)
                k = kk;
        }
        if (bursts != NULL) {
            for (int64_t j = done; j < k; j++) {
                int64_t g = s->grant + j * s->stride;
                PyObject *e = Py_BuildValue("(LLL)", (long long)(j == 0 ? s->req : g - s->stride + s->dur),
                                            (long long)g, (long long)(g + s->dur));
                if (e == NULL || PyList_Append(bursts, e) < 0) {
                    Py_XDECREF(e);
                    return -1;
                }
                Py_DECREF(e);
            }
        }
        count += k - done;
        nbytes += (__int128)(k - done) * s->bytes;
        last = s->grant + (k - 1) * s->stride + s->dur;
        if (k < s->count) {
            done = k;
            break;
        }
        si++;
        done = 0;
    }
    if (fits(count, count_out) < 0 || fits(nbytes, bytes_out) < 0)
        return -1;
    sl->taken_si = si;
    sl->taken_done = done;
    *last_out = last;
    return 0;
}

static PyObject *core_take(BusCore *o, PyObject *args)
{
    Py_ssize_t pos;
    long long t;
    PyObject *bursts = Py_None;
    if (!PyArg_ParseTuple(args, "nL|O:take", &pos, &t, &bursts))
        return NULL;
    if (pos < 0 || pos >= o->n) {
        PyErr_Format(PyExc_IndexError, "BusCore: no lane %zd", pos);
        return NULL;
    }
    if (bursts != Py_None && !PyList_Check(bursts)) {
        PyErr_Format(PyExc_TypeError, "BusCore: bursts must be a list or None, not %R", bursts);
        return NULL;
    }
    int64_t count, nbytes, last;
    if (take(o, pos, t, bursts == Py_None ? NULL : bursts, &count, &nbytes, &last) < 0)
        return NULL;
    return Py_BuildValue("(LLL)", (long long)count, (long long)nbytes, (long long)last);
}

static PyObject *core_take_all(BusCore *o, PyObject *args)
{
    long long t;
    int probe = 0;
    if (!PyArg_ParseTuple(args, "L|p:take_all", &t, &probe))
        return NULL;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t pos = 0; pos < o->n; pos++) {
        SegList *sl = &o->segs[pos];
        if (sl->taken_si == sl->n)
            continue;
        Seg *s = &sl->v[sl->taken_si];
        if (s->grant + sl->taken_done * s->stride + s->dur > t)
            continue;
        PyObject *bursts = PyList_New(0);
        int64_t count, nbytes, last;
        if (bursts == NULL || take(o, pos, t, probe ? bursts : NULL, &count, &nbytes, &last) < 0) {
            Py_XDECREF(bursts);
            Py_DECREF(out);
            return NULL;
        }
        PyObject *e = Py_BuildValue("(nLLLN)", pos, (long long)count, (long long)nbytes, (long long)last, bursts);
        if (e == NULL || PyList_Append(out, e) < 0) {
            Py_XDECREF(e);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(e);
    }
    return out;
}

/* --- the lanes' bytes: Dmac._sched_move in one pass (take_moves, take_move) ----------------------------------
 *
 * A mover is Dmac._sched_mover's tuple (ch, prog, mvs, lengths, port_fn, tx) for a peripheral lane whose items' memory
 * was resolved once (ch.mvs, valid while ch.checked is ch.prog), a copy lane's 8-tuple (moved by copy.c), or None. A
 * lane whose mover is None, or whose channel no longer holds that program and memory, or in any state this code does
 * not take (an item index or offset out of range, a buffer shorter than the item), is moved by the Python fallback
 * move(pos, n, last) (Dmac._sched_move_at: the specification does it, and raises what it raises). Otherwise this is
 * Dmac._sched_move and Dmac._take_items line by line: the same port calls with the same instant and bytes, the same
 * item index, offset and done after, in the same order (within an item the state changes after the port call, across
 * items before it). Bytes that a port's steady_read gives other than as bytes of the length asked go to the Python
 * store(mvs, pieces, data, single) (Dmac._sched_store), which does what the specification does with them. */


#define MOVE_MAX_PIECES 64

typedef struct {
    Py_ssize_t idx, off, k;
} Piece;

/* fn(a, b[, c]) with int64 arguments (k of them, 2 or 3), by vectorcall: a new reference or NULL. */
static PyObject *call_ints(PyObject *fn, int k, int64_t a, int64_t b, int64_t c)
{
    int64_t v[3] = {a, b, c};
    PyObject *args[3] = {NULL, NULL, NULL}, *r = NULL;
    int i = 0;
    for (; i < k; i++)
        if ((args[i] = PyLong_FromLongLong((long long)v[i])) == NULL)
            break;
    if (i == k)
        r = PyObject_Vectorcall(fn, args, (size_t)k, NULL);
    for (int j = 0; j < i; j++)
        Py_DECREF(args[j]);
    return r;
}

static int call_fallback(PyObject *move, Py_ssize_t pos, int64_t n, int64_t last)
{
    PyObject *r = call_ints(move, 3, pos, n, last);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

static int call_store(PyObject *store, PyObject *mvs, const Piece *pc, Py_ssize_t np, PyObject *data, int single)
{
    PyObject *pieces = PyList_New(np);
    if (pieces == NULL)
        return -1;
    for (Py_ssize_t i = 0; i < np; i++) {
        PyObject *e = Py_BuildValue("(nnn)", pc[i].idx, pc[i].off, pc[i].k);
        if (e == NULL) {
            Py_DECREF(pieces);
            return -1;
        }
        PyList_SET_ITEM(pieces, i, e);
    }
    PyObject *r = PyObject_CallFunction(store, "OOOO", mvs, pieces, data, single ? Py_True : Py_False);
    Py_DECREF(pieces);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* Copy between the pieces' buffers and buf (to_buf: read the items into buf; else write buf into the items). */
static int pieces_copy(PyObject *mvs, const Piece *pc, Py_ssize_t np, char *buf, int to_buf)
{
    Py_ssize_t at = 0;
    for (Py_ssize_t i = 0; i < np; i++) {
        Py_buffer view;
        if (pc[i].idx >= PyList_GET_SIZE(mvs)) {  /* (a port's call changed the list) */
            PyErr_Format(PyExc_RuntimeError, "take_moves: item %zd's memory is gone from mvs", pc[i].idx);
            return -1;
        }
        if (PyObject_GetBuffer(PyList_GET_ITEM(mvs, pc[i].idx), &view, to_buf ? PyBUF_SIMPLE : PyBUF_WRITABLE) < 0)
            return -1;
        if (view.len < pc[i].off + pc[i].k) {
            PyBuffer_Release(&view);
            PyErr_Format(PyExc_RuntimeError, "take_moves: item %zd's memory is shorter than %zd bytes", pc[i].idx,
                         pc[i].off + pc[i].k);
            return -1;
        }
        memcpy(to_buf ? buf + at : (char *)view.buf + pc[i].off, to_buf ? (char *)view.buf + pc[i].off : buf + at,
               (size_t)pc[i].k);
        PyBuffer_Release(&view);
        at += pc[i].k;
    }
    return 0;
}

/* 1 when every piece's buffer is a plain contiguous byte buffer long enough (and writable for !tx), 0 if not. */
static int pieces_fit(PyObject *mvs, const Piece *pc, Py_ssize_t np, int tx)
{
    for (Py_ssize_t i = 0; i < np; i++) {
        Py_buffer view;
        if (PyObject_GetBuffer(PyList_GET_ITEM(mvs, pc[i].idx), &view, tx ? PyBUF_SIMPLE : PyBUF_WRITABLE) < 0) {
            PyErr_Clear();
            return 0;
        }
        int ok = view.len >= pc[i].off + pc[i].k;
        PyBuffer_Release(&view);
        if (!ok)
            return 0;
    }
    return 1;
}

/* 0 when mover is None or a well-formed mover tuple, else -1 with an exception naming it. */
static int check_mover(PyObject *mover)
{
    if (mover == Py_None)
        return 0;
    if (PyTuple_CheckExact(mover) && PyTuple_GET_SIZE(mover) == 8)  /* a copy lane's (copy.c) */
        return dmaengine_copy_mover_check(mover) < 0 ? -1 : 0;
    if (!PyTuple_CheckExact(mover) || PyTuple_GET_SIZE(mover) != 6 || !PyList_CheckExact(PyTuple_GET_ITEM(mover, 2))
            || !PyTuple_CheckExact(PyTuple_GET_ITEM(mover, 3)) || !PyBool_Check(PyTuple_GET_ITEM(mover, 5))
            || PyList_GET_SIZE(PyTuple_GET_ITEM(mover, 2)) != PyTuple_GET_SIZE(PyTuple_GET_ITEM(mover, 3))) {
        PyErr_Format(PyExc_TypeError, "take_moves: a mover must be None or (ch, prog, mvs list, lengths tuple, "
                     "port_fn, tx bool) with as many lengths as mvs, not %R", mover);
        return -1;
    }
    PyObject *lengths = PyTuple_GET_ITEM(mover, 3);
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(lengths); i++) {
        if (!PyLong_CheckExact(PyTuple_GET_ITEM(lengths, i))) {
            PyErr_Format(PyExc_TypeError, "take_moves: a mover's item lengths must be ints, not %R", lengths);
            return -1;
        }
    }
    return 0;
}

/* --- the ports' steady calls (the port side of a lane's move) -------------------------------------------------
 *
 * A mover's port_fn is the port's bound steady_read / steady_write. For the exact classes whose Python this code
 * follows (registered by BusCore.set_ports from sim/_i2s.py and sim/_uart.py), the call is done here, line by line
 * as the method does it: SampledRx.steady_read (the I2S receiver and the ADC: a TickClock clock, the block
 * source's slice, or its source called), RxPort.steady_read of a _UartRx (its _ticks' unbounded case),
 * _I2sTx.steady_write (its steady case; else its _ticks called) and TxPort.steady_write of a _UartTx (its _ticks
 * called), with RxPort._pop. Whatever is not that plain case (a subclass, a method replaced on the class, a clock
 * that is not exactly a TickClock, an attribute that is not an int within +-2**61 or not a bytearray, ...) is
 * found before anything changes, and the Python method is called instead. */

#define PORT_BOUND ((int64_t)1 << 61)

enum { PR_TICK_CLOCK, PR_BLOCK_SOURCE, PR_RX_POP, PR_SAMPLED_RX, PR_SAMPLED_RX_READ, PR_UART_RX, PR_RX_READ,
       PR_UART_RX_TICKS, PR_I2S_TX, PR_I2S_TX_WRITE, PR_I2S_TX_TICKS, PR_UART_TX, PR_TX_WRITE, PR_UART_TX_TICKS,
       PR_TICK_RUNS, PR_TICK_RUNS_APPEND, NPR };
static const char *const pr_names[NPR] = {
    "tick_clock", "block_source", "rx_pop", "sampled_rx", "sampled_rx_read", "uart_rx", "rx_read",
    "uart_rx_ticks", "i2s_tx", "i2s_tx_write", "i2s_tx_ticks", "uart_tx", "tx_write", "uart_tx_ticks",
    "tick_runs", "tick_runs_append",
};
static PyObject *PR[NPR];
/* The port calls done here, per kind (sampled RX, UART RX, I2S TX, UART TX): BusCore.port_calls(). */
static unsigned long long pr_calls[4];

/* The attribute names this code reads and writes, and where each is a __slots__ member: the (class, version)
 * pairs met, 4 ways per name, with the member's offset. */
enum {
    A_CLOCK, A_FIFO, A_TICKS_DONE, A_SOURCE, A_UBLOCK, A_UFIRST, A_USTOP, A_FRAME_BYTES, A_UNIT, A_ENTERED,
    A_POPPED, A_PENDING, A_WRITTEN, A_DRAINED, A_OWNER, A_UPLAYED, A_LIMIT, A_UKEPT, A_TOTAL, A_UCHUNKS, A_APPEND,
    A_UPOP, A_UTICKS, A_EPOCH_NS, A_NUM, A_DEN, A_OFFSET, A_PROG, A_CHECKED, A_MVS, A_ITEM_IDX, A_ITEM_OFF, A_DONE,
    A_UOUT, A_UOUT_NS, A_URUNS,
    /* a BusSchedule's, in the order of BusCore.state() (sync_into) */
    A_WAITING, A_BUSY_UNTIL_NS, A_STOP_NS, A_COMPUTED_NS, A_EVENTS, A_JUMPS, A_LAST_GRANT, A_LAST_GRANT_NS,
    A_LAST_EVENT_NS, A_GRANTED, A_LANDED, A_SINCE_NS, A_UNHEAP, NA
};
static const char *const a_names[NA] = {
    "clock", "fifo", "ticks_done", "source", "_block", "_first", "_stop", "frame_bytes", "unit", "entered",
    "popped", "pending", "written", "drained", "owner", "_played", "limit", "_kept", "total", "_chunks", "append",
    "_pop", "_ticks", "epoch_ns", "num", "den", "offset", "prog", "checked", "mvs", "item_idx", "item_off", "done",
    "_out", "_out_ns", "_runs",
    "waiting", "busy_until_ns", "stop_ns", "computed_ns", "events", "jumps", "last_grant", "last_grant_ns",
    "last_event_ns", "granted", "landed", "since_ns", "_nheap",
};
static PyObject *AN[NA];
typedef struct {
    PyTypeObject *tp;
    unsigned int version;
    Py_ssize_t off;
} SlotAt;
static SlotAt AC[NA][4];

/* slot() where AC does not have it: the member looked up (and remembered in AC[a]). */
static __attribute__((noinline)) PyObject **slot_find(PyObject *o, int a)
{
    PyTypeObject *tp = Py_TYPE(o);
    SlotAt *w = AC[a];
    if (tp->tp_getattro != PyObject_GenericGetAttr || tp->tp_setattro != PyObject_GenericSetAttr)
        return NULL;
    PyObject *d = _PyType_Lookup(tp, AN[a]);
    if (d == NULL || !Py_IS_TYPE(d, &PyMemberDescr_Type))
        return NULL;
    PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
    if (m->type != T_OBJECT_EX || (m->flags & READONLY) || !PyObject_TypeCheck(o, PyDescr_TYPE(d)))
        return NULL;
    if (PyType_HasFeature(tp, Py_TPFLAGS_VALID_VERSION_TAG)) {
        memmove(&w[1], &w[0], 3 * sizeof(SlotAt));
        w[0].tp = tp;
        w[0].version = tp->tp_version_tag;
        w[0].off = m->offset;
    }
    return (PyObject **)((char *)o + m->offset);
}

/* The address of o's __slots__ member AN[a] (what o.<name> reads and writes: its class has the generic getattr
 * and setattr, and the member is a writable object slot), or NULL where o.<name> is anything else. Inline: the
 * ways of AC[a] met (a is a constant at every call), slot_find otherwise. */
static inline PyObject **slot(PyObject *o, int a)
{
    PyTypeObject *tp = Py_TYPE(o);
    if (PyType_HasFeature(tp, Py_TPFLAGS_VALID_VERSION_TAG)) {
        SlotAt *w = AC[a];
        for (int i = 0; i < 4; i++)
            if (w[i].tp == tp && w[i].version == tp->tp_version_tag)
                return (PyObject **)((char *)o + w[i].off);
    }
    return slot_find(o, a);
}

/* o.<name>: a new reference, or NULL with an exception. */
static inline PyObject *aget(PyObject *o, int a)
{
    PyObject **p = slot(o, a);
    if (p != NULL && *p != NULL)
        return Py_NewRef(*p);
    return PyObject_GetAttr(o, AN[a]);
}

/* o.<name> = v: 0 or -1 with an exception. */
static inline int aset(PyObject *o, int a, PyObject *v)
{
    PyObject **p = slot(o, a);
    if (p == NULL)
        return PyObject_SetAttr(o, AN[a], v);
    Py_XSETREF(*p, Py_NewRef(v));
    return 0;
}

/* peek_i64 by a getattr (where obj.name is not a __slots__ member holding an exact int). */
static __attribute__((noinline)) int peek_i64_slow(PyObject *obj, int a, int64_t *out)
{
    PyObject *v = aget(obj, a);
    if (v == NULL) {
        PyErr_Clear();
        return 0;
    }
    int ok = PyLong_CheckExact(v), of = 0;
    long long x = ok ? PyLong_AsLongLongAndOverflow(v, &of) : 0;
    Py_DECREF(v);
    if (!ok || of || x < -PORT_BOUND || x > PORT_BOUND)
        return 0;
    *out = (int64_t)x;
    return 1;
}

/* 1 when obj.name is an int within +-PORT_BOUND (into *out), 0 when not (nothing raised). Inline: a __slots__
 * member holding an exact int read in place (borrowed: nothing runs before it is read), else peek_i64_slow. */
static inline int peek_i64(PyObject *obj, int a, int64_t *out)
{
    PyObject **p = slot(obj, a);
    if (p != NULL && *p != NULL && PyLong_CheckExact(*p)) {
        int of = 0;
        long long x = PyLong_AsLongLongAndOverflow(*p, &of);
        if (of || x < -PORT_BOUND || x > PORT_BOUND)
            return 0;
        *out = (int64_t)x;
        return 1;
    }
    return peek_i64_slow(obj, a, out);
}

/* obj.name as a new reference if it is exactly of type tp, else NULL (nothing raised). */
static PyObject *peek_exact(PyObject *obj, int a, PyTypeObject *tp)
{
    PyObject *v = aget(obj, a);
    if (v == NULL) {
        PyErr_Clear();
        return NULL;
    }
    if (!Py_IS_TYPE(v, tp)) {
        Py_DECREF(v);
        return NULL;
    }
    return v;
}

/* 1 when type(obj).name is the registered function f (what self.name finds on a port: their classes have no
 * per-instance methods), else 0. */
static int method_is(PyObject *obj, int a, PyObject *f)
{
    return f != NULL && _PyType_Lookup(Py_TYPE(obj), AN[a]) == f;
}

/* obj.name += d (ints, or whatever the attribute holds: Python's +=); 0 or -1 with an exception. */
static int attr_add(PyObject *obj, int a, int64_t d)
{
    PyObject **p = slot(obj, a);
    if (p != NULL && *p != NULL && PyLong_CheckExact(*p)) {  /* a __slots__ member's int: replaced in place */
        int of = 0;
        long long x = PyLong_AsLongLongAndOverflow(*p, &of);
        if (!of && x >= -PORT_BOUND && x <= PORT_BOUND) {
            PyObject *r = PyLong_FromLongLong(x + (long long)d);  /* (|d| <= 2**62 here: no overflow) */
            if (r == NULL)
                return -1;
            Py_SETREF(*p, r);
            return 0;
        }
    }
    PyObject *v = aget(obj, a), *r;
    if (v == NULL)
        return -1;
    int of = 0;
    long long x = PyLong_CheckExact(v) ? PyLong_AsLongLongAndOverflow(v, &of) : 0;
    if (PyLong_CheckExact(v) && !of && x >= -PORT_BOUND && x <= PORT_BOUND)
        r = PyLong_FromLongLong(x + (long long)d);  /* (|d| <= 2**62 here: no overflow) */
    else {
        PyObject *dv = PyLong_FromLongLong((long long)d);
        r = dv == NULL ? NULL : PyNumber_InPlaceAdd(v, dv);
        Py_XDECREF(dv);
    }
    Py_DECREF(v);
    if (r == NULL)
        return -1;
    int e = aset(obj, a, r);
    Py_DECREF(r);
    return e;
}

/* The ticks of a TickClock ``clock`` at or before t, less ``done``: the ports' inlined
 * ((t - epoch_ns + 1) * den + num - 1) // num - offset - done. 1 with *out, 0 when not the plain case. */
static int clock_due(PyObject *clock, int64_t t, int64_t done, int64_t *out)
{
    int64_t epoch, num, den, offset;
    if (!Py_IS_TYPE(clock, (PyTypeObject *)PR[PR_TICK_CLOCK]) || !peek_i64(clock, A_EPOCH_NS, &epoch)
            || !peek_i64(clock, A_NUM, &num) || !peek_i64(clock, A_DEN, &den) || !peek_i64(clock, A_OFFSET, &offset)
            || num <= 0 || t < -PORT_BOUND || t > PORT_BOUND)
        return 0;
    __int128 c = fdiv128((__int128)(t - epoch + 1) * den + num - 1, num) - offset - done;
    if (c < -PORT_BOUND || c > PORT_BOUND)
        return 0;
    *out = (int64_t)c;
    return 1;
}

/* del ba[:k] of an exact bytearray: what its slice deletion does for a slice from 0 (bytearray_setslice_linear:
 * its logical start advanced, then PyByteArray_Resize, the start restored if that fails), without the slice
 * object and its parsing; PySequence_DelSlice itself where the buffer is exported (which raises BufferError as
 * the deletion does) or k is not within 1 .. len. 0 or -1 with an exception. */
static int bytearray_del_front(PyObject *ba, Py_ssize_t k)
{
    PyByteArrayObject *b = (PyByteArrayObject *)ba;
    if (!PyByteArray_CheckExact(ba) || k <= 0 || k > Py_SIZE(ba) || b->ob_exports > 0)
        return PySequence_DelSlice(ba, 0, k);
    b->ob_start += k;
    if (PyByteArray_Resize(ba, Py_SIZE(ba) - k) < 0) {
        b->ob_start -= k;
        return -1;
    }
    return 0;
}

/* RxPort._pop(n): the bytes (a new reference) or NULL with an exception. */
static PyObject *rx_pop(PyObject *port, int64_t n)
{
    PyObject *fifo = method_is(port, A_UPOP, PR[PR_RX_POP]) ? peek_exact(port, A_FIFO, &PyByteArray_Type) : NULL;
    Py_ssize_t have = fifo == NULL ? 0 : PyByteArray_GET_SIZE(fifo);
    if (fifo == NULL || n > have) {  /* (n > have: the method raises, naming the port) */
        Py_XDECREF(fifo);
        PyObject *nv = PyLong_FromLongLong((long long)n);
        PyObject *r = nv == NULL ? NULL : PyObject_CallMethodOneArg(port, AN[A_UPOP], nv);
        Py_XDECREF(nv);
        return r;
    }
    PyObject *data = PyBytes_FromStringAndSize(PyByteArray_AS_STRING(fifo), (Py_ssize_t)n);
    if (data != NULL && (n < have ? bytearray_del_front(fifo, (Py_ssize_t)n) : PyByteArray_Resize(fifo, 0)) < 0)
        Py_CLEAR(data);
    Py_DECREF(fifo);
    if (data != NULL && attr_add(port, A_POPPED, n) < 0)
        Py_CLEAR(data);
    return data;
}

/* A Python call of fn(a, b) with two int64 arguments. */
static PyObject *call_ll(PyObject *fn, int64_t a, int64_t b)
{
    return call_ints(fn, 2, a, b, 0);
}

/* SampledRx.steady_read(t, n) of an exact SampledRx: 1 with the bytes in *out, 0 when not the plain case (nothing
 * done), -1 with an exception. */
static int sampled_rx_read(PyObject *port, int64_t t, int64_t n, PyObject **out)
{
    int64_t done, c, first, stop, fb;
    PyObject *clock = aget(port, A_CLOCK), *fifo = NULL, *src = NULL, *data = NULL;
    if (clock == NULL) {
        PyErr_Clear();
        return 0;
    }
    int ok = peek_i64(port, A_TICKS_DONE, &done) && clock_due(clock, t, done, &c)
             && (fifo = peek_exact(port, A_FIFO, &PyByteArray_Type)) != NULL;
    Py_DECREF(clock);
    if (ok && c > 0) {
        src = aget(port, A_SOURCE);
        if (src == NULL)
            PyErr_Clear();
        ok = src != NULL;
    }
    if (ok && c > 0 && Py_IS_TYPE(src, (PyTypeObject *)PR[PR_BLOCK_SOURCE])) {
        /* src(first, c), inlined as the method does: consecutive frames slice the block */
        PyObject *block = peek_exact(src, A_UBLOCK, &PyBytes_Type);
        ok = block != NULL && peek_i64(src, A_UFIRST, &first) && peek_i64(src, A_USTOP, &stop)
             && peek_i64(src, A_FRAME_BYTES, &fb) && fb >= 0;
        if (ok && !(done < first || done + c > stop)) {
            __int128 a = (__int128)(done - first) * fb, k = (__int128)c * fb, len = PyBytes_GET_SIZE(block);
            if (a > len)  /* (a slice past the end is empty) */
                a = len;
            if (a + k > len)
                k = len - a;
            data = PyBytes_FromStringAndSize(PyBytes_AS_STRING(block) + (Py_ssize_t)a, (Py_ssize_t)k);
            if (data == NULL)
                ok = -1;
        }
        Py_XDECREF(block);
    }
    if (ok <= 0) {
        Py_XDECREF(fifo);
        Py_XDECREF(src);
        return ok;
    }
    pr_calls[0]++;
    if (c > 0) {
        if (data == NULL)  /* (the block's compute, or another source: called as the method calls it) */
            data = call_ll(src, done, c);
        Py_DECREF(src);
        PyObject *unit = NULL, *k = NULL;
        if (data == NULL || (unit = aget(port, A_UNIT)) == NULL)
            goto fail;
        PyObject *cv = PyLong_FromLongLong((long long)c);  /* self.entered += c * self.unit */
        k = cv == NULL ? NULL : PyNumber_Multiply(cv, unit);
        Py_XDECREF(cv);
        Py_DECREF(unit);
        if (k == NULL)
            goto fail;
        PyObject *e = aget(port, A_ENTERED), *r = NULL;
        if (e != NULL) {
            r = PyNumber_InPlaceAdd(e, k);
            Py_DECREF(e);
        }
        Py_DECREF(k);
        if (r == NULL || aset(port, A_ENTERED, r) < 0) {
            Py_XDECREF(r);
            goto fail;
        }
        Py_DECREF(r);
        if (attr_add(port, A_TICKS_DONE, c) < 0)
            goto fail;
        if (PyByteArray_GET_SIZE(fifo) == 0) {
            Py_ssize_t len = PyObject_Size(data);
            if (len < 0)
                goto fail;
            if (len == n && PyBytes_CheckExact(data)) {  /* the samples an empty FIFO would hand over whole */
                Py_DECREF(fifo);
                if (attr_add(port, A_POPPED, n) < 0) {
                    Py_DECREF(data);
                    return -1;
                }
                *out = data;
                return 1;
            }
        }
        r = PyNumber_InPlaceAdd(fifo, data);  /* fifo += data */
        Py_CLEAR(data);
        if (r == NULL)
            goto fail;
        Py_DECREF(r);
    }
    Py_DECREF(fifo);
    *out = rx_pop(port, n);
    return *out == NULL ? -1 : 1;
fail:
    Py_XDECREF(data);
    Py_DECREF(fifo);
    return -1;
}

/* RxPort.steady_read(t, n) of an exact _UartRx, its _ticks(c, True) inlined: as sampled_rx_read. */
static int uart_rx_read(PyObject *port, int64_t t, int64_t n, PyObject **out)
{
    int64_t done, c = 0;
    if (!method_is(port, A_UTICKS, PR[PR_UART_RX_TICKS]))
        return 0;
    PyObject *clock = aget(port, A_CLOCK), *fifo = NULL, *pending = NULL;
    if (clock == NULL) {
        PyErr_Clear();
        return 0;
    }
    int ok = clock == Py_None || (peek_i64(port, A_TICKS_DONE, &done) && clock_due(clock, t, done, &c));
    Py_DECREF(clock);
    if (ok && c > 0) {
        ok = (pending = peek_exact(port, A_PENDING, &PyByteArray_Type)) != NULL
             && (fifo = peek_exact(port, A_FIFO, &PyByteArray_Type)) != NULL && fifo != pending;
        if (!ok) {
            Py_XDECREF(pending);
            Py_XDECREF(fifo);
            return 0;
        }
    }
    if (!ok)
        return 0;
    pr_calls[1]++;
    if (c > 0) {  /* _UartRx._ticks(c, True) */
        Py_ssize_t have = PyByteArray_GET_SIZE(pending), k = c < have ? (Py_ssize_t)c : have;
        int r = 0;
        if (k) {
            Py_ssize_t old = PyByteArray_GET_SIZE(fifo);
            r = PyByteArray_Resize(fifo, old + k);  /* self.fifo += pending[:k] */
            if (r == 0) {
                memcpy(PyByteArray_AS_STRING(fifo) + old, PyByteArray_AS_STRING(pending), (size_t)k);
                r = attr_add(port, A_ENTERED, k);
            }
            if (r == 0)
                r = bytearray_del_front(pending, k);
            if (r == 0)
                r = attr_add(port, A_TICKS_DONE, k);
        }
        if (r == 0 && PyByteArray_GET_SIZE(pending) == 0)
            r = aset(port, A_CLOCK, Py_None);
        Py_DECREF(pending);
        Py_DECREF(fifo);
        if (r < 0)
            return -1;
    }
    *out = rx_pop(port, n);
    return *out == NULL ? -1 : 1;
}

/* The first half of TxPort.steady_write(t, data): fifo += data, written += len(data), and the ticks due by t
 * (*due, 0 when the clock is None). 1, 0 when not the plain case (nothing done), -1 with an exception. */
static int tx_append(PyObject *port, int64_t t, PyObject *data, PyObject **fifo_out, int64_t *due)
{
    int64_t done;
    PyObject *fifo = peek_exact(port, A_FIFO, &PyByteArray_Type);
    if (fifo == NULL)
        return 0;
    PyObject *clock = aget(port, A_CLOCK);
    if (clock == NULL)
        PyErr_Clear();
    *due = 0;
    int ok = clock != NULL && (clock == Py_None
                               || (peek_i64(port, A_TICKS_DONE, &done) && clock_due(clock, t, done, due)));
    Py_XDECREF(clock);
    if (!ok) {
        Py_DECREF(fifo);
        return 0;
    }
    Py_ssize_t old = PyByteArray_GET_SIZE(fifo), n = PyBytes_GET_SIZE(data);
    if (PyByteArray_Resize(fifo, old + n) < 0) {
        Py_DECREF(fifo);
        return -1;
    }
    memcpy(PyByteArray_AS_STRING(fifo) + old, PyBytes_AS_STRING(data), (size_t)n);
    if (attr_add(port, A_WRITTEN, n) < 0) {
        Py_DECREF(fifo);
        return -1;
    }
    *fifo_out = fifo;
    return 1;
}

/* self._ticks(n, False) */
static int call_ticks(PyObject *port, int64_t n)
{
    PyObject *r = PyObject_CallMethod(port, "_ticks", "LO", (long long)n, Py_False);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

/* TickRuns.append(index, clock, tick, count) of an exact TickRuns whose last run is a list of 4 with ints within
 * +-PORT_BOUND (or none): 0, or -1 with an exception; else the method is called. */
static int runs_append(PyObject *runs_obj, int64_t index, PyObject *clock, int64_t tick, int64_t count)
{
    PyObject *runs = NULL;
    if (Py_IS_TYPE(runs_obj, (PyTypeObject *)PR[PR_TICK_RUNS])
            && method_is(runs_obj, A_APPEND, PR[PR_TICK_RUNS_APPEND]))
        runs = peek_exact(runs_obj, A_URUNS, &PyList_Type);
    if (runs != NULL) {
        Py_ssize_t m = PyList_GET_SIZE(runs);
        PyObject *last = m ? PyList_GET_ITEM(runs, m - 1) : NULL;
        int64_t l0 = 0, l2 = 0, l3 = 0;
        int ok = last == NULL;
        if (last != NULL && PyList_CheckExact(last) && PyList_GET_SIZE(last) == 4) {
            PyObject *v[3] = {PyList_GET_ITEM(last, 0), PyList_GET_ITEM(last, 2), PyList_GET_ITEM(last, 3)};
            int64_t *o[3] = {&l0, &l2, &l3};
            ok = 1;
            for (int i = 0; i < 3 && ok; i++) {
                int of = 0;
                long long x = PyLong_CheckExact(v[i]) ? PyLong_AsLongLongAndOverflow(v[i], &of) : 0;
                ok = PyLong_CheckExact(v[i]) && !of && x >= -PORT_BOUND && x <= PORT_BOUND;
                *o[i] = (int64_t)x;
            }
        }
        if (ok) {
            int r;
            if (last != NULL && PyList_GET_ITEM(last, 1) == clock && l2 + l3 == tick && l0 + l3 == index) {
                PyObject *x = PyLong_FromLongLong((long long)(l3 + count));  /* last[3] += count */
                r = x == NULL ? -1 : PyList_SetItem(last, 3, x);
            } else {
                PyObject *run = Py_BuildValue("[LOLL]", (long long)index, clock, (long long)tick, (long long)count);
                r = run == NULL ? -1 : PyList_Append(runs, run);
                Py_XDECREF(run);
            }
            Py_DECREF(runs);
            return r;
        }
        Py_DECREF(runs);
    }
    PyObject *res = PyObject_CallMethod(runs_obj, "append", "LOLL", (long long)index, clock, (long long)tick,
                                        (long long)count);
    Py_XDECREF(res);
    return res == NULL ? -1 : 0;
}

/* ByteCapture.append(chunk) of k bytes: inlined while the chunk fits under the capture's limit (None or
 * _kept + k <= limit: nothing to let go, so the chunk list, _kept and total), else the method: 0 or -1. */
static int capture_append(PyObject *cap, PyObject *chunk, int64_t k)
{
    PyObject *limit = aget(cap, A_LIMIT), *res = NULL;
    if (limit == NULL)
        return -1;
    int fits = limit == Py_None;
    int64_t lim, kept_n;
    int of = 0;
    if (!fits && PyLong_CheckExact(limit) && (lim = PyLong_AsLongLongAndOverflow(limit, &of), !of)
            && lim >= -PORT_BOUND && lim <= PORT_BOUND && peek_i64(cap, A_UKEPT, &kept_n))
        fits = kept_n + k <= lim;  /* (ints within +-2**61, k <= 2**62: as Python compares them) */
    else if (!fits) {  /* cap._kept + k <= limit */
        PyObject *kept = aget(cap, A_UKEPT), *kv = PyLong_FromLongLong((long long)k), *sum = NULL;
        if (kept != NULL && kv != NULL)
            sum = PyNumber_Add(kept, kv);
        Py_XDECREF(kept);
        Py_XDECREF(kv);
        fits = sum == NULL ? -1 : PyObject_RichCompareBool(sum, limit, Py_LE);
        Py_XDECREF(sum);
    }
    Py_DECREF(limit);
    if (fits < 0)
        return -1;
    if (!fits) {
        res = PyObject_CallMethodOneArg(cap, AN[A_APPEND], chunk);
        Py_XDECREF(res);
        return res == NULL ? -1 : 0;
    }
    PyObject *chunks = aget(cap, A_UCHUNKS);
    if (chunks != NULL) {
        if (PyList_CheckExact(chunks))  /* list.append, as the method does it */
            res = PyList_Append(chunks, chunk) < 0 ? NULL : Py_NewRef(Py_None);
        else
            res = PyObject_CallMethodOneArg(chunks, AN[A_APPEND], chunk);
        Py_DECREF(chunks);
    }
    if (res == NULL)
        return -1;
    Py_DECREF(res);
    return attr_add(cap, A_UKEPT, k) < 0 || attr_add(cap, A_TOTAL, k) < 0 ? -1 : 0;
}

/* _UartTx._ticks(n, False), n > 0, just after tx_append (its clock an exact TickClock): 0 or -1. */
static int uart_tx_ticks(PyObject *port, PyObject *fifo, int64_t n)
{
    PyObject *clock = aget(port, A_CLOCK), *owner = NULL, *out = NULL, *out_ns = NULL, *chunk = NULL;
    int64_t done, total, k = PyByteArray_GET_SIZE(fifo);
    int r = -1;
    if (n < k)
        k = n;
    if (clock == NULL)
        return -1;
    if (k) {
        if ((owner = aget(port, A_OWNER)) == NULL || (out = aget(owner, A_UOUT)) == NULL
                || (out_ns = aget(owner, A_UOUT_NS)) == NULL)
            goto done;
        if (!peek_i64(out, A_TOTAL, &total) || !peek_i64(port, A_TICKS_DONE, &done)) {
            /* owner._out_ns.append(out.total, clock, self.ticks_done, k), called as such */
            PyObject *tv = aget(out, A_TOTAL), *dv = tv == NULL ? NULL : aget(port, A_TICKS_DONE), *res = NULL;
            if (dv != NULL)
                res = PyObject_CallMethod(out_ns, "append", "OOOL", tv, clock, dv, (long long)k);
            Py_XDECREF(tv);
            Py_XDECREF(dv);
            if (res == NULL)
                goto done;
            Py_DECREF(res);
        } else if (runs_append(out_ns, total, clock, done, k) < 0)
            goto done;
        if ((chunk = PyBytes_FromStringAndSize(PyByteArray_AS_STRING(fifo), (Py_ssize_t)k)) == NULL
                || capture_append(out, chunk, k) < 0)
            goto done;
        if (bytearray_del_front(fifo, (Py_ssize_t)k) < 0 || attr_add(port, A_DRAINED, k) < 0
                || attr_add(port, A_TICKS_DONE, k) < 0)
            goto done;
    }
    r = k < n ? aset(port, A_CLOCK, Py_None) : 0;  /* a slot with nothing to send: the line goes idle */
done:
    Py_XDECREF(chunk);
    Py_XDECREF(out_ns);
    Py_XDECREF(out);
    Py_XDECREF(owner);
    Py_DECREF(clock);
    return r;
}

/* TxPort.steady_write(t, data) of an exact _UartTx: as sampled_rx_read (1, 0 or -1). */
static int uart_tx_write(PyObject *port, int64_t t, PyObject *data)
{
    PyObject *fifo;
    int64_t n;
    int r = tx_append(port, t, data, &fifo, &n);
    if (r <= 0)
        return r;
    pr_calls[3]++;
    if (n > 0 && method_is(port, A_UTICKS, PR[PR_UART_TX_TICKS]))
        r = uart_tx_ticks(port, fifo, n);
    else
        r = n > 0 ? call_ticks(port, n) : 0;
    Py_DECREF(fifo);
    return r < 0 ? -1 : 1;
}

/* _I2sTx.steady_write(t, data) of an exact _I2sTx, its _ticks' steady case inlined: as sampled_rx_read. */
static int i2s_tx_write(PyObject *port, int64_t t, PyObject *data)
{
    PyObject *fifo, *played = NULL, *owner = NULL, *cap = NULL;
    int64_t n, u, ku;
    if (!peek_i64(port, A_UNIT, &u) || u <= 0)
        return 0;
    int r = tx_append(port, t, data, &fifo, &n);
    if (r <= 0)
        return r;
    pr_calls[2]++;
    if (n <= 0) {
        Py_DECREF(fifo);
        return 1;
    }
    Py_ssize_t have = PyByteArray_GET_SIZE(fifo);
    if ((__int128)n * u > have || !method_is(port, A_UTICKS, PR[PR_I2S_TX_TICKS])) {
        Py_DECREF(fifo);  /* (too few bytes: underruns; another _ticks on the class: the method) */
        return call_ticks(port, n) < 0 ? -1 : 1;
    }
    ku = n * u;
    if (ku == have) {  /* every frame plays from the FIFO */
        played = PyBytes_FromStringAndSize(PyByteArray_AS_STRING(fifo), have);
        if (played == NULL || PyByteArray_Resize(fifo, 0) < 0)
            goto fail;
    } else {
        played = PyByteArray_FromStringAndSize(PyByteArray_AS_STRING(fifo), (Py_ssize_t)ku);
        if (played == NULL || bytearray_del_front(fifo, (Py_ssize_t)ku) < 0)
            goto fail;
    }
    Py_CLEAR(fifo);
    if ((owner = aget(port, A_OWNER)) == NULL || (cap = aget(owner, A_UPLAYED)) == NULL
            || capture_append(cap, played, ku) < 0)
        goto fail;
    Py_DECREF(played);
    Py_DECREF(cap);
    Py_DECREF(owner);
    if (attr_add(port, A_DRAINED, ku) < 0 || attr_add(port, A_TICKS_DONE, n) < 0)
        return -1;
    return 1;
fail:
    Py_XDECREF(fifo);
    Py_XDECREF(played);
    Py_XDECREF(cap);
    Py_XDECREF(owner);
    return -1;
}

/* port_fn(last, n) of a receiving lane: the bytes (a new reference) or NULL with an exception. */
static PyObject *port_read(PyObject *port_fn, int64_t last, int64_t n)
{
    if (Py_IS_TYPE(port_fn, &PyMethod_Type)) {
        PyObject *f = PyMethod_GET_FUNCTION(port_fn), *self = PyMethod_GET_SELF(port_fn), *out = NULL;
        PyTypeObject *tp = Py_TYPE(self);
        int r = 0;
        if (f == PR[PR_SAMPLED_RX_READ] && tp == (PyTypeObject *)PR[PR_SAMPLED_RX] && PR[PR_TICK_CLOCK] != NULL
                && method_is(self, A_UPOP, PR[PR_RX_POP]))
            r = sampled_rx_read(self, last, n, &out);
        else if (f == PR[PR_RX_READ] && tp == (PyTypeObject *)PR[PR_UART_RX] && PR[PR_TICK_CLOCK] != NULL)
            r = uart_rx_read(self, last, n, &out);
        if (r != 0)
            return r < 0 ? NULL : out;
    }
    return call_ll(port_fn, last, n);
}

/* port_fn(last, data) of a transmitting lane: 0 or -1 with an exception. */
static int port_write(PyObject *port_fn, int64_t last, PyObject *data)
{
    if (Py_IS_TYPE(port_fn, &PyMethod_Type)) {
        PyObject *f = PyMethod_GET_FUNCTION(port_fn), *self = PyMethod_GET_SELF(port_fn);
        PyTypeObject *tp = Py_TYPE(self);
        int r = 0;
        if (f == PR[PR_I2S_TX_WRITE] && tp == (PyTypeObject *)PR[PR_I2S_TX] && PR[PR_TICK_CLOCK] != NULL)
            r = i2s_tx_write(self, last, data);
        else if (f == PR[PR_TX_WRITE] && tp == (PyTypeObject *)PR[PR_UART_TX] && PR[PR_TICK_CLOCK] != NULL)
            r = uart_tx_write(self, last, data);
        if (r != 0)
            return r < 0 ? -1 : 0;
    }
    PyObject *lastv = PyLong_FromLongLong((long long)last);
    PyObject *res = lastv == NULL ? NULL : PyObject_CallFunctionObjArgs(port_fn, lastv, data, NULL);
    Py_XDECREF(lastv);
    Py_XDECREF(res);
    return res == NULL ? -1 : 0;
}

/* BusCore.set_ports(**classes): the port classes and methods the code above follows (None: forget one). */
static PyObject *core_set_ports(PyObject *cls, PyObject *args, PyObject *kwds)
{
    if (PyTuple_GET_SIZE(args) != 0) {
        PyErr_SetString(PyExc_TypeError, "BusCore.set_ports takes keyword arguments only");
        return NULL;
    }
    Py_ssize_t i = 0;
    PyObject *k, *v;
    while (kwds != NULL && PyDict_Next(kwds, &i, &k, &v)) {
        int j = 0;
        while (j < NPR && !(PyUnicode_Check(k) && PyUnicode_CompareWithASCIIString(k, pr_names[j]) == 0))
            j++;
        if (j == NPR) {
            PyErr_Format(PyExc_TypeError, "BusCore.set_ports: no port part named %R", k);
            return NULL;
        }
        if (v != Py_None && (j == PR_TICK_CLOCK || j == PR_BLOCK_SOURCE || j == PR_SAMPLED_RX || j == PR_UART_RX
                             || j == PR_I2S_TX || j == PR_UART_TX || j == PR_TICK_RUNS) && !PyType_Check(v)) {
            PyErr_Format(PyExc_TypeError, "BusCore.set_ports: %s must be a class, not %R", pr_names[j], v);
            return NULL;
        }
        Py_XSETREF(PR[j], v == Py_None ? NULL : Py_NewRef(v));
    }
    Py_RETURN_NONE;
}

/* BusCore.port_calls(): the port calls done in C so far (sampled RX, UART RX, I2S TX, UART TX). */
static PyObject *core_port_calls(PyObject *cls, PyObject *unused)
{
    return Py_BuildValue("(KKKK)", pr_calls[0], pr_calls[1], pr_calls[2], pr_calls[3]);
}

static int get_attr_ssize(PyObject *ch, int name, Py_ssize_t *out)
{
    PyObject *v = aget(ch, name);
    if (v == NULL)
        return -1;
    if (!PyLong_CheckExact(v)) {
        Py_DECREF(v);
        *out = -1;
        return 1;  /* not ours: the fallback */
    }
    Py_ssize_t x = PyLong_AsSsize_t(v);
    Py_DECREF(v);
    if (x == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        *out = -1;
        return 1;
    }
    *out = x;
    return 0;
}

static int set_attr_ssize(PyObject *ch, int name, Py_ssize_t v)
{
    PyObject **p = slot(ch, name), *x;
    if (p != NULL && *p != NULL && PyLong_CheckExact(*p)) {  /* a __slots__ member that holds v already: kept */
        int of = 0;
        long long y = PyLong_AsLongLongAndOverflow(*p, &of);
        if (!of && y == v)
            return 0;
    }
    if ((x = PyLong_FromSsize_t(v)) == NULL)
        return -1;
    if (p != NULL) {  /* (an int's allocation runs no Python code: p still holds) */
        Py_XSETREF(*p, x);
        return 0;
    }
    int r = PyObject_SetAttr(ch, AN[name], x);
    Py_DECREF(x);
    return r;
}

/* 1 when ch.<name> is want, 0 when not, -1 with an exception. */
static int attr_is(PyObject *ch, int name, PyObject *want)
{
    PyObject *v = aget(ch, name);
    if (v == NULL)
        return -1;
    int r = v == want;
    Py_DECREF(v);
    return r;
}

/* check_mover of lane pos's mover, done once per mover tuple (held in o->movers_ok: a tuple and its items stay as
 * they were checked; only its mvs list's length can change, checked each time). */
static int mover_checked(BusCore *o, Py_ssize_t pos, PyObject *mover)
{
    if (mover != Py_None && mover == o->movers_ok[pos]
            && (PyTuple_GET_SIZE(mover) == 8  /* (a copy lane's: copy.c reads its fields each move) */
                || PyList_GET_SIZE(PyTuple_GET_ITEM(mover, 2)) == PyTuple_GET_SIZE(PyTuple_GET_ITEM(mover, 3))))
        return 0;
    if (check_mover(mover) < 0)
        return -1;
    if (mover != Py_None)
        Py_XSETREF(o->movers_ok[pos], Py_NewRef(mover));
    return 0;
}

static int lane_move(BusCore *core, PyObject *mover, Py_ssize_t pos, int64_t n, int64_t last, PyObject *move,
                     PyObject *store)
{
    if (mover == Py_None)
        return call_fallback(move, pos, n, last);
    if (mover_checked(core, pos, mover) < 0)
        return -1;
    if (PyTuple_GET_SIZE(mover) == 8) {  /* a copy lane's (copy.c), or the Python move where it is not its case */
        int r = dmaengine_copy_move(mover, n);
        return r < 0 ? -1 : r ? 0 : call_fallback(move, pos, n, last);
    }
    PyObject *ch = PyTuple_GET_ITEM(mover, 0), *prog = PyTuple_GET_ITEM(mover, 1);
    PyObject *mvs = PyTuple_GET_ITEM(mover, 2), *lengths = PyTuple_GET_ITEM(mover, 3);
    PyObject *port_fn = PyTuple_GET_ITEM(mover, 4);
    int tx = PyTuple_GET_ITEM(mover, 5) == Py_True;
    int r;
    if ((r = attr_is(ch, A_PROG, prog)) <= 0 || (r = attr_is(ch, A_CHECKED, prog)) <= 0
            || (r = attr_is(ch, A_MVS, mvs)) <= 0)
        return r < 0 ? -1 : call_fallback(move, pos, n, last);
    Py_ssize_t idx, off, done, nitems = PyTuple_GET_SIZE(lengths);
    if ((r = get_attr_ssize(ch, A_ITEM_IDX, &idx)) != 0 || (r = get_attr_ssize(ch, A_ITEM_OFF, &off)) != 0
            || (r = get_attr_ssize(ch, A_DONE, &done)) != 0)
        return r < 0 ? -1 : call_fallback(move, pos, n, last);
    if (idx < 0 || idx >= nitems || off < 0 || n < 0 || n > PY_SSIZE_T_MAX / 2)
        return call_fallback(move, pos, n, last);
    Piece pc[MOVE_MAX_PIECES];
    Py_ssize_t np = 0, rest = (Py_ssize_t)n, i = idx, o = off, d = done;
    Py_ssize_t length = PyLong_AsSsize_t(PyTuple_GET_ITEM(lengths, idx));
    if (length == -1 && PyErr_Occurred()) {  /* past Py_ssize_t: the Python path's */
        PyErr_Clear();
        return call_fallback(move, pos, n, last);
    }
    int single = off + rest <= length;
    if (single) {
        pc[0].idx = idx;
        pc[0].off = off;
        pc[0].k = rest;
        np = 1;
    } else {  /* Dmac._take_items: across items, a ring wraps */
        while (rest) {
            Py_ssize_t len = PyLong_AsSsize_t(PyTuple_GET_ITEM(lengths, i));
            if (len == -1 && PyErr_Occurred()) {
                PyErr_Clear();
                return call_fallback(move, pos, n, last);
            }
            Py_ssize_t k = len - o;
            if (k <= 0 || np == MOVE_MAX_PIECES)
                return call_fallback(move, pos, n, last);
            if (rest < k)
                k = rest;
            pc[np].idx = i;
            pc[np].off = o;
            pc[np].k = k;
            np++;
            rest -= k;
            o += k;
            d += k;
            if (o == len) {
                i++;
                o = 0;
                if (i == nitems) {
                    i = 0;
                    d = 0;
                }
            }
        }
    }
    if (!pieces_fit(mvs, pc, np, tx))
        return call_fallback(move, pos, n, last);
    if (!single && (set_attr_ssize(ch, A_ITEM_IDX, i) < 0 || set_attr_ssize(ch, A_ITEM_OFF, o) < 0
                    || set_attr_ssize(ch, A_DONE, d) < 0))
        return -1;
    if (tx) {
        PyObject *data = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n);
        if (data == NULL || pieces_copy(mvs, pc, np, PyBytes_AS_STRING(data), 1) < 0) {
            Py_XDECREF(data);
            return -1;
        }
        r = port_write(port_fn, last, data);
        Py_DECREF(data);
        if (r < 0)
            return -1;
    } else {
        PyObject *data = port_read(port_fn, last, n);
        if (data == NULL)
            return -1;
        if (PyBytes_CheckExact(data) && PyBytes_GET_SIZE(data) == (Py_ssize_t)n)
            r = pieces_copy(mvs, pc, np, PyBytes_AS_STRING(data), 0);
        else
            r = call_store(store, mvs, pc, np, data, single);
        Py_DECREF(data);
        if (r < 0)
            return -1;
    }
    if (single) {  /* as Dmac._sched_move: the item's end steps to the next item, a ring wraps */
        o = off + (Py_ssize_t)n;
        if (o == length) {
            if (idx + 1 == nitems) {
                i = o = d = 0;
            } else {
                i = idx + 1;
                o = 0;
                d = done + (Py_ssize_t)n;
            }
        } else {
            i = idx;
            d = done + (Py_ssize_t)n;
        }
        if (set_attr_ssize(ch, A_ITEM_IDX, i) < 0 || set_attr_ssize(ch, A_ITEM_OFF, o) < 0
                || set_attr_ssize(ch, A_DONE, d) < 0)
            return -1;
    }
    return 0;
}

static int check_movers(BusCore *o, PyObject *movers, PyObject *move, PyObject *store, const char *what)
{
    if (!PyList_CheckExact(movers) || PyList_GET_SIZE(movers) != o->n) {
        PyErr_Format(PyExc_TypeError, "%s: movers must be a list of %zd movers, not %R", what, o->n, movers);
        return -1;
    }
    if (!PyCallable_Check(move) || !PyCallable_Check(store)) {
        PyErr_Format(PyExc_TypeError, "%s: move and store must be callable, not %R and %R", what, move, store);
        return -1;
    }
    for (Py_ssize_t i = 0; i < o->n; i++)  /* refused before any burst is taken */
        if (mover_checked(o, i, PyList_GET_ITEM(movers, i)) < 0)
            return -1;
    return 0;
}

/* take_moves(t, movers, move, store): take_all(t) and move every lane's bytes (in lane order, after every lane
 * is taken, as Dmac._sched_take does); the number of bursts taken. */
static PyObject *core_take_moves(BusCore *o, PyObject *const *args, Py_ssize_t nargs)
{
    long long t;
    if (fc_nargs(nargs, 4, 4, "take_moves") < 0 || fc_ll(args[0], &t) < 0)
        return NULL;
    PyObject *movers = args[1], *move = args[2], *store = args[3];
    if (check_movers(o, movers, move, store, "take_moves") < 0)
        return NULL;
    int64_t nb[BUS_MAX_LANES], last[BUS_MAX_LANES];
    Py_ssize_t which[BUS_MAX_LANES], k = 0;
    __int128 total = 0;
    for (Py_ssize_t pos = 0; pos < o->n; pos++) {
        SegList *sl = &o->segs[pos];
        if (sl->taken_si == sl->n)
            continue;
        Seg *s = &sl->v[sl->taken_si];
        if (s->grant + sl->taken_done * s->stride + s->dur > t)
            continue;
        int64_t count;
        if (take(o, pos, t, NULL, &count, &nb[k], &last[k]) < 0)
            return NULL;
        total += count;
        which[k++] = pos;
    }
    int64_t out;
    if (fits(total, &out) < 0)
        return NULL;
    Py_INCREF(movers);
    for (Py_ssize_t j = 0; j < k; j++) {
        if (PyList_GET_SIZE(movers) != o->n) {
            PyErr_Format(PyExc_RuntimeError, "take_moves: the movers list changed size during the moves");
            Py_DECREF(movers);
            return NULL;
        }
        PyObject *m = PyList_GET_ITEM(movers, which[j]);
        Py_INCREF(m);
        int r = lane_move(o, m, which[j], nb[j], last[j], move, store);
        Py_DECREF(m);
        if (r < 0) {
            Py_DECREF(movers);
            return NULL;
        }
    }
    Py_DECREF(movers);
    return PyLong_FromLongLong((long long)out);
}

/* take(pos, t) and lane pos's bytes moved (take_move, and wake's lone lane): 0 with *count_out the bursts taken, or
 * -1 with an exception (no such lane, malformed movers, or what the move raised). */
static int take_lane_move(BusCore *o, Py_ssize_t pos, int64_t t, PyObject *movers, PyObject *move, PyObject *store,
                          const char *what, int64_t *count_out)
{
    if (pos < 0 || pos >= o->n) {
        PyErr_Format(PyExc_IndexError, "BusCore: no lane %zd", pos);
        return -1;
    }
    if (check_movers(o, movers, move, store, what) < 0)
        return -1;
    int64_t count, nbytes, last;
    if (take(o, pos, t, NULL, &count, &nbytes, &last) < 0)
        return -1;
    if (count) {
        PyObject *m = PyList_GET_ITEM(movers, pos);
        Py_INCREF(m);
        int r = lane_move(o, m, pos, nbytes, last, move, store);
        Py_DECREF(m);
        if (r < 0)
            return -1;
    }
    *count_out = count;
    return 0;
}

/* take_move(pos, t, movers, move, store): take(pos, t) and move lane pos's bytes; the number of bursts taken. */
static PyObject *core_take_move(BusCore *o, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t pos;
    long long t;
    if (fc_nargs(nargs, 5, 5, "take_move") < 0 || fc_n(args[0], &pos) < 0 || fc_ll(args[1], &t) < 0)
        return NULL;
    int64_t count;
    if (take_lane_move(o, pos, t, args[2], args[3], args[4], "take_move", &count) < 0)
        return NULL;
    return PyLong_FromLongLong((long long)count);
}

/* --- a schedule's wake: Dmac._sched_wake's and Dmac._sched_arm's arithmetic (due, arm) ------------------------ */

/* BusSchedule._sync, done here: core_state() into sched's attributes (its __slots__ members written in place,
 * an int that did not change kept). */
static int sync_into(BusCore *o, PyObject *sched)
{
    for (int i = 0; i < NSTATE_ITEMS; i++) {
        PyObject **p = slot(sched, A_WAITING + i);
        PyObject *v = state_item(o, i, p != NULL ? *p : NULL);
        if (v == NULL)
            return -1;
        if (p != NULL)
            Py_XSETREF(*p, v);
        else {
            int r = PyObject_SetAttr(sched, AN[A_WAITING + i], v);
            Py_DECREF(v);
            if (r < 0)
                return -1;
        }
    }
    return 0;
}

/* The instant of entry k of a list of (time_ns, ...) tuples: 1 with *t set, 0 past its end, -1 with an exception. */
static int entry_ns(PyObject *list, Py_ssize_t k, int64_t *t)
{
    if (k < 0 || k >= PyList_GET_SIZE(list))
        return 0;
    PyObject *e = PyList_GET_ITEM(list, k);
    if (!PyTuple_Check(e) || PyTuple_GET_SIZE(e) < 2 || !PyLong_Check(PyTuple_GET_ITEM(e, 0))) {
        PyErr_Format(PyExc_TypeError, "BusCore: an item or program end must be a (time_ns, pos, ...) tuple, not %R",
                     e);
        return -1;
    }
    long long v = PyLong_AsLongLong(PyTuple_GET_ITEM(e, 0));
    if (v == -1 && PyErr_Occurred())
        return -1;
    *t = v;
    return 1;
}

static int check_ends(BusCore *o, Py_ssize_t irqs, Py_ssize_t dones, const char *what)
{
    if (o->item_ends == NULL || o->program_ends == NULL || !PyList_Check(o->item_ends)
            || !PyList_Check(o->program_ends)) {
        PyErr_Format(PyExc_TypeError, "%s: this BusCore holds no item and program end lists", what);
        return -1;
    }
    if (irqs < 0 || dones < 0) {
        PyErr_Format(PyExc_ValueError, "%s: interrupts and program ends raised must be >= 0, not %zd and %zd", what,
                     irqs, dones);
        return -1;
    }
    return 0;
}

/* How many interrupts are due at now from item end irqs on, * 2, + (program end dones is at now): 0 with *due
 * set, or -1 with an exception. */
static int due_at(BusCore *o, long long now, Py_ssize_t irqs, Py_ssize_t dones, const char *what, Py_ssize_t *due)
{
    if (check_ends(o, irqs, dones, what) < 0)
        return -1;
    Py_ssize_t k = 0;
    int64_t t;
    int r;
    while ((r = entry_ns(o->item_ends, irqs + k, &t)) == 1 && t == now)
        k++;
    if (r < 0)
        return -1;
    if ((r = entry_ns(o->program_ends, dones, &t)) < 0)
        return -1;
    *due = k * 2 + (r == 1 && t == now);
    return 0;
}

/* due(now, irqs, dones): (the interrupts at now from item end irqs on) * 2 + (program end dones is at now). */
static PyObject *core_due(BusCore *o, PyObject *const *args, Py_ssize_t nargs)
{
    long long now;
    Py_ssize_t irqs, dones, due;
    if (fc_nargs(nargs, 3, 3, "due") < 0 || fc_ll(args[0], &now) < 0 || fc_n(args[1], &irqs) < 0
            || fc_n(args[2], &dones) < 0 || due_at(o, now, irqs, dones, "due", &due) < 0)
        return NULL;
    return PyLong_FromSsize_t(due);
}

/* arm(sched, now, irqs, dones, ahead_chunks, chunk_events): the tail of Dmac._sched_wake (now >= 0: compute a
 * chunk more when the computed part ends by now + 1, or -2 when it is at its stop: settle) and Dmac._sched_arm
 * (compute up to ahead_chunks more chunks until an interrupt or program end is computed): the instant of the
 * schedule's next event (NEVER: none), or None (now >= 0: settle now). sched's attributes are read back
 * (BusSchedule._sync) when it ran. */
static int arm_next(BusCore *o, PyObject *sched, long long now, Py_ssize_t irqs, Py_ssize_t dones, long long ahead,
                    long long chunk, const char *what, int64_t *next_out);

static PyObject *core_arm(BusCore *o, PyObject *const *args, Py_ssize_t nargs)
{
    long long now, ahead, chunk;
    Py_ssize_t irqs, dones;
    if (fc_nargs(nargs, 6, 6, "arm") < 0 || fc_ll(args[1], &now) < 0 || fc_n(args[2], &irqs) < 0
            || fc_n(args[3], &dones) < 0 || fc_ll(args[4], &ahead) < 0 || fc_ll(args[5], &chunk) < 0)
        return NULL;
    int64_t next;
    int r = arm_next(o, args[0], now, irqs, dones, ahead, chunk, "arm", &next);
    if (r < 0)
        return NULL;
    if (r == 0)
        Py_RETURN_NONE;
    return PyLong_FromLongLong((long long)next);
}

/* arm's work: 1 with *next set, 0 (settle now), or -1 with an exception. */
static int arm_next(BusCore *o, PyObject *sched, long long now, Py_ssize_t irqs, Py_ssize_t dones, long long ahead,
                    long long chunk, const char *what, int64_t *next_out)
{
    if (check_ends(o, irqs, dones, what) < 0)
        return -1;
    int ran = 0;
    int64_t t = 0;
    int ri = 0, rd = 0;
    if (now >= 0 && now + 1 >= o->computed) {
        if (o->computed >= o->stop)
            return 0;
        if (run_loop(o, chunk, 1) < 0)
            return -1;
        ran = 1;
    }
    for (long long i = 0; i < ahead; i++) {
        if ((ri = entry_ns(o->item_ends, irqs, &t)) != 0 || (rd = entry_ns(o->program_ends, dones, &t)) != 0
                || o->computed >= o->stop) {
            if (ri < 0 || (ri == 0 && rd < 0))
                return -1;
            break;
        }
        if (run_loop(o, chunk, 1) < 0)
            return -1;
        ran = 1;
    }
    if (ran && sync_into(o, sched) < 0)
        return -1;
    int64_t next = o->computed < BUS_NEVER ? o->computed - 1 : BUS_NEVER;
    if ((ri = entry_ns(o->item_ends, irqs, &t)) < 0)
        return -1;
    if (ri && t < next)
        next = t;
    if ((rd = entry_ns(o->program_ends, dones, &t)) < 0)
        return -1;
    if (rd && t < next)
        next = t;
    *next_out = next;
    return 1;
}

/* --- wake(dmac, sched, now, consts): Dmac._sched_wake's compiled branch, whole, in one call --------------------- */

/* The attributes of the controller (Dmac), its kernel and a channel that the wake reads and writes, by name
 * (getattr and setattr: a subclass's or an instance's own is honoured). */
enum { W_IRQS, W_DONES, W_PROBE, W_LONE, W_TOOK_NS, W_TOOK, W_MOVERS, W_MOVERS_OF, W_CHANS, W_BURSTS, W_PLANS, W_IRQ,
       W_RAISING, W_SCHED, W_KERNEL, W_EV, W_TAKE, W_MOVER_LIST, W_MOVE_AT, W_STORE, W_PROGRAM_END, W_SETTLE,
       W_WAKE, W_IDX, W_WATCH, W_SEQ, W_HEAP, W_AT, W_TIME_NS, W_FN, W_LABEL, W_PRIORITY, W_ESEQ, W_CANCELLED, NW };
static const char *const w_names[NW] = {
    "_sched_irqs", "_sched_dones", "burst_probe", "_sched_lone_ports", "_took_ns", "_took", "_sched_movers",
    "_sched_movers_of", "_sched_chans", "bursts", "plans", "irq", "_raising", "_sched", "kernel", "_sched_ev",
    "_sched_take", "_sched_mover_list", "_sched_move_at", "_sched_store", "_sched_program_end", "_sched_settle",
    "_sched_wake", "idx", "watch_ns", "_seq", "_heap", "at", "time_ns", "fn", "label", "priority", "seq",
    "cancelled",
};
static PyObject *WN[NW];
static PyObject *w_heappush = NULL, *w_empty = NULL;

/* The wake's interned names and heapq.heappush, made once, at import (dmaengine_sim_init; the test in core_wake
 * then finds them made): 0, or -1 with an exception. */
static int wake_ready(void)
{
    if (w_heappush != NULL)
        return 0;
    for (int i = 0; i < NW; i++)
        if (WN[i] == NULL && (WN[i] = PyUnicode_InternFromString(w_names[i])) == NULL)
            return -1;
    if (w_empty == NULL && (w_empty = PyTuple_New(0)) == NULL)
        return -1;
    PyObject *hq = PyImport_ImportModule("_heapq");
    if (hq == NULL)
        return -1;
    w_heappush = PyObject_GetAttrString(hq, "heappush");
    Py_DECREF(hq);
    return w_heappush == NULL ? -1 : 0;
}

/* Where o's class keeps WN[a] when it is a writable __slots__ member (its class with the generic getattr and
 * setattr), as slot() finds AN[a]: 2 (class, version) pairs per name. NULL where o.<name> is anything else. */
static SlotAt WC[NW][2];

static PyObject **wslot(PyObject *o, int a)
{
    PyTypeObject *tp = Py_TYPE(o);
    int valid = PyType_HasFeature(tp, Py_TPFLAGS_VALID_VERSION_TAG);
    SlotAt *w = WC[a];
    for (int i = 0; i < 2; i++)
        if (w[i].tp == tp && valid && w[i].version == tp->tp_version_tag)
            return (PyObject **)((char *)o + w[i].off);
    if (!valid || tp->tp_getattro != PyObject_GenericGetAttr || tp->tp_setattro != PyObject_GenericSetAttr)
        return NULL;
    PyObject *d = _PyType_Lookup(tp, WN[a]);
    if (d == NULL || !Py_IS_TYPE(d, &PyMemberDescr_Type))
        return NULL;
    PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
    if (m->type != T_OBJECT_EX || (m->flags & READONLY) || !PyObject_TypeCheck(o, PyDescr_TYPE(d)))
        return NULL;
    w[1] = w[0];
    w[0].tp = tp;
    w[0].version = tp->tp_version_tag;
    w[0].off = m->offset;
    return (PyObject **)((char *)o + m->offset);
}

/* o.<name>: a new reference, or NULL with an exception (getattr's, where the slot is empty or no slot). */
static PyObject *wget(PyObject *o, int a)
{
    PyObject **p = wslot(o, a);
    if (p != NULL && *p != NULL)
        return Py_NewRef(*p);
    return PyObject_GetAttr(o, WN[a]);
}

/* o.<name> = v: 0, or -1 with an exception. */
static int wset(PyObject *o, int a, PyObject *v)
{
    PyObject **p = wslot(o, a);
    if (p == NULL)
        return PyObject_SetAttr(o, WN[a], v);
    Py_XSETREF(*p, Py_NewRef(v));
    return 0;
}

/* o.<name> as a Py_ssize_t: 0, or -1 with an exception. */
static int w_ssize(PyObject *o, int a, Py_ssize_t *out)
{
    PyObject *v = wget(o, a);
    if (v == NULL)
        return -1;
    *out = PyNumber_AsSsize_t(v, PyExc_OverflowError);
    Py_DECREF(v);
    return *out == -1 && PyErr_Occurred() ? -1 : 0;
}

/* o.<name> += d: 0, or -1 with an exception. */
static int w_add(PyObject *o, int a, long long d)
{
    PyObject *v = wget(o, a);
    if (v == NULL)
        return -1;
    PyObject *dv = PyLong_FromLongLong(d);
    PyObject *nv = dv == NULL ? NULL : PyNumber_InPlaceAdd(v, dv);
    Py_DECREF(v);
    Py_XDECREF(dv);
    if (nv == NULL)
        return -1;
    int r = wset(o, a, nv);
    Py_DECREF(nv);
    return r;
}

/* o.<name>(args...): the result, or NULL with an exception. */
static PyObject *w_call(PyObject *o, int a, PyObject *const *args, size_t n)
{
    PyObject *f = PyObject_GetAttr(o, WN[a]);
    if (f == NULL)
        return NULL;
    PyObject *r = PyObject_Vectorcall(f, args, n, NULL);
    Py_DECREF(f);
    return r;
}

/* Entry k of the list of item ends, field i (ends[k][i]): a new reference, or NULL with an exception. */
static PyObject *w_end_field(BusCore *o, Py_ssize_t k, Py_ssize_t i)
{
    PyObject *e = PySequence_GetItem(o->item_ends, k);
    if (e == NULL)
        return NULL;
    PyObject *v = PySequence_GetItem(e, i);
    Py_DECREF(e);
    return v;
}

/* The lone lane's take and move (_sched_take_lane, inline, as take_move does): 0, or -1 with an exception. */
static int w_take_lane(BusCore *o, PyObject *dmac, PyObject *sched, PyObject *now_obj, long long now)
{
    PyObject *took_ns = wget(dmac, W_TOOK_NS);
    if (took_ns == NULL)
        return -1;
    int differ = PyObject_RichCompareBool(now_obj, took_ns, Py_NE);
    Py_DECREF(took_ns);
    if (differ == 0) {
        PyObject *took = wget(dmac, W_TOOK);
        if (took == NULL)
            return -1;
        differ = took != sched;
        Py_DECREF(took);
    }
    if (differ <= 0)
        return differ;
    PyObject *of = wget(dmac, W_MOVERS_OF);
    PyObject *chans = of == NULL ? NULL : wget(dmac, W_CHANS);
    PyObject *movers = NULL;
    if (chans != NULL)
        movers = of == chans ? wget(dmac, W_MOVERS) : w_call(dmac, W_MOVER_LIST, NULL, 0);
    Py_XDECREF(of);
    Py_XDECREF(chans);
    if (movers == NULL)
        return -1;
    Py_ssize_t irqs, pos;
    PyObject *pv = NULL, *move = NULL, *store = NULL;
    int r = -1;
    /* (``self.bursts += core.take_move(...)``: bursts is read before the move's calls) */
    PyObject *bursts = wget(dmac, W_BURSTS);
    if (bursts == NULL || w_ssize(dmac, W_IRQS, &irqs) < 0 || (pv = w_end_field(o, irqs, 1)) == NULL
            || ((pos = PyNumber_AsSsize_t(pv, PyExc_OverflowError)) == -1 && PyErr_Occurred())
            || (move = PyObject_GetAttr(dmac, WN[W_MOVE_AT])) == NULL
            || (store = PyObject_GetAttr(dmac, WN[W_STORE])) == NULL)
        goto done;
    int64_t count;
    if (take_lane_move(o, pos, now, movers, move, store, "wake", &count) < 0)
        goto done;
    PyObject *cv = PyLong_FromLongLong((long long)count);
    PyObject *nv = cv == NULL ? NULL : PyNumber_InPlaceAdd(bursts, cv);
    Py_XDECREF(cv);
    if (nv != NULL) {
        r = wset(dmac, W_BURSTS, nv);
        Py_DECREF(nv);
    }
done:
    Py_XDECREF(bursts);
    Py_XDECREF(pv);
    Py_XDECREF(move);
    Py_XDECREF(store);
    Py_DECREF(movers);
    return r;
}

/* One period interrupt at the wake (the loop's body): 1 when the handler settled the schedule (the wake is over),
 * 0, or -1 with an exception. */
static int w_raise(BusCore *o, PyObject *dmac, PyObject *sched, PyObject *chans, PyObject *kind, PyObject *result)
{
    Py_ssize_t irqs;
    if (w_ssize(dmac, W_IRQS, &irqs) < 0)
        return -1;
    PyObject *pos = w_end_field(o, irqs, 1);
    PyObject *ch = pos == NULL ? NULL : PyObject_GetItem(chans, pos);
    Py_XDECREF(pos);
    if (ch == NULL)
        return -1;
    PyObject *next = PyLong_FromSsize_t(irqs + 1);
    int r = next == NULL ? -1 : wset(dmac, W_IRQS, next);
    Py_XDECREF(next);
    if (r == 0)
        r = w_add(dmac, W_PLANS, 1);  /* one more item planned in closed form */
    PyObject *irq = r < 0 ? NULL : wget(dmac, W_IRQ);
    if (irq == NULL) {
        Py_DECREF(ch);
        return -1;
    }
    if (irq != Py_None) {  /* Dmac._raise, inlined */
        r = w_add(dmac, W_RAISING, 1);
        PyObject *idx = r < 0 ? NULL : wget(ch, W_IDX);
        if (idx != NULL) {
            PyObject *zero = PyLong_FromLong(0);
            PyObject *a[4] = {idx, kind, result, zero};
            PyObject *x = zero == NULL ? NULL : PyObject_Vectorcall(irq, a, 4, NULL);
            Py_XDECREF(zero);
            Py_DECREF(idx);
            /* (finally: _raising -= 1, with any exception kept across it) */
            PyObject *et, *ev, *tb;
            if (x == NULL)
                PyErr_Fetch(&et, &ev, &tb);
            r = w_add(dmac, W_RAISING, -1);
            if (x == NULL) {
                if (r == 0)
                    PyErr_Restore(et, ev, tb);
                else {
                    Py_XDECREF(et);
                    Py_XDECREF(ev);
                    Py_XDECREF(tb);
                }
                r = -1;
            }
            Py_XDECREF(x);
        } else if (r == 0) {  /* (ch.idx raised: _raising back, that exception kept) */
            PyObject *et, *ev, *tb;
            PyErr_Fetch(&et, &ev, &tb);
            if (w_add(dmac, W_RAISING, -1) == 0)
                PyErr_Restore(et, ev, tb);
            else {
                Py_XDECREF(et);
                Py_XDECREF(ev);
                Py_XDECREF(tb);
            }
            r = -1;
        }
    }
    Py_DECREF(irq);
    Py_DECREF(ch);
    if (r < 0)
        return -1;
    PyObject *cur = wget(dmac, W_SCHED);
    if (cur == NULL)
        return -1;
    Py_DECREF(cur);
    return cur != sched;  /* the handler changed something: settled */
}

/* The next wake at t (Kernel.at inlined where no watcher is to be told): 0, or -1 with an exception. */
static int w_arm_event(PyObject *dmac, PyObject *event_type, PyObject *label, PyObject *prio, long long now,
                       int64_t t)
{
    PyObject *k = wget(dmac, W_KERNEL);
    if (k == NULL)
        return -1;
    PyObject *tv = PyLong_FromLongLong((long long)t), *fn = NULL, *ev = NULL, *seq = NULL, *entry = NULL;
    PyObject *watch = tv == NULL ? NULL : wget(k, W_WATCH);
    int r = -1;
    if (watch == NULL || (fn = PyObject_GetAttr(dmac, WN[W_WAKE])) == NULL)
        goto done;
    int watched = PyObject_RichCompareBool(tv, watch, Py_LE);
    if (watched < 0)
        goto done;
    if (watched || t < now) {  /* a watcher to tell, or an instant to refuse: Kernel.at */
        PyObject *a[4] = {tv, fn, label, prio};
        ev = w_call(k, W_AT, a, 4);
    } else {
        PyObject *seqit = wget(k, W_SEQ);
        seq = seqit == NULL ? NULL : PyIter_Next(seqit);
        if (seq == NULL && seqit != NULL && !PyErr_Occurred())
            PyErr_SetString(PyExc_StopIteration, "the kernel's sequence numbers ran out");
        Py_XDECREF(seqit);
        if (seq == NULL)
            goto done;
        if (!PyType_Check(event_type)) {
            PyErr_Format(PyExc_TypeError, "wake: the event class must be a class, not %R", event_type);
            goto done;
        }
        ev = PyBaseObject_Type.tp_new((PyTypeObject *)event_type, w_empty, NULL);  /* object.__new__(Event) */
        PyObject *heap = NULL;
        if (ev == NULL || wset(ev, W_TIME_NS, tv) < 0 || wset(ev, W_FN, fn) < 0
                || wset(ev, W_LABEL, label) < 0 || wset(ev, W_PRIORITY, prio) < 0
                || wset(ev, W_ESEQ, seq) < 0 || wset(ev, W_CANCELLED, Py_False) < 0
                || (entry = PyTuple_Pack(4, tv, prio, seq, ev)) == NULL
                || (heap = wget(k, W_HEAP)) == NULL) {
            Py_CLEAR(ev);
            goto done;
        }
        PyObject *a[2] = {heap, entry};
        PyObject *x = PyObject_Vectorcall(w_heappush, a, 2, NULL);
        Py_DECREF(heap);
        if (x == NULL) {
            Py_CLEAR(ev);
            goto done;
        }
        Py_DECREF(x);
    }
    if (ev != NULL)
        r = wset(dmac, W_EV, ev);
done:
    Py_XDECREF(k);
    Py_XDECREF(tv);
    Py_XDECREF(watch);
    Py_XDECREF(fn);
    Py_XDECREF(ev);
    Py_XDECREF(seq);
    Py_XDECREF(entry);
    return r;
}

/* wake(dmac, sched, now, consts): Dmac._sched_wake's compiled branch (what is due now, the lone lane's take or
 * every lane's, each period interrupt raised through dmac.irq, the program end, the re-arm and the next wake's
 * event), with consts = (Event, Irq.PERIOD, Result.NOERROR, ahead_chunks, chunk_events, label, PRIO_HW). The
 * controller's methods it calls (_sched_take, _sched_mover_list, _sched_program_end, _sched_settle) and its
 * attributes are looked up by name. None. */
static PyObject *core_wake(BusCore *o, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyTuple_CheckExact(args[3]) || PyTuple_GET_SIZE(args[3]) != 7) {
        PyErr_SetString(PyExc_TypeError, "wake(dmac, sched, now, consts): consts must be a tuple of 7");
        return NULL;
    }
    if (wake_ready() < 0)
        return NULL;
    PyObject *dmac = args[0], *sched = args[1], *now_obj = args[2], *c = args[3];
    long long now, ahead, chunk;
    if (fc_ll(now_obj, &now) < 0 || fc_ll(PyTuple_GET_ITEM(c, 3), &ahead) < 0
            || fc_ll(PyTuple_GET_ITEM(c, 4), &chunk) < 0)
        return NULL;
    Py_ssize_t irqs, dones, due;
    if (w_ssize(dmac, W_IRQS, &irqs) < 0 || w_ssize(dmac, W_DONES, &dones) < 0
            || due_at(o, now, irqs, dones, "wake", &due) < 0)
        return NULL;
    if (due > 1) {  /* interrupts at now */
        PyObject *probe = wget(dmac, W_PROBE);
        PyObject *lone = probe == NULL ? NULL : wget(dmac, W_LONE);
        int every = lone == NULL ? -1 : PyObject_Not(lone);
        Py_XDECREF(lone);
        Py_XDECREF(probe);
        if (every < 0)
            return NULL;
        if (due > 3 || probe != Py_None || every) {  /* several interrupts at once (or every lane moves) */
            PyObject *x = w_call(dmac, W_TAKE, &now_obj, 1);
            if (x == NULL)
                return NULL;
            Py_DECREF(x);
        } else if (w_take_lane(o, dmac, sched, now_obj, now) < 0)
            return NULL;
        PyObject *chans = wget(dmac, W_CHANS);
        if (chans == NULL)
            return NULL;
        for (Py_ssize_t j = 0; j < due >> 1; j++) {
            int r = w_raise(o, dmac, sched, chans, PyTuple_GET_ITEM(c, 1), PyTuple_GET_ITEM(c, 2));
            if (r != 0) {
                Py_DECREF(chans);
                if (r < 0)
                    return NULL;
                Py_RETURN_NONE;
            }
        }
        Py_DECREF(chans);
    }
    if (due & 1) {
        PyObject *a[2] = {sched, now_obj};
        PyObject *x = w_call(dmac, W_PROGRAM_END, a, 2);
        int over = x == NULL ? -1 : PyObject_IsTrue(x);
        Py_XDECREF(x);
        if (over < 0)
            return NULL;
        if (over)
            Py_RETURN_NONE;
    }
    int64_t t;
    int r;
    if (w_ssize(dmac, W_IRQS, &irqs) < 0 || w_ssize(dmac, W_DONES, &dones) < 0
            || (r = arm_next(o, sched, now, irqs, dones, ahead, chunk, "wake", &t)) < 0)
        return NULL;
    if (r == 0) {
        PyObject *x = w_call(dmac, W_SETTLE, NULL, 0);
        if (x == NULL)
            return NULL;
        Py_DECREF(x);
    } else if (t < BUS_NEVER
               && w_arm_event(dmac, PyTuple_GET_ITEM(c, 0), PyTuple_GET_ITEM(c, 5), PyTuple_GET_ITEM(c, 6), now, t)
                      < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* A new BusCore in the state after every event before stop_ns (no later than o->computed), run from the last
 * snapshot at or before it, or from o's state as it is when it has none (no event has run); its item ends and
 * program ends go into the lists given, its segments hold only the bursts granted since that state. */
static BusCore *replay_core(BusCore *o, int64_t stop_ns, PyObject *item_ends, PyObject *program_ends)
{
    int64_t *snap = o->nsnaps ? o->snaps[0] : NULL;
    for (Py_ssize_t i = o->nsnaps - 1; i >= 0; i--) {
        if (o->snaps[i][P_AT] <= stop_ns) {
            snap = o->snaps[i];
            break;
        }
    }
    Py_ssize_t n = o->n;
    BusCore *r = core_alloc(n);
    if (r == NULL)
        return NULL;
    memcpy(r->c, o->c, (size_t)(NCONST * n) * sizeof(int64_t));
    for (Py_ssize_t p = 0; p < n; p++) {
        r->time_of[p] = Py_XNewRef(o->time_of[p]);
        r->nitems[p] = o->nitems[p];
        r->items[p] = PyMem_Malloc((size_t)(o->nitems[p] ? 2 * o->nitems[p] : 1) * sizeof(int64_t));
        if (r->items[p] == NULL) {
            Py_DECREF(r);
            PyErr_NoMemory();
            return NULL;
        }
        memcpy(r->items[p], o->items[p], (size_t)(2 * o->nitems[p]) * sizeof(int64_t));
    }
    r->item_ends = Py_NewRef(item_ends);
    r->program_ends = Py_NewRef(program_ends);
    Py_ssize_t nh;
    const HeapEnt *heap;
    const int64_t *lanes;
    if (snap != NULL) {
        r->computed = snap[P_AT];
        r->stop = stop_ns < snap[P_STOP] ? stop_ns : snap[P_STOP];
        r->last_pos = snap[P_LAST_POS];
        r->rr = snap[P_RR];
        r->seq = snap[P_SEQ];
        r->busy = snap[P_BUSY];
        r->last_grant = snap[P_LAST_GRANT];
        r->last_grant_ns = snap[P_LAST_GRANT_NS];
        r->waiting = (uint64_t)snap[P_WAITING];
        r->events = snap[P_EVENTS];
        r->jumps = snap[P_JUMPS];
        nh = (Py_ssize_t)snap[P_NHEAP];
        heap = (const HeapEnt *)(snap + NSNAP);
        lanes = snap + NSNAP + 4 * nh;
    }
    else {
        r->computed = o->computed;
        r->stop = stop_ns < o->stop ? stop_ns : o->stop;
        r->last_pos = o->last_pos;
        r->rr = o->rr;
        r->seq = o->seq;
        r->busy = o->busy;
        r->last_grant = o->last_grant;
        r->last_grant_ns = o->last_grant_ns;
        r->waiting = o->waiting;
        r->events = o->events;
        r->jumps = o->jumps;
        nh = o->nheap;
        heap = o->heap;
        lanes = o->s;
    }
    r->heap = PyMem_Malloc((size_t)(nh ? nh : 1) * sizeof(HeapEnt));
    if (r->heap == NULL) {
        Py_DECREF(r);
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(r->heap, heap, (size_t)nh * sizeof(HeapEnt));
    r->nheap = r->capheap = nh;
    memcpy(r->s, lanes, (size_t)(NSTATE * n) * sizeof(int64_t));
    r->last_event = -1;
    if (run_loop(r, BUS_NEVER, 0) < 0) {
        Py_DECREF(r);
        return NULL;
    }
    return r;
}

/* BusSchedule.replay: a new BusCore (item ends and program ends into the lists given), or None when no event
 * has run (the state is the start state). */
static PyObject *core_replay(BusCore *o, PyObject *args)
{
    long long stop_ns;
    PyObject *item_ends, *program_ends;
    if (!PyArg_ParseTuple(args, "LO!O!:replay", &stop_ns, &PyList_Type, &item_ends, &PyList_Type, &program_ends))
        return NULL;
    if (o->nsnaps == 0)
        Py_RETURN_NONE;
    return (PyObject *)replay_core(o, stop_ns, item_ends, program_ends);
}

/* Does ``list`` (a schedule's item ends, ``(end_ns, pos)`` tuples) hold ``(t, pos)``? 1, 0, or -1 with an
 * exception (an entry that is not such a tuple). */
static int has_item_end(PyObject *list, int64_t t, Py_ssize_t pos)
{
    if (list == NULL || !PyList_Check(list))
        return 0;
    for (Py_ssize_t k = PyList_GET_SIZE(list) - 1; k >= 0; k--) {  /* (from the end, down to the first before t) */
        int64_t at;
        if (entry_ns(list, k, &at) < 0)
            return -1;
        if (at < t)
            return 0;  /* (in time order: one burst on the bus at a time, so each landing is after the last) */
        if (at == t) {
            Py_ssize_t p = PyLong_AsSsize_t(PyTuple_GET_ITEM(PyList_GET_ITEM(list, k), 1));
            if (p == -1 && PyErr_Occurred())
                return -1;
            if (p == pos)
                return 1;
        }
    }
    return 0;
}

/* core_relane's None, once its lane ``spec`` is checked whole (a bad lane raises, as on the way to a new core). */
static PyObject *relane_none(PyObject *spec)
{
    BusCore *check = core_alloc(1);
    if (check == NULL)
        return NULL;
    int bad = load_lane(check, 0, spec) < 0;
    Py_DECREF(check);
    if (bad)
        return NULL;
    Py_RETURN_NONE;
}

/* BusSchedule.relane (its Python code is the specification): a new BusCore, or None. ``lane`` is the lane's
 * constants as the constructor takes them, ``lane_state`` its (request_bytes, limit_bytes, item_bursts,
 * item_irq). */
static PyObject *core_relane(BusCore *o, PyObject *args)
{
    long long now_ll, stop_ll;
    Py_ssize_t pos;
    PyObject *spec, *lane_state, *req, *item_ends, *program_ends;
    if (!PyArg_ParseTuple(args, "LnOOOLO!O!:relane", &now_ll, &pos, &spec, &lane_state, &req, &stop_ll,
                          &PyList_Type, &item_ends, &PyList_Type, &program_ends))
        return NULL;
    if (pos < 0 || pos >= o->n) {
        PyErr_Format(PyExc_IndexError, "BusCore: no lane %zd", pos);
        return NULL;
    }
    if (now_ll >= BUS_BOUND || now_ll < -BUS_BOUND || stop_ll > BUS_BOUND || stop_ll < -BUS_BOUND) {
        PyErr_Format(PyExc_OverflowError, "BusCore: relane at %lld up to %lld is out of range", now_ll, stop_ll);
        return NULL;
    }
    int64_t now = now_ll, stop = stop_ll, request = 0, vals[4];
    int has_req = req != Py_None;
    if (has_req && get_i64(req, &request, "request_ns") < 0)
        return NULL;
    PyObject *ls = get_seq(lane_state, 4, "a lane's state");
    if (ls == NULL)
        return NULL;
    int bad = 0;
    for (int k = 0; k < 3 && !bad; k++)
        bad = get_i64(PySequence_Fast_GET_ITEM(ls, k), &vals[k], "a lane state value") < 0;
    if (!bad) {
        int b = PyObject_IsTrue(PySequence_Fast_GET_ITEM(ls, 3));
        bad = b < 0;
        vals[3] = b;
    }
    Py_DECREF(ls);
    if (bad)
        return NULL;
    /* The lane is checked whole before None is answered (a bad lane raises whatever the instant); on the way
     * to a new core it is checked as it is loaded into it. */
    if (now + 1 > o->computed || (has_req && request <= now))
        return relane_none(spec);
    BusCore *r = replay_core(o, now + 1, item_ends, program_ends);
    if (r == NULL)
        return NULL;
    int idle = !(r->waiting >> pos & 1), ahead = 0;
    for (Py_ssize_t i = 0; i < r->nheap && idle; i++) {
        if (r->heap[i].pos == pos) {
            idle = r->heap[i].kind != 0;
            ahead = 1;
        }
    }
    if (!idle) {
        Py_DECREF(r);
        if (PyList_SetSlice(item_ends, 0, PyList_GET_SIZE(item_ends), NULL) < 0
                || PyList_SetSlice(program_ends, 0, PyList_GET_SIZE(program_ends), NULL) < 0)
            return NULL;
        return relane_none(spec);
    }
    if (ahead) {  /* its request ahead: the new one takes its place (the others pushed again, in key order) */
        Py_ssize_t nh = r->nheap;
        HeapEnt *old = r->heap;
        r->heap = PyMem_Malloc((size_t)(nh ? nh : 1) * sizeof(HeapEnt));
        if (r->heap == NULL) {
            r->heap = old;
            PyErr_NoMemory();
            goto fail;
        }
        r->nheap = 0;
        r->capheap = nh ? nh : 1;
        for (Py_ssize_t i = 0; i < nh; i++)
            if (old[i].pos != pos)
                (void)heap_push(r, old[i].t, old[i].seq, old[i].kind, old[i].pos);  /* within its capacity */
        PyMem_Free(old);
    }
    /* Lane pos afresh (item and program ends of the replay dropped first: a bad lane leaves the lists empty). */
    if (PyList_SetSlice(item_ends, 0, PyList_GET_SIZE(item_ends), NULL) < 0
            || PyList_SetSlice(program_ends, 0, PyList_GET_SIZE(program_ends), NULL) < 0)
        goto fail;
    PyMem_Free(r->items[pos]);
    r->items[pos] = NULL;
    r->nitems[pos] = 0;
    Py_CLEAR(r->time_of[pos]);
    memset(&CST(r, pos, 0), 0, NCONST * sizeof(int64_t));
    if (load_lane(r, pos, spec) < 0)
        goto fail;
    ST(r, pos, S_GRANTED) = ST(r, pos, S_LANDED) = 0;
    ST(r, pos, S_REQUEST) = vals[0];
    ST(r, pos, S_LIMIT) = vals[1];
    ST(r, pos, S_SINCE) = 0;
    ST(r, pos, S_NEXT_END) = vals[2];
    ST(r, pos, S_IRQ) = vals[3];
    ST(r, pos, S_ITEM_K) = 0;
    for (Py_ssize_t p = 0; p < r->n; p++) {
        r->segs[p].n = 0;
        r->segs[p].taken_si = r->segs[p].taken_done = 0;
    }
    r->stop = stop;
    for (Py_ssize_t i = 0; i < r->nheap; i++) {
        if (r->heap[i].kind != 0)
            continue;
        /* The burst on the bus (granted last), landing at t: its segment, and the loop's check of a grant. */
        int64_t t = r->heap[i].t;
        Py_ssize_t h = (Py_ssize_t)r->heap[i].pos;
        int64_t g = ST(r, h, S_GRANTED), nbytes, dur;
        if (g < CST(r, h, C_BURSTS)) {
            nbytes = CST(r, h, C_BB);
            dur = CST(r, h, C_BNS);
        }
        else {
            nbytes = CST(r, h, C_LAST_BYTES);
            dur = CST(r, h, C_LAST_BNS);
        }
        if (seg_add(r, h, r->last_grant_ns, 1, 0, dur, nbytes, ST(r, h, S_SINCE)) < 0)
            goto fail;
        int checked = t < r->stop;
        if (checked) {
            int late = 0;
            if (CST(r, h, C_PERIPH)) {
                int64_t x, when;
                if (__builtin_add_overflow(ST(r, h, S_LIMIT), 1, &x)) {
                    PyErr_SetString(PyExc_OverflowError, "bus schedule: a byte count does not fit in 64 bits");
                    goto fail;
                }
                int rc = flow_time(r, h, x, &when);
                if (rc < 0)
                    goto fail;
                late = rc && t >= when;
            }
            if (late)
                r->stop = t;
            else if (g == ST(r, h, S_NEXT_END)) {
                if (g >= CST(r, h, C_BURSTS)) {
                    if (!CST(r, h, C_ENDS))
                        r->stop = t;
                }
                else if (next_item(r, h, g, t) < 0)
                    goto fail;
            }
        }
        if (checked && PyList_GET_SIZE(item_ends) == 0) {
            /* Its grant was checked before the state replayed from (see the Python code): its item end noted
             * then is still to come. */
            int had = has_item_end(o->item_ends, t, h);
            if (had < 0)
                goto fail;
            if (had) {
                PyObject *e = Py_BuildValue("(Ln)", (long long)t, h);
                if (e == NULL || PyList_Append(item_ends, e) < 0) {
                    Py_XDECREF(e);
                    goto fail;
                }
                Py_DECREF(e);
            }
        }
        break;
    }
    if (has_req) {
        r->seq += 1;
        if (heap_push(r, request, r->seq, 1, pos) < 0)
            goto fail;
        ST(r, pos, S_SINCE) = request;
    }
    r->computed = now + 1 < r->stop ? now + 1 : r->stop;
    if (snapshot(r, r->computed) < 0)
        goto fail;
    return (PyObject *)r;
fail:
    Py_DECREF(r);
    return NULL;
}

/* _dmac._apart (its Python code is the specification) for spans_replace: no span of one lane writes memory that
 * a span of another lane reads or writes. Spans are (addr, size, write, lane) tuples; the answer is the same
 * whatever their order: up to 32 spans pair by pair (the definition), more in _apart's sweep (sorted as Python
 * sorts them). A value below 0 or from 2**62 on raises OverflowError (the caller then asks the Python code:
 * addresses, sizes and lane positions are never negative, and its ints have no bound). */
typedef struct {
    int64_t a, size, lane;
    int write;
} Span;

static int span_cmp(const void *x, const void *y)
{
    const Span *p = x, *q = y;
    if (p->a != q->a)
        return p->a < q->a ? -1 : 1;
    if (p->size != q->size)
        return p->size < q->size ? -1 : 1;
    if (p->write != q->write)
        return p->write < q->write ? -1 : 1;
    if (p->lane != q->lane)
        return p->lane < q->lane ? -1 : 1;
    return 0;
}

/* A span from an (addr, size, write, lane) tuple; ``fn`` names the caller in messages. */
static int span_load(PyObject *t, Span *out, const char *fn)
{
    static const char *names[] = {"a span's addr", "a span's size", NULL, "a span's lane"};
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 4) {
        PyErr_Format(PyExc_TypeError, "%s: a span must be an (addr, size, write, lane) tuple, not %R", fn, t);
        return -1;
    }
    int64_t *dst[] = {&out->a, &out->size, NULL, &out->lane};
    for (int k = 0; k < 4; k++) {
        PyObject *v = PyTuple_GET_ITEM(t, k);
        if (k == 2) {
            Py_INCREF(t);  /* (a __bool__ may drop the list's reference to the tuple) */
            int w = PyObject_IsTrue(v);
            Py_DECREF(t);
            if (w < 0)
                return -1;
            out->write = w;
            continue;
        }
        if (!PyLong_Check(v)) {
            PyErr_Format(PyExc_TypeError, "%s: %s must be an int, not %R", fn, names[k], v);
            return -1;
        }
        int over = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &over);  /* (no byte array for a two-digit int) */
        if (x == -1 && PyErr_Occurred())
            return -1;
        if (over || x >= BUS_BOUND || x < 0) {  /* (addr + size fits; _apart's -1 marks no lane, no end) */
            PyErr_Format(PyExc_OverflowError, "%s: %s %R is out of range", fn, names[k], v);
            return -1;
        }
        *dst[k] = x;
    }
    return 0;
}

/* The spans of a list, from index 0, into s (n of them, or fewer when the list shrinks: -1 with RuntimeError);
 * with skip >= 0, those of lane skip are left out and *kept says how many were taken. */
static int spans_load(PyObject *list, Py_ssize_t n, Span *s, int64_t skip, Py_ssize_t *kept, const char *fn)
{
    Py_ssize_t m = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyList_GET_SIZE(list) != n) {  /* a __bool__ that changed the list */
            PyErr_Format(PyExc_RuntimeError, "%s: the list changed size", fn);
            return -1;
        }
        if (span_load(PyList_GET_ITEM(list, i), &s[m], fn) < 0)
            return -1;
        if (PyList_GET_SIZE(list) != n) {
            PyErr_Format(PyExc_RuntimeError, "%s: the list changed size", fn);
            return -1;
        }
        if (skip < 0 || s[m].lane != skip)
            m++;
    }
    *kept = m;
    return 0;
}

/* Are the n spans apart? */
static int spans_check(Span *s, Py_ssize_t n)
{
    if (n <= 1)
        return 1;
    if (n <= 32) {  /* a few spans: the definition, pair by pair (no sort) */
        for (Py_ssize_t i = 0; i + 1 < n; i++)
            for (Py_ssize_t j = i + 1; j < n; j++)
                if (s[i].lane != s[j].lane && (s[i].write || s[j].write) && s[i].a < s[j].a + s[j].size
                        && s[j].a < s[i].a + s[i].size)
                    return 0;
        return 1;
    }
    qsort(s, (size_t)n, sizeof(Span), span_cmp);
    int overlap = 0;
    for (Py_ssize_t i = 0; i + 1 < n && !overlap; i++)
        overlap = s[i].a + s[i].size > s[i + 1].a;
    if (!overlap)
        return 1;
    /* The sweep: of the spans seen, the two furthest ends reached by different lanes (over all spans, and over
     * writes). */
    int64_t end1 = -1, end2 = -1, wend1 = -1, wend2 = -1, lane1 = -1, wlane1 = -1;
    for (Py_ssize_t j = 0; j < n; j++) {
        int64_t a = s[j].a, e = s[j].a + s[j].size, i = s[j].lane;
        if (s[j].write) {
            if ((lane1 != i ? end1 : end2) > a)
                return 0;
        } else if ((wlane1 != i ? wend1 : wend2) > a) {
            return 0;
        }
        if (i == lane1) {
            if (e > end1)
                end1 = e;
        } else if (e > end1) {
            end2 = end1;
            end1 = e;
            lane1 = i;
        } else if (e > end2) {
            end2 = e;
        }
        if (s[j].write) {
            if (i == wlane1) {
                if (e > wend1)
                    wend1 = e;
            } else if (e > wend1) {
                wend2 = wend1;
                wend1 = e;
                wlane1 = i;
            } else if (e > wend2) {
                wend2 = e;
            }
        }
    }
    return 1;
}

/* _dmac._spans_replace (its Python code is the specification): the spans of ``spans`` but lane ``pos``'s, then
 * ``mine``, as a new list when they are apart, else None (the list is not sorted, as _apart sorts it: the order
 * of a schedule's spans does not matter). */
static PyObject *spans_replace(PyObject *Py_UNUSED(mod), PyObject *args)
{
    PyObject *spans, *mine;
    Py_ssize_t pos;
    if (!PyArg_ParseTuple(args, "O!nO!:spans_replace", &PyList_Type, &spans, &pos, &PyList_Type, &mine))
        return NULL;
    if (pos < 0) {
        PyErr_Format(PyExc_OverflowError, "spans_replace: lane %zd is out of range", pos);
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(spans), m = PyList_GET_SIZE(mine), kept = 0, mk = 0;
    if (n > PY_SSIZE_T_MAX / 2 / (Py_ssize_t)sizeof(Span) - m)
        return PyErr_NoMemory();
    Span local[32];
    Span *s = n + m <= 32 ? local : PyMem_Malloc((size_t)(n + m) * sizeof(Span));
    if (s == NULL)
        return PyErr_NoMemory();
    PyObject *out = NULL;
    if (spans_load(spans, n, s, pos, &kept, "spans_replace") < 0
            || spans_load(mine, m, s + kept, -1, &mk, "spans_replace") < 0)
        goto done;
    if (PyList_GET_SIZE(spans) != n) {
        PyErr_SetString(PyExc_RuntimeError, "spans_replace: the list changed size");
        goto done;
    }
    int apart = spans_check(s, kept + mk);  /* (reorders s: the list is built from the lists) */
    if (!apart) {
        out = Py_NewRef(Py_None);
        goto done;
    }
    out = PyList_New(kept + mk);
    if (out == NULL)
        goto done;
    /* The list again, as loaded (a __bool__ may have put other items in it since: then RuntimeError). */
    Py_ssize_t k = 0;
    int changed = PyList_GET_SIZE(spans) != n || PyList_GET_SIZE(mine) != m;
    for (Py_ssize_t i = 0; i < n && !changed; i++) {
        PyObject *t = PyList_GET_ITEM(spans, i), *lane;
        int64_t x = 0;
        int over = 0;
        changed = !PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 4 || !PyLong_Check(lane = PyTuple_GET_ITEM(t, 3))
                  || (x = PyLong_AsLongLongAndOverflow(lane, &over)) == -1 || over;
        if (!changed && x != (int64_t)pos) {
            changed = k >= kept;
            if (!changed)
                PyList_SET_ITEM(out, k++, Py_NewRef(t));
        }
    }
    for (Py_ssize_t i = 0; i < m && !changed; i++) {
        changed = k >= kept + mk;
        if (!changed)
            PyList_SET_ITEM(out, k++, Py_NewRef(PyList_GET_ITEM(mine, i)));
    }
    if (changed || k != kept + mk) {
        PyErr_Clear();
        Py_CLEAR(out);  /* (its empty slots are NULL: list_dealloc skips them) */
        PyErr_SetString(PyExc_RuntimeError, "spans_replace: the lists changed");
    }
done:
    if (s != local)
        PyMem_Free(s);
    return out;
}

static PyMethodDef sim_functions[] = {
    {"spans_replace", (PyCFunction)spans_replace, METH_VARARGS,
     "spans_replace(spans, pos, mine): sim._dmac._spans_replace (the spans but lane pos's, then mine, as a new "
     "list if no lane writes memory another lane reads or writes; else None), compiled."},
    {NULL, NULL, 0, NULL},
};

static PyMethodDef core_methods[] = {
    {"loop", (PyCFunction)(void (*)(void))core_loop, METH_FASTCALL, "loop(max_events, snapshots): BusSchedule._loop."},
    {"state", (PyCFunction)core_state, METH_NOARGS,
     "(waiting, busy_until_ns, stop_ns, computed_ns, events, jumps, last_grant, last_grant_ns, last_event_ns, "
     "granted, landed, since_ns, heap size)."},
    {"pending", (PyCFunction)core_pending, METH_NOARGS, "BusSchedule.pending."},
    {"segments", (PyCFunction)core_segments, METH_O, "segments(pos): lane pos's segments, as a list."},
    {"take", (PyCFunction)core_take, METH_VARARGS, "take(pos, t, bursts=None): BusSchedule.take."},
    {"take_all", (PyCFunction)core_take_all, METH_VARARGS, "take_all(t, probe=False): BusSchedule.take_all."},
    {"take_moves", (PyCFunction)(void (*)(void))core_take_moves, METH_FASTCALL,
     "take_moves(t, movers, move, store): take_all(t) with every lane's bytes moved (Dmac._sched_take); the "
     "bursts taken."},
    {"take_move", (PyCFunction)(void (*)(void))core_take_move, METH_FASTCALL,
     "take_move(pos, t, movers, move, store): take(pos, t) with lane pos's bytes moved (Dmac._sched_take_lane); "
     "the bursts taken."},
    {"set_ports", (PyCFunction)(void (*)(void))core_set_ports, METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "set_ports(**parts): the port classes and methods whose steady calls take_moves / take_move do in C "
     "(tick_clock, block_source, rx_pop, sampled_rx, sampled_rx_read, uart_rx, rx_read, uart_rx_ticks, i2s_tx, "
     "i2s_tx_write, i2s_tx_ticks, uart_tx, tx_write; None forgets one)."},
    {"port_calls", (PyCFunction)core_port_calls, METH_NOARGS | METH_CLASS,
     "port_calls(): the port steady calls done in C so far (sampled RX, UART RX, I2S TX, UART TX)."},
    {"due", (PyCFunction)(void (*)(void))core_due, METH_FASTCALL,
     "due(now, irqs, dones): 2 * (interrupts at now from item end irqs) + (program end dones at now)."},
    {"wake", (PyCFunction)(void (*)(void))core_wake, METH_FASTCALL,
     "wake(dmac, sched, now, consts): Dmac._sched_wake's compiled branch in one call (see sim/_dmac.py)."},
    {"arm", (PyCFunction)(void (*)(void))core_arm, METH_FASTCALL,
     "arm(sched, now, irqs, dones, ahead_chunks, chunk_events): the schedule's next event instant (NEVER: none; "
     "None: settle now), computed further as Dmac._sched_wake and Dmac._sched_arm do."},
    {"replay", (PyCFunction)core_replay, METH_VARARGS,
     "replay(stop_ns, item_ends, program_ends): BusSchedule.replay's new state, or None."},
    {"relane", (PyCFunction)core_relane, METH_VARARGS,
     "relane(now_ns, pos, lane, lane_state, request_ns, stop_ns, item_ends, program_ends): BusSchedule.relane's "
     "new state, or None."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject BusCoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "dmaengine._cnative.BusCore",
    .tp_doc = "BusCore(lanes, state, segments, last_event_ns, item_ends, program_ends): the state and loop of a "
              "sim._bus.BusSchedule (which builds it).",
    .tp_basicsize = sizeof(BusCore),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = core_new,
    .tp_dealloc = (destructor)core_dealloc,
    .tp_traverse = (traverseproc)core_traverse,
    .tp_clear = (inquiry)core_clear,
    .tp_methods = core_methods,
};

int dmaengine_sim_init(PyObject *module)
{
    if (PyType_Ready(&BusCoreType) < 0)
        return -1;
    for (int i = 0; i < NA; i++)
        if ((AN[i] = PyUnicode_InternFromString(a_names[i])) == NULL)
            return -1;
    if (wake_ready() < 0)  /* (at import, as AN: not in a process's first wake) */
        return -1;
    if (PyModule_AddIntConstant(module, "BUS_MAX_LANES", BUS_MAX_LANES) < 0)
        return -1;
    if (PyModule_AddFunctions(module, sim_functions) < 0)
        return -1;
    return PyModule_AddObjectRef(module, "BusCore", (PyObject *)&BusCoreType);
}
