/* RAID-6 P+Q and xor without the GIL (dmaengine/_raid6.py is the specification and the fallback).
 *
 * raid6_pq(srcs, coefs, p, q, accumulate): P = xor(srcs), Q = sum(coefs[i] * srcs[i]) in GF(2^8) with the
 * polynomial 0x11d; p or q may be None; with accumulate the old P and Q are sources too.
 * raid6_xor(dst, srcs): dst = xor(srcs).
 * raid6_pq_many(jobs): raid6_pq(*job) for each job, in order, with one release of the GIL for them all.
 * raid6_addrs(bufs): the address of each buffer's first byte (async_tx's overlap checks and mapping keys).
 *
 * Work goes tile by tile (4 KiB): every source byte of a tile is read before any result byte of that tile is
 * written, so a destination may be one of the sources exactly (the client refuses partial overlaps). Q goes by
 * Horner's rule over the exponents of the coefficients, 16 bytes at a time in registers, every source read once
 * (lib/raid6's int code on two 64-bit lanes), or by a multiplication table, tile by tile, when the exponents are
 * too high for Horner to pay.
 */
#include "native.h"

#include <stdint.h>
#include <string.h>

#define TILE 4096
#define WORDS (TILE / 8)
#define MAX_SRCS 256

static uint8_t gf_exp[512];
static uint8_t gf_log[256];
static uint8_t gf_mul[256][256];

static void gf_init(void)
{
    unsigned x = 1;
    for (int i = 0; i < 255; i++) {
        gf_exp[i] = (uint8_t)x;
        gf_exp[i + 255] = (uint8_t)x;
        gf_log[x] = (uint8_t)i;
        x <<= 1;
        if (x & 0x100)
            x ^= 0x11d;
    }
    for (int a = 0; a < 256; a++)
        for (int b = 0; b < 256; b++)
            gf_mul[a][b] = (a && b) ? gf_exp[gf_log[a] + gf_log[b]] : 0;
}

/* acc[0..m) ^= src[0..m) over words; m bytes, the last word partial. */
static inline void xor_words(uint64_t *acc, const uint8_t *src, size_t m)
{
    size_t w = m / 8, i;
    for (i = 0; i < w; i++) {
        uint64_t v;
        memcpy(&v, src + 8 * i, 8);
        acc[i] ^= v;
    }
    if (m % 8) {
        uint64_t v = 0;
        memcpy(&v, src + 8 * w, m % 8);
        acc[w] ^= v;
    }
}

static inline void store(uint8_t *dst, const uint64_t *acc, size_t m, int accumulate)
{
    if (accumulate) {
        uint64_t tmp[WORDS];
        memcpy(tmp, dst, m);
        size_t w = (m + 7) / 8;
        for (size_t i = 0; i < w; i++)
            tmp[i] ^= acc[i];
        memcpy(dst, tmp, m);
    } else {
        memcpy(dst, acc, m);
    }
}

typedef struct {
    const uint8_t *src[MAX_SRCS];
    int exp[MAX_SRCS]; /* -1: coefficient 0, not in Q */
    uint8_t coef[MAX_SRCS];
    int n;
    uint8_t *p, *q;
    size_t len;
    int accumulate;
} pq_job;

/* 16 bytes as two 64-bit lanes (GCC/Clang vector extensions: SSE2 on x86-64, generic code elsewhere). */
typedef uint64_t v2 __attribute__((vector_size(16)));

static inline v2 vload(const uint8_t *p)
{
    v2 v;
    memcpy(&v, p, 16);
    return v;
}

static inline void vstore(uint8_t *p, v2 v)
{
    memcpy(p, &v, 16);
}

/* v * {02} in every byte: lib/raid6's int code (SHLBYTE, MASK & 0x1d) on two 64-bit lanes. */
static inline v2 vmul2(v2 v)
{
    const v2 c80 = {0x8080808080808080ULL, 0x8080808080808080ULL};
    const v2 cfe = {0xfefefefefefefefeULL, 0xfefefefefefefefeULL};
    const v2 c1d = {0x1d1d1d1d1d1d1d1dULL, 0x1d1d1d1d1d1d1d1dULL};
    v2 hi = v & c80;
    v2 mask = (hi << 1) - (hi >> 7);
    return ((v << 1) & cfe) ^ (mask & c1d);
}

/* Horner's rule, 16 bytes at a time, every source read once per position before P and Q are written there:
 * sources in ord[] by falling exponent, cnt[e] of them with exponent e; zero-coefficient ones (P only) after. */
static void pq_horner_block(const pq_job *j, const uint8_t *const *src, const int *ord, const int *cnt, int top,
                            int nzero, size_t off, uint8_t *p, uint8_t *q)
{
    v2 wq = {0, 0}, wp = {0, 0};
    int k = 0;
    for (int e = top; e >= 0; e--) {
        if (e != top)
            wq = vmul2(wq);
        for (int c = 0; c < cnt[e]; c++) {
            v2 d = vload(src[ord[k++]] + off);
            wq ^= d;
            wp ^= d;
        }
    }
    for (int c = 0; c < nzero; c++)
        wp ^= vload(src[ord[k++]] + off);
    if (p) {
        if (j->accumulate)
            wp ^= vload(p + off);
        vstore(p + off, wp);
    }
    if (q) {
        if (j->accumulate)
            wq ^= vload(q + off);
        vstore(q + off, wq);
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* The same Horner's rule on 32-byte vectors, two at a time (64 bytes a step), for CPUs with AVX2 (chosen at run
 * time: the module itself is built for the baseline ISA). Bytes [0, end) with end a multiple of 64. */
#define RAID6_AVX2 1
typedef uint64_t v4 __attribute__((vector_size(32)));

__attribute__((target("avx2"))) static inline v4 v4load(const uint8_t *p)
{
    v4 v;
    memcpy(&v, p, 32);
    return v;
}

__attribute__((target("avx2"))) static inline void v4store(uint8_t *p, v4 v)
{
    memcpy(p, &v, 32);
}

__attribute__((target("avx2"))) static inline v4 v4mul2(v4 v)
{
    const v4 c80 = {0x8080808080808080ULL, 0x8080808080808080ULL, 0x8080808080808080ULL, 0x8080808080808080ULL};
    const v4 cfe = {0xfefefefefefefefeULL, 0xfefefefefefefefeULL, 0xfefefefefefefefeULL, 0xfefefefefefefefeULL};
    const v4 c1d = {0x1d1d1d1d1d1d1d1dULL, 0x1d1d1d1d1d1d1d1dULL, 0x1d1d1d1d1d1d1d1dULL, 0x1d1d1d1d1d1d1d1dULL};
    v4 hi = v & c80;
    v4 mask = (hi << 1) - (hi >> 7);
    return ((v << 1) & cfe) ^ (mask & c1d);
}

__attribute__((target("avx2"))) static void pq_horner_avx2(const pq_job *j, const int *ord, const int *cnt,
                                                           int top, int nzero, size_t end)
{
    uint8_t *p = j->p, *q = j->q;
    for (size_t off = 0; off < end; off += 64) {
        v4 qa = {0, 0, 0, 0}, qb = {0, 0, 0, 0}, pa = {0, 0, 0, 0}, pb = {0, 0, 0, 0};
        int k = 0;
        for (int e = top; e >= 0; e--) {
            if (e != top) {
                qa = v4mul2(qa);
                qb = v4mul2(qb);
            }
            for (int c = 0; c < cnt[e]; c++) {
                const uint8_t *s = j->src[ord[k++]] + off;
                v4 da = v4load(s), db = v4load(s + 32);
                qa ^= da;
                qb ^= db;
                pa ^= da;
                pb ^= db;
            }
        }
        for (int c = 0; c < nzero; c++) {
            const uint8_t *s = j->src[ord[k++]] + off;
            pa ^= v4load(s);
            pb ^= v4load(s + 32);
        }
        if (p) {
            if (j->accumulate) {
                pa ^= v4load(p + off);
                pb ^= v4load(p + off + 32);
            }
            v4store(p + off, pa);
            v4store(p + off + 32, pb);
        }
        if (q) {
            if (j->accumulate) {
                qa ^= v4load(q + off);
                qb ^= v4load(q + off + 32);
            }
            v4store(q + off, qa);
            v4store(q + off + 32, qb);
        }
    }
}

static int have_avx2(void)
{
    static int known = -1;
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return known;
}
#endif

static void pq_horner(const pq_job *j, int top)
{
    int cnt[256] = {0}, ord[MAX_SRCS], nzero = 0, k = 0;
    for (int i = 0; i < j->n; i++) {
        if (j->exp[i] >= 0)
            cnt[j->exp[i]]++;
        else
            nzero++;
    }
    for (int e = top; e >= 0; e--)
        for (int i = 0; i < j->n; i++)
            if (j->exp[i] == e)
                ord[k++] = i;
    for (int i = 0; i < j->n; i++)
        if (j->exp[i] < 0)
            ord[k++] = i;
    size_t full = j->len & ~(size_t)15, start = 0;
#ifdef RAID6_AVX2
    if (have_avx2()) {
        start = j->len & ~(size_t)63;
        pq_horner_avx2(j, ord, cnt, top, nzero, start);
    }
#endif
    for (size_t off = start; off < full; off += 16)
        pq_horner_block(j, j->src, ord, cnt, top, nzero, off, j->p, j->q);
    size_t tail = j->len - full;
    if (tail) {  /* the last bytes, through 16-byte copies padded with zeros */
        static _Thread_local uint8_t pad[MAX_SRCS][16];
        const uint8_t *tsrc[MAX_SRCS];
        uint8_t tp[16] = {0}, tq[16] = {0};
        for (int i = 0; i < j->n; i++) {
            memset(pad[i], 0, 16);
            memcpy(pad[i], j->src[i] + full, tail);
            tsrc[i] = pad[i];
        }
        if (j->p)
            memcpy(tp, j->p + full, tail);
        if (j->q)
            memcpy(tq, j->q + full, tail);
        pq_horner_block(j, tsrc, ord, cnt, top, nzero, 0, j->p ? tp : NULL, j->q ? tq : NULL);
        if (j->p)
            memcpy(j->p + full, tp, tail);
        if (j->q)
            memcpy(j->q + full, tq, tail);
    }
}

static void pq_run(const pq_job *j)
{
    uint64_t pacc[WORDS], qacc[WORDS];
    int top = -1, terms = 0;
    for (int i = 0; i < j->n; i++) {
        if (j->exp[i] >= 0) {
            terms++;
            if (j->exp[i] > top)
                top = j->exp[i];
        }
    }
    if (top >= 0 && top <= 2 * terms + 8 && j->q) {
        pq_horner(j, top);
        return;
    }
    for (size_t off = 0; off < j->len; off += TILE) {
        size_t m = j->len - off < TILE ? j->len - off : TILE;
        size_t w = (m + 7) / 8;
        if (j->p) {
            memset(pacc, 0, w * 8);
            for (int i = 0; i < j->n; i++)
                xor_words(pacc, j->src[i] + off, m);
        }
        if (j->q) {
            memset(qacc, 0, w * 8);
            uint8_t *qb = (uint8_t *)qacc;
            for (int i = 0; i < j->n; i++) {
                if (j->exp[i] < 0)
                    continue;
                const uint8_t *row = gf_mul[j->coef[i]];
                const uint8_t *s = j->src[i] + off;
                for (size_t k = 0; k < m; k++)
                    qb[k] ^= row[s[k]];
            }
        }
        if (j->p)
            store(j->p + off, pacc, m, j->accumulate);
        if (j->q)
            store(j->q + off, qacc, m, j->accumulate);
    }
}

static void release_all(Py_buffer *views, int n)
{
    for (int i = 0; i < n; i++)
        PyBuffer_Release(&views[i]);
}

/* Fill views[0..n) from the sequence srcs (read-only buffers) and check they are len bytes each. */
static int get_sources(PyObject *srcs, Py_buffer *views, Py_ssize_t *count, Py_ssize_t len)
{
    PyObject *seq = PySequence_Fast(srcs, "srcs must be a sequence of buffers");
    if (seq == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > MAX_SRCS) {
        Py_DECREF(seq);
        PyErr_Format(PyExc_ValueError, "at most %d sources, not %zd", MAX_SRCS, n);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, i), &views[i], PyBUF_C_CONTIGUOUS) < 0) {
            release_all(views, (int)i);
            Py_DECREF(seq);
            return -1;
        }
        if (views[i].len != len) {
            PyErr_Format(PyExc_ValueError, "srcs[%zd] holds %zd bytes, not %zd", i, views[i].len, len);
            release_all(views, (int)i + 1);
            Py_DECREF(seq);
            return -1;
        }
    }
    Py_DECREF(seq);
    *count = n;
    return 0;
}

static int get_dst(PyObject *obj, Py_buffer *view, Py_ssize_t *len)
{
    if (obj == Py_None)
        return 0;
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0)
        return -1;
    if (*len >= 0 && view->len != *len) {
        PyErr_Format(PyExc_ValueError, "q holds %zd bytes, not %zd like p", view->len, *len);
        PyBuffer_Release(view);
        return -1;
    }
    *len = view->len;
    return 1;
}

static PyObject *raid6_pq(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *srcs, *p_obj, *q_obj;
    Py_buffer coefs;
    int accumulate;
    if (!PyArg_ParseTuple(args, "Oy*OOp", &srcs, &coefs, &p_obj, &q_obj, &accumulate))
        return NULL;
    pq_job *j = PyMem_Malloc(sizeof(pq_job)); /* about 3 KiB: not on the stack */
    Py_buffer views[MAX_SRCS];
    Py_buffer pv, qv;
    Py_ssize_t len = -1, n = 0;
    int have_p = 0, have_q = 0;
    PyObject *ret = NULL;
    if (j == NULL) {
        PyBuffer_Release(&coefs);
        return PyErr_NoMemory();
    }
    if ((have_p = get_dst(p_obj, &pv, &len)) < 0)
        goto done;
    if ((have_q = get_dst(q_obj, &qv, &len)) < 0)
        goto done;
    if (len < 0) {
        PyErr_SetString(PyExc_ValueError, "p and q are both None");
        goto done;
    }
    if (get_sources(srcs, views, &n, len) < 0)
        goto done;
    if (coefs.len != n) {
        PyErr_Format(PyExc_ValueError, "coefs holds %zd bytes, not %zd (one per source)", coefs.len, n);
        release_all(views, (int)n);
        goto done;
    }
    j->n = (int)n;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint8_t c = ((const uint8_t *)coefs.buf)[i];
        j->src[i] = views[i].buf;
        j->coef[i] = c;
        j->exp[i] = c ? gf_log[c] : -1;
    }
    j->p = have_p ? pv.buf : NULL;
    j->q = have_q ? qv.buf : NULL;
    j->len = (size_t)len;
    j->accumulate = accumulate;
    Py_BEGIN_ALLOW_THREADS
    pq_run(j);
    Py_END_ALLOW_THREADS
    release_all(views, (int)n);
    ret = Py_NewRef(Py_None);
done:
    if (have_p > 0)
        PyBuffer_Release(&pv);
    if (have_q > 0)
        PyBuffer_Release(&qv);
    PyBuffer_Release(&coefs);
    PyMem_Free(j);
    return ret;
}

/* One job of raid6_pq_many with the buffers it holds. */
typedef struct {
    pq_job j;
    Py_buffer *views; /* j.n source views */
    Py_buffer pv, qv;
    int have_p, have_q;
} held_job;

static void held_release(held_job *h)
{
    if (h->views != NULL) {
        release_all(h->views, h->j.n);
        PyMem_Free(h->views);
        h->views = NULL;
    }
    if (h->have_p > 0)
        PyBuffer_Release(&h->pv);
    if (h->have_q > 0)
        PyBuffer_Release(&h->qv);
    h->have_p = h->have_q = 0;
}

/* Fill h from the tuple (srcs, coefs, p, q, accumulate), holding every buffer; 0 or -1 (an exception set). */
static int held_fill(held_job *h, PyObject *args)
{
    PyObject *srcs, *p_obj, *q_obj;
    Py_buffer coefs;
    int accumulate;
    if (!PyTuple_Check(args)) {
        PyErr_SetString(PyExc_TypeError, "each job must be a tuple (srcs, coefs, p, q, accumulate)");
        return -1;
    }
    if (!PyArg_ParseTuple(args, "Oy*OOp", &srcs, &coefs, &p_obj, &q_obj, &accumulate))
        return -1;
    Py_ssize_t len = -1, n = 0;
    Py_ssize_t want = PySequence_Size(srcs);
    if (want < 0 || want > MAX_SRCS) {
        if (want > MAX_SRCS)
            PyErr_Format(PyExc_ValueError, "at most %d sources, not %zd", MAX_SRCS, want);
        PyBuffer_Release(&coefs);
        return -1;
    }
    if ((h->have_p = get_dst(p_obj, &h->pv, &len)) < 0)
        goto fail;
    if ((h->have_q = get_dst(q_obj, &h->qv, &len)) < 0)
        goto fail;
    if (len < 0) {
        PyErr_SetString(PyExc_ValueError, "p and q are both None");
        goto fail;
    }
    h->views = PyMem_Malloc(sizeof(Py_buffer) * (size_t)(want ? want : 1));
    if (h->views == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    if (get_sources(srcs, h->views, &n, len) < 0) {
        PyMem_Free(h->views);
        h->views = NULL;
        goto fail;
    }
    h->j.n = (int)n;
    if (coefs.len != n) {
        PyErr_Format(PyExc_ValueError, "coefs holds %zd bytes, not %zd (one per source)", coefs.len, n);
        goto fail;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        uint8_t c = ((const uint8_t *)coefs.buf)[i];
        h->j.src[i] = h->views[i].buf;
        h->j.coef[i] = c;
        h->j.exp[i] = c ? gf_log[c] : -1;
    }
    h->j.p = h->have_p ? h->pv.buf : NULL;
    h->j.q = h->have_q ? h->qv.buf : NULL;
    h->j.len = (size_t)len;
    h->j.accumulate = accumulate;
    PyBuffer_Release(&coefs);
    return 0;
fail:
    PyBuffer_Release(&coefs);
    held_release(h);
    return -1;
}

/* raid6_pq_many(jobs): raid6_pq for each job (srcs, coefs, p, q, accumulate), in order, all without the GIL
 * in one go (a later job may read what an earlier one wrote). Every job is checked before any runs. */
static PyObject *raid6_pq_many(PyObject *self, PyObject *jobs_obj)
{
    (void)self;
    PyObject *jobs = PySequence_Fast(jobs_obj, "jobs must be a sequence of (srcs, coefs, p, q, accumulate)");
    if (jobs == NULL)
        return NULL;
    Py_ssize_t nj = PySequence_Fast_GET_SIZE(jobs), filled = 0;
    held_job *h = PyMem_Calloc((size_t)(nj ? nj : 1), sizeof(held_job));
    PyObject *ret = NULL;
    if (h == NULL) {
        Py_DECREF(jobs);
        return PyErr_NoMemory();
    }
    for (; filled < nj; filled++)
        if (held_fill(&h[filled], PySequence_Fast_GET_ITEM(jobs, filled)) < 0)
            goto done;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < nj; i++)
        if (h[i].j.n)
            pq_run(&h[i].j);
    Py_END_ALLOW_THREADS
    ret = Py_NewRef(Py_None);
done:
    for (Py_ssize_t i = 0; i < filled; i++)
        held_release(&h[i]);
    PyMem_Free(h);
    Py_DECREF(jobs);
    return ret;
}

static PyObject *raid6_xor(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *dst_obj, *srcs;
    if (!PyArg_ParseTuple(args, "OO", &dst_obj, &srcs))
        return NULL;
    Py_buffer dv, views[MAX_SRCS];
    Py_ssize_t len = -1, n = 0;
    if (get_dst(dst_obj, &dv, &len) <= 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "dst must be a writable buffer, not None");
        return NULL;
    }
    if (get_sources(srcs, views, &n, len) < 0) {
        PyBuffer_Release(&dv);
        return NULL;
    }
    const uint8_t *src[MAX_SRCS];
    for (Py_ssize_t i = 0; i < n; i++)
        src[i] = views[i].buf;
    uint8_t *dst = dv.buf;
    Py_BEGIN_ALLOW_THREADS
    uint64_t acc[WORDS];
    for (size_t off = 0; off < (size_t)len; off += TILE) {
        size_t m = (size_t)len - off < TILE ? (size_t)len - off : TILE;
        memset(acc, 0, ((m + 7) / 8) * 8);
        for (Py_ssize_t i = 0; i < n; i++)
            xor_words(acc, src[i] + off, m);
        memcpy(dst + off, acc, m);
    }
    Py_END_ALLOW_THREADS
    release_all(views, (int)n);
    PyBuffer_Release(&dv);
    Py_RETURN_NONE;
}

/* raid6_addrs(bufs): the address of the first byte of each buffer (C-contiguous), as a list of ints. What
 * async_tx needs to tell blocks apart and to key its mappings, without numpy's ctypes attribute per block. */
static PyObject *raid6_addrs(PyObject *self, PyObject *bufs)
{
    (void)self;
    PyObject *seq = PySequence_Fast(bufs, "bufs must be a sequence of buffers");
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject *out = PyList_New(n);
    if (out == NULL) {
        Py_DECREF(seq);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_buffer view;
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, i), &view, PyBUF_C_CONTIGUOUS) < 0) {
            Py_DECREF(out);
            Py_DECREF(seq);
            return NULL;
        }
        PyObject *addr = PyLong_FromVoidPtr(view.buf);
        PyBuffer_Release(&view);
        if (addr == NULL) {
            Py_DECREF(out);
            Py_DECREF(seq);
            return NULL;
        }
        PyList_SET_ITEM(out, i, addr);
    }
    Py_DECREF(seq);
    return out;
}

static PyMethodDef raid6_methods[] = {
    {"raid6_pq_many", raid6_pq_many, METH_O,
     "raid6_pq_many(jobs): raid6_pq(*job) for each job in order, without the GIL for all of them."},
    {"raid6_addrs", raid6_addrs, METH_O, "raid6_addrs(bufs): the address of each buffer's first byte."},
    {"raid6_pq", raid6_pq, METH_VARARGS,
     "raid6_pq(srcs, coefs, p, q, accumulate): P = xor(srcs), Q = sum(coefs[i] * srcs[i]) in GF(2^8)."},
    {"raid6_xor", raid6_xor, METH_VARARGS, "raid6_xor(dst, srcs): dst = xor(srcs)."},
    {NULL, NULL, 0, NULL},
};

int dmaengine_raid6_init(PyObject *module)
{
    gf_init();
#ifdef RAID6_AVX2
    have_avx2(); /* decided once, at import, not by the first worker thread */
#endif
    return PyModule_AddFunctions(module, raid6_methods);
}
