/* The memory engine's compiled hot path (drivers/memcpy.py, _memory.AddressSpace.copy_burst).
 *
 * copy_ops(dst, src, lengths[, dst_shift, src_shift]): memmove(dst[i] + dst_shift, src[i] + src_shift,
 * lengths[i]) for every i, in order. The three arrays are C-contiguous buffers of int64 of one length; with the
 * shifts (0 when left out) they are absolute pointers and byte counts that the caller has resolved and checked
 * against the live mappings (under the address space's lock, which it holds throughout).
 * The GIL is released when the ops move enough bytes to be worth it. The pure-Python loop in copy_burst is the
 * specification: same order, same bytes.
 */
#include "native.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "structmember.h"

#ifndef Py_T_OBJECT_EX
#define Py_T_OBJECT_EX T_OBJECT_EX
#endif

/* Below this many bytes in all, keep the GIL: releasing and taking it back costs more than the copies. */
#define RELEASE_GIL_BYTES (256 * 1024)

/* memmove of n bytes for n up to 64 without a call: every byte is loaded before any is stored (two overlapping
 * halves of the largest power of two not above n), so overlapping ops move as memmove moves them. */
static inline void move_upto64(char *d, const char *s, size_t n)
{
    if (n >= 32) {
        uint64_t a[4], b[4];
        memcpy(a, s, 32);
        memcpy(b, s + n - 32, 32);
        memcpy(d, a, 32);
        memcpy(d + n - 32, b, 32);
    } else if (n >= 16) {
        uint64_t a[2], b[2];
        memcpy(a, s, 16);
        memcpy(b, s + n - 16, 16);
        memcpy(d, a, 16);
        memcpy(d + n - 16, b, 16);
    } else if (n >= 8) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &b, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(d, &a, 4);
        memcpy(d + n - 4, &b, 4);
    } else if (n) {
        char a = s[0], b = s[n / 2], c = s[n - 1];
        d[0] = a;
        d[n / 2] = b;
        d[n - 1] = c;
    }
}

/* memmove(d[i] + d_shift, s[i] + s_shift, l[i]) for every i, in order (lengths checked >= 0 by the caller). */
static void move_ops(const int64_t *d, const int64_t *s, const int64_t *l, Py_ssize_t n, int64_t d_shift,
                     int64_t s_shift)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        char *dp = (char *)(intptr_t)(d[i] + d_shift);
        const char *sp = (const char *)(intptr_t)(s[i] + s_shift);
        if (l[i] <= 64)
            move_upto64(dp, sp, (size_t)l[i]);
        else
            memmove(dp, sp, (size_t)l[i]);
    }
}

/* move_ops, without the GIL when the ops move RELEASE_GIL_BYTES or more in all (``total``). */
static void move_ops_gil(const int64_t *d, const int64_t *s, const int64_t *l, Py_ssize_t n, int64_t d_shift,
                         int64_t s_shift, int64_t total)
{
    if (total >= RELEASE_GIL_BYTES) {
        Py_BEGIN_ALLOW_THREADS
        move_ops(d, s, l, n, d_shift, s_shift);
        Py_END_ALLOW_THREADS
    } else {
        move_ops(d, s, l, n, d_shift, s_shift);
    }
}

static int arg_ll(PyObject *v, long long *out);

static int get_i64(PyObject *obj, Py_buffer *view, const char *name)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return -1;
    if (view->itemsize != 8 || view->format == NULL || (strcmp(view->format, "q") != 0 && strcmp(view->format, "l") != 0)) {
        PyErr_Format(PyExc_TypeError, "copy_ops: %s must be an int64 array, not format %s", name,
                     view->format ? view->format : "?");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* The int64 arrays of a run of ops (destinations, sources, lengths), all of one length (a non-zero one when
 * ``nonempty``), as buffers the caller releases; -1 with an exception set and nothing held otherwise. */
static int get_ops(PyObject *dst_obj, PyObject *src_obj, PyObject *len_obj, Py_buffer *dst, Py_buffer *src,
                   Py_buffer *len, const char *fn, int nonempty)
{
    if (get_i64(dst_obj, dst, "dst") < 0)
        return -1;
    if (get_i64(src_obj, src, "src") < 0) {
        PyBuffer_Release(dst);
        return -1;
    }
    if (get_i64(len_obj, len, "lengths") < 0) {
        PyBuffer_Release(dst);
        PyBuffer_Release(src);
        return -1;
    }
    Py_ssize_t n = len->len / 8;
    if ((nonempty && n == 0) || dst->len / 8 != n || src->len / 8 != n) {
        PyErr_Format(PyExc_ValueError, "%s: dst, src and lengths must have one %slength", fn,
                     nonempty ? "non-zero " : "");
        PyBuffer_Release(dst);
        PyBuffer_Release(src);
        PyBuffer_Release(len);
        return -1;
    }
    return 0;
}

static PyObject *copy_ops(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *dst_obj, *src_obj, *len_obj;
    long long d_shift = 0, s_shift = 0;
    if (!PyArg_ParseTuple(args, "OOO|LL:copy_ops", &dst_obj, &src_obj, &len_obj, &d_shift, &s_shift))
        return NULL;
    Py_buffer dst, src, len;
    if (get_ops(dst_obj, src_obj, len_obj, &dst, &src, &len, "copy_ops", 0) < 0)
        return NULL;
    Py_ssize_t n = len.len / 8;
    PyObject *result = NULL;
    const int64_t *d = (const int64_t *)dst.buf, *s = (const int64_t *)src.buf, *l = (const int64_t *)len.buf;
    int64_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (l[i] < 0) {
            PyErr_Format(PyExc_ValueError, "copy_ops: lengths[%zd] is negative", i);
            goto done;
        }
        total += l[i];
    }
    move_ops_gil(d, s, l, n, d_shift, s_shift, total);
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&dst);
    PyBuffer_Release(&src);
    PyBuffer_Release(&len);
    return result;
}

/* span(dst, src, lengths) -> (src_lo, src_hi, dst_lo, dst_hi): the extents of a burst in one pass (the
 * lowest address and the highest address + length, of the sources and of the destinations); int64 arrays of one
 * non-zero length. The pure-Python spelling is four numpy reductions in _memory.AddressSpace.copy_burst. */
static PyObject *span(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *dst_obj, *src_obj, *len_obj;
    if (!PyArg_ParseTuple(args, "OOO:span", &dst_obj, &src_obj, &len_obj))
        return NULL;
    Py_buffer dst, src, len;
    if (get_ops(dst_obj, src_obj, len_obj, &dst, &src, &len, "span", 1) < 0)
        return NULL;
    Py_ssize_t n = len.len / 8;
    PyObject *result = NULL;
    const int64_t *d = (const int64_t *)dst.buf, *s = (const int64_t *)src.buf, *l = (const int64_t *)len.buf;
    int64_t s_lo = s[0], s_hi = s[0] + l[0], d_lo = d[0], d_hi = d[0] + l[0];
    for (Py_ssize_t i = 1; i < n; i++) {
        if (s[i] < s_lo)
            s_lo = s[i];
        if (s[i] + l[i] > s_hi)
            s_hi = s[i] + l[i];
        if (d[i] < d_lo)
            d_lo = d[i];
        if (d[i] + l[i] > d_hi)
            d_hi = d[i] + l[i];
    }
    result = Py_BuildValue("(LLLL)", (long long)s_lo, (long long)s_hi, (long long)d_lo, (long long)d_hi);
done:
    PyBuffer_Release(&dst);
    PyBuffer_Release(&src);
    PyBuffer_Release(&len);
    return result;
}

/* copy_in(dst, src, lengths, src_lo, src_hi, dst_lo, dst_hi, dst_shift, src_shift) -> None, or the burst's
 * (src_lo, src_hi, dst_lo, dst_hi): the burst's ops copied as copy_ops(dst, src, lengths, dst_shift, src_shift)
 * does when every source lies in [src_lo, src_hi) and every destination in [dst_lo, dst_hi) (the mappings the
 * caller last copied between, checked for their direction, under the address space's lock, which it holds);
 * otherwise nothing is copied and the burst's extents (as span) come back for the caller to resolve. int64
 * arrays of one non-zero length. One call where span and copy_ops took two (and six buffer requests). */
static PyObject *copy_in(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 9) {
        PyErr_Format(PyExc_TypeError, "copy_in() takes exactly 9 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *dst_obj = args[0], *src_obj = args[1], *len_obj = args[2];
    long long hs_lo, hs_hi, hd_lo, hd_hi, d_shift, s_shift;
    if (arg_ll(args[3], &hs_lo) < 0 || arg_ll(args[4], &hs_hi) < 0 || arg_ll(args[5], &hd_lo) < 0
        || arg_ll(args[6], &hd_hi) < 0 || arg_ll(args[7], &d_shift) < 0 || arg_ll(args[8], &s_shift) < 0)
        return NULL;
    Py_buffer dst, src, len;
    if (get_ops(dst_obj, src_obj, len_obj, &dst, &src, &len, "copy_in", 1) < 0)
        return NULL;
    Py_ssize_t n = len.len / 8;
    PyObject *result = NULL;
    const int64_t *d = (const int64_t *)dst.buf, *s = (const int64_t *)src.buf, *l = (const int64_t *)len.buf;
    int64_t s_lo = s[0], s_hi = s[0], d_lo = d[0], d_hi = d[0], total = 0;
    int neg = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t se, de; /* an end past INT64_MAX (arrays changed by hand) saturates: no mapping holds it */
        if (__builtin_add_overflow(s[i], l[i], &se))
            se = INT64_MAX;
        if (__builtin_add_overflow(d[i], l[i], &de))
            de = INT64_MAX;
        neg |= l[i] <= 0;
        if (__builtin_add_overflow(total, l[i], &total))
            total = INT64_MAX;
        if (s[i] < s_lo)
            s_lo = s[i];
        if (se > s_hi)
            s_hi = se;
        if (d[i] < d_lo)
            d_lo = d[i];
        if (de > d_hi)
            d_hi = de;
    }
    if (neg || !(hs_lo <= s_lo && s_hi <= hs_hi && hd_lo <= d_lo && d_hi <= hd_hi)) {
        result = Py_BuildValue("(LLLL)", (long long)s_lo, (long long)s_hi, (long long)d_lo, (long long)d_hi);
        goto done;
    }
    move_ops_gil(d, s, l, n, d_shift, s_shift, total);
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&dst);
    PyBuffer_Release(&src);
    PyBuffer_Release(&len);
    return result;
}

/* total(lengths) -> the sum of an int64 array (a burst's byte count: one buffer read, where a numpy reduction
 * costs microseconds of dispatch). The pure-Python spelling is int(np.add.reduce(lengths)). */
static PyObject *total(PyObject *self, PyObject *arg)
{
    (void)self;
    Py_buffer len;
    if (get_i64(arg, &len, "lengths") < 0)
        return NULL;
    const int64_t *l = (const int64_t *)len.buf;
    Py_ssize_t n = len.len / 8;
    long long sum = 0;
    int overflow = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        overflow |= __builtin_add_overflow(sum, (long long)l[i], &sum);
    PyBuffer_Release(&len);
    if (overflow) {
        PyErr_SetString(PyExc_OverflowError, "total: the sum does not fit an int64");
        return NULL;
    }
    return PyLong_FromLongLong(sum);
}

/* The byte offset of a __slots__ member in its instances, from its member descriptor (``Class.name``). */
static Py_ssize_t slot_offset(PyObject *descr, PyTypeObject **owner)
{
    if (!Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        PyErr_Format(PyExc_TypeError, "expected a __slots__ member descriptor, not %R", descr);
        return -1;
    }
    PyMemberDef *m = ((PyMemberDescrObject *)descr)->d_member;
    if (m->type != Py_T_OBJECT_EX) {
        PyErr_Format(PyExc_TypeError, "%R is not an object slot", descr);
        return -1;
    }
    if (owner != NULL)
        *owner = ((PyDescrObject *)descr)->d_type;
    return m->offset;
}

#define SLOT(obj, off) (*(PyObject **)((char *)(obj) + (off)))

/* An exact int in [0, limit) as int64, or -1 (no exception set) for anything else. On CPython 3.11 an int of
 * one or two 30-bit digits (below 2**60: every address and length of a scatterlist) is read from its digits
 * inline: a call of PyLong_AsLongLongAndOverflow per field was most of sg_pieces' time. */
static inline int64_t plain_int(PyObject *v, int64_t limit)
{
    if (v == NULL || !PyLong_CheckExact(v))
        return -1;
#if PY_VERSION_HEX < 0x030C0000 && PyLong_SHIFT == 30
    {
        Py_ssize_t size = Py_SIZE(v);
        const digit *dg = ((PyLongObject *)v)->ob_digit;
        if (size >= 0 && size <= 2) {
            int64_t x = size == 0 ? 0 : size == 1 ? (int64_t)dg[0] : ((int64_t)dg[1] << 30) | (int64_t)dg[0];
            return x < limit ? x : -1;
        }
    }
#endif
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow || x < 0 || x >= limit) {
        if (x == -1 && PyErr_Occurred())
            PyErr_Clear();
        return -1;
    }
    return (int64_t)x;
}

/* Argument i of a compiled helper as a long long: an exact int of up to three 30-bit digits that fits is read
 * from its digits (PyLong_AsLongLong takes a slow path for every int of two digits or more, ~150 instructions),
 * anything else as PyLong_AsLongLong reads it (its __index__, its OverflowError). 0, or -1 with an exception. */
static int arg_ll(PyObject *v, long long *out)
{
#if PY_VERSION_HEX < 0x030C0000 && PyLong_SHIFT == 30
    if (PyLong_CheckExact(v)) {
        Py_ssize_t size = Py_SIZE(v), a = size < 0 ? -size : size;
        const digit *dg = ((PyLongObject *)v)->ob_digit;
        if (a <= 3 && (a < 3 || dg[2] < 8)) {
            long long x = a == 0 ? 0 : (long long)dg[0];
            if (a >= 2)
                x |= (long long)dg[1] << 30;
            if (a == 3)
                x |= (long long)dg[2] << 60;
            *out = size < 0 ? -x : x;
            return 0;
        }
    }
#endif
    if (!PyLong_Check(v) && !PyIndex_Check(v)) {
        PyErr_Format(PyExc_TypeError, "an int is required, not %.200s", Py_TYPE(v)->tp_name);
        return -1;
    }
    *out = PyLong_AsLongLong(v);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* An exact int of at most two 30-bit digits (below 2**60) read from its digits, or -1 for anything else (NULL, a
 * subclass, a negative or larger int: the general loop's plain_int reads those). */
static inline int64_t small_int(PyObject *v)
{
#if PY_VERSION_HEX < 0x030C0000 && PyLong_SHIFT == 30
    if (v == NULL || Py_TYPE(v) != &PyLong_Type)
        return -1;
    Py_ssize_t size = Py_SIZE(v);
    const digit *dg = ((PyLongObject *)v)->ob_digit;
    if (size == 1)
        return (int64_t)dg[0];
    if (size == 2)
        return ((int64_t)dg[1] << 30) | (int64_t)dg[0];
    return size == 0 ? 0 : -1;
#else
    return plain_int(v, (int64_t)1 << 60);
#endif
}

/* The pairing of two scatterlists (arrays of ``nd`` and ``ns`` entries of the exact type ``owner``, whose fields
 * are at ``a_off`` and ``l_off``) into pieces written to od / os_ / on (room for nd + ns - 1 of each): the number of
 * pieces, their total in *total_out; -1 (nothing said) when an entry is not exactly ``owner`` holding plain ints
 * (address in [0, max_addr), length in [1, max_addr)), when a piece is longer than ``max_piece`` or starts at
 * max_addr or beyond, or when the totals differ. Two lists whose entries pair one to one (the common case) take
 * a shorter loop first: four reads, two compares and three stores an entry pair. */
static Py_ssize_t pair_into(PyObject *const *dv, Py_ssize_t nd, PyObject *const *sv, Py_ssize_t ns, PyTypeObject *owner,
                            Py_ssize_t a_off, Py_ssize_t l_off, int64_t *od, int64_t *os_, int64_t *on,
                            int64_t max_piece, int64_t max_addr, int64_t *total_out)
{
    if (nd == 0 || ns == 0)
        return -1;
    int64_t total = 0;
    if (nd == ns && max_addr >= ((int64_t)1 << 60)) {
        Py_ssize_t i;
        for (i = 0; i < nd; i++) {
            PyObject *e = dv[i], *f = sv[i];
            if (Py_TYPE(e) != owner || Py_TYPE(f) != owner)
                return -1;
            int64_t dl = small_int(SLOT(e, l_off)), sl = small_int(SLOT(f, l_off));
            int64_t da = small_int(SLOT(e, a_off)), sa = small_int(SLOT(f, a_off));
            /* not one to one, or a field this loop does not read: the general loop decides */
            if (dl != sl || dl < 1 || dl > max_piece || (da | sa) < 0)
                break;
            od[i] = da;
            os_[i] = sa;
            on[i] = dl;
            total += dl;
        }
        if (i == nd) {
            *total_out = total;
            return nd;
        }
        total = 0;
    }
    Py_ssize_t i = 0, j = 0, k = 0;
    int64_t da = 0, dl = 0, sa = 0, sl = 0; /* what is left of the current entries */
    int need_d = 1, need_s = 1;
    for (;;) {
        if (need_d) {
            if (i == nd)
                break;
            PyObject *e = dv[i++];
            if (Py_TYPE(e) != owner)
                return -1;
            da = plain_int(SLOT(e, a_off), max_addr);
            dl = plain_int(SLOT(e, l_off), max_addr);
            if (da < 0 || dl < 1)
                return -1;
            need_d = 0;
        }
        if (need_s) {
            if (j == ns)
                break;
            PyObject *e = sv[j++];
            if (Py_TYPE(e) != owner)
                return -1;
            sa = plain_int(SLOT(e, a_off), max_addr);
            sl = plain_int(SLOT(e, l_off), max_addr);
            if (sa < 0 || sl < 1)
                return -1;
            need_s = 0;
        }
        int64_t n = dl < sl ? dl : sl;
        if (n > max_piece || da >= max_addr || sa >= max_addr)
            return -1;
        od[k] = da;
        os_[k] = sa;
        on[k] = n;
        k++;
        total += n;
        da += n;
        sa += n;
        dl -= n;
        sl -= n;
        need_d = dl == 0;
        need_s = sl == 0;
    }
    /* Both lists must end together: the same total. */
    if (!(need_d && need_s && i == nd && j == ns))
        return -1;
    *total_out = total;
    return k;
}

/* The shared body of sg_pieces and sg_pair (``fn``, called with ``args``): the pieces written to ``out``, their
 * total in *total; -1 when the pairing is not this path's, -2 with an exception set. */
static Py_ssize_t pair_args(PyObject *const *args, Py_ssize_t nargs, const char *fn, int64_t *total)
{
    if (nargs != 7) {
        PyErr_Format(PyExc_TypeError, "%s() takes exactly 7 arguments (%zd given)", fn, nargs);
        return -2;
    }
    PyObject *dsl = args[0], *ssl = args[1], *out_obj = args[4];
    long long max_piece, max_addr;
    if (arg_ll(args[5], &max_piece) < 0 || arg_ll(args[6], &max_addr) < 0)
        return -2;
    PyTypeObject *owner = NULL, *owner2 = NULL;
    Py_ssize_t a_off = slot_offset(args[2], &owner), l_off = slot_offset(args[3], &owner2);
    if (a_off < 0 || l_off < 0)
        return -2;
    if (!(PyList_CheckExact(dsl) || PyTuple_CheckExact(dsl)) || !(PyList_CheckExact(ssl) || PyTuple_CheckExact(ssl)))
        return -1;
    Py_ssize_t nd = PySequence_Fast_GET_SIZE(dsl), ns = PySequence_Fast_GET_SIZE(ssl);
    Py_buffer out;
    if (get_i64(out_obj, &out, "out") < 0)
        return -2;
    if (out.len / 8 != 3 * (nd + ns)) {
        PyBuffer_Release(&out);
        PyErr_Format(PyExc_ValueError, "%s: out must hold 3 x (len(dst_sgl) + len(src_sgl)) int64", fn);
        return -2;
    }
    int64_t *od = (int64_t *)out.buf;
    Py_ssize_t k = pair_into(PySequence_Fast_ITEMS(dsl), nd, PySequence_Fast_ITEMS(ssl), ns, owner, a_off, l_off, od,
                             od + (nd + ns), od + 2 * (nd + ns), max_piece, max_addr, total);
    PyBuffer_Release(&out);
    return k;
}

/* sg_pieces(dst_sgl, src_sgl, addr_slot, length_slot, out, max_piece, max_addr) -> count, or -1.
 *
 * The pairing of two scatterlists (lists or tuples of SgEntry: ``addr_slot`` and ``length_slot`` are the
 * class's member descriptors, ``SgEntry.addr`` and ``SgEntry.length``) into pieces written to the rows of
 * ``out``, a C-contiguous int64 array of shape (3, len(dst_sgl) + len(src_sgl)): destination addresses, source
 * addresses and lengths. -1 (nothing said) when an entry is not exactly an SgEntry holding plain ints (address
 * in [0, max_addr), length in [1, max_addr)), when a piece is longer than ``max_piece`` or starts at max_addr or
 * beyond, or when the totals differ: the caller then takes the general, checked path. The pure-Python
 * specification is _burst.sg_pieces. */
static PyObject *sg_pieces(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    int64_t total = 0;
    Py_ssize_t k = pair_args(args, nargs, "sg_pieces", &total);
    return k == -2 ? NULL : PyLong_FromSsize_t(k);
}

/* sg_pair(dst_sgl, src_sgl, addr_slot, length_slot, out, max_piece, max_addr) -> (count, total bytes), or None:
 * sg_pieces with the pieces' total (what a burst's ``length`` is) from the same pass. */
static PyObject *sg_pair(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    int64_t total = 0;
    Py_ssize_t k = pair_args(args, nargs, "sg_pair", &total);
    if (k == -2)
        return NULL;
    if (k < 0)
        Py_RETURN_NONE;
    return Py_BuildValue("(nL)", k, (long long)total);
}


/* ------------------------------------------------------------------------------------------------------------
 * The per-descriptor path of the memory engine (drivers/memcpy.py), compiled: prep, submit, the worker's copies
 * of small single copies, batched completion and the bottom half's callbacks. Each works on the same Python
 * objects as the pure-Python code (descriptors are MemcpyDescriptor instances; their __slots__ are read and
 * written at the offsets their member descriptors give, the channel's fields through its attributes) and hands
 * anything unusual (a traced run, a subclass, a bad argument, a lost race) to the Python code, which stays the
 * specification: the errors and events are always its own.
 *
 * memcpy_setup(desc_type, submit_types, slots, consts) is called once by drivers/memcpy.py at import.
 * ------------------------------------------------------------------------------------------------------------ */

enum {
    S_CHAN, S_COOKIE, S_FLAGS, S_CALLBACK, S_CALLBACK_PARAM, S_CALLBACK_RESULT, S_STATE, S_LENGTH, S_RESULT,
    S_RESIDUE, S_DONE_COOKIE, S_SEGS, S_VALUE, S_DONE, S_DST, S_SRC, S_COUNT
};
static const char *slot_names[S_COUNT] = {
    "chan", "cookie", "flags", "callback", "callback_param", "callback_result", "state", "length", "result",
    "residue", "done_cookie", "segs", "value", "done", "dst", "src",
};

static struct {
    int ready;
    PyTypeObject *desc_type;     /* MemcpyDescriptor */
    PyObject *submit_types;      /* tuple of the exact types whose submit is VirtDescriptor.tx_submit */
    Py_ssize_t off[S_COUNT];
    PyObject *prepared, *submitted, *done_state, *noerror, *zero, *one, *empty;
    PyObject *flags_cache;       /* _channel._prep_flags_cache: int -> PrepFlags */
    PyObject *trace_dict;        /* vars(dmaengine._trace): "recorder" */
    PyObject *py_submit;         /* Descriptor.submit, the specification and the fallback */
    PyObject *tx_result;         /* TxResult */
    long long run_copy, min_cookie, max_cookie, errors_kept;
    uint64_t trace_version;      /* trace_dict's version when trace_on was read (see DICT_VERSION) */
    int trace_on;
    uint64_t flags_version;      /* flags_cache's version when last_flags -> last_pf was read */
    PyObject *last_flags, *last_pf;
    PyTypeObject *lock_type;     /* _thread.lock when its layout is LockMirror's (checked), else NULL */
    ternaryfunc slot_call;       /* the tp_call of a class that defines __call__ in Python (CPython's slot_tp_call) */
    PyObject *last_prep;         /* a weak reference to the MemcpyPrep of the channel that submitted last, or NULL */
    /* interned attribute names */
    PyObject *s_client_count, *s_memcpy_plain, *s_device, *s_accepting, *s_lock, *s_acquire, *s_release, *s_locked,
        *s_cookie, *s_desc_submitted, *s_append, *s_n_submitted, *s_recorder, *s_errors, *s_desc_completed,
        *s_completed_cookie, *s_n_errors, *s_n_memcpy, *s_n_bytes, *s_n_completed, *s_schedule_bottom_half,
        *s_waitq, *s_wake, *s_popitem, *s_popleft, *s_extend, *s_addr, *s_end, *s_mv, *s_ptr, *s_prep, *s_call, *s_clear;
} MF;

static int install_dealloc(PyTypeObject *type, destructor subtype_dealloc);

static PyObject *get_const(PyObject *consts, const char *name)
{
    PyObject *v = PyDict_GetItemString(consts, name);
    if (v == NULL) {
        PyErr_Format(PyExc_KeyError, "memcpy_setup: consts has no %s", name);
        return NULL;
    }
    Py_INCREF(v);
    return v;
}

static int get_const_ll(PyObject *consts, const char *name, long long *out)
{
    PyObject *v = get_const(consts, name);
    if (v == NULL)
        return -1;
    *out = PyLong_AsLongLong(v);
    Py_DECREF(v);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

static PyObject *memcpy_setup(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *desc_type, *submit_types, *slots, *consts;
    if (!PyArg_ParseTuple(args, "O!O!O!O!:memcpy_setup", &PyType_Type, &desc_type, &PyTuple_Type, &submit_types,
                          &PyDict_Type, &slots, &PyDict_Type, &consts))
        return NULL;
    for (int i = 0; i < S_COUNT; i++) {
        PyObject *d = PyDict_GetItemString(slots, slot_names[i]);
        if (d == NULL) {
            PyErr_Format(PyExc_KeyError, "memcpy_setup: slots has no %s", slot_names[i]);
            return NULL;
        }
        PyTypeObject *owner = NULL;
        Py_ssize_t off = slot_offset(d, &owner);
        if (off < 0)
            return NULL;
        if (!PyType_IsSubtype((PyTypeObject *)desc_type, owner)) {
            PyErr_Format(PyExc_TypeError, "memcpy_setup: slot %s is not one of %R", slot_names[i], desc_type);
            return NULL;
        }
        MF.off[i] = off;
    }
    Py_XSETREF(MF.desc_type, (PyTypeObject *)Py_NewRef(desc_type));
    Py_XSETREF(MF.submit_types, Py_NewRef(submit_types));
#define CONST(field, name)                                                                                      \
    do {                                                                                                        \
        PyObject *v_ = get_const(consts, name);                                                                 \
        if (v_ == NULL)                                                                                         \
            return NULL;                                                                                        \
        Py_XSETREF(MF.field, v_);                                                                               \
    } while (0)
    CONST(prepared, "PREPARED");
    CONST(submitted, "SUBMITTED");
    CONST(done_state, "DONE");
    CONST(noerror, "NOERROR");
    CONST(flags_cache, "flags_cache");
    CONST(trace_dict, "trace_dict");
    if (!PyDict_CheckExact(MF.flags_cache) || !PyDict_CheckExact(MF.trace_dict)) {
        PyErr_SetString(PyExc_TypeError, "memcpy_setup: flags_cache and trace_dict must be dicts");
        return NULL;
    }
    MF.trace_version = 0;
    MF.flags_version = 0;
    CONST(py_submit, "submit");
    CONST(tx_result, "TxResult");
#undef CONST
    {
        PyObject *probe = get_const(consts, "call_probe"); /* a class that defines __call__ in Python */
        if (probe == NULL)
            return NULL;
        if (!PyType_Check(probe)) {
            Py_DECREF(probe);
            PyErr_SetString(PyExc_TypeError, "memcpy_setup: call_probe must be a class");
            return NULL;
        }
        MF.slot_call = ((PyTypeObject *)probe)->tp_call;
        destructor subtype_dealloc = ((PyTypeObject *)probe)->tp_dealloc;
        Py_DECREF(probe);
        if (install_dealloc((PyTypeObject *)desc_type, subtype_dealloc) < 0)
            return NULL;
    }
    Py_XSETREF(MF.zero, PyLong_FromLong(0));
    Py_XSETREF(MF.one, PyLong_FromLong(1));
    Py_XSETREF(MF.empty, PyTuple_New(0));
    if (MF.zero == NULL || MF.one == NULL || MF.empty == NULL || get_const_ll(consts, "RUN_COPY", &MF.run_copy) < 0
        || get_const_ll(consts, "MIN_COOKIE", &MF.min_cookie) < 0
        || get_const_ll(consts, "MAX_COOKIE", &MF.max_cookie) < 0
        || get_const_ll(consts, "ERRORS_KEPT", &MF.errors_kept) < 0)
        return NULL;
#define NAME(field, text)                                                                                       \
    do {                                                                                                        \
        if (MF.field == NULL && (MF.field = PyUnicode_InternFromString(text)) == NULL)                          \
            return NULL;                                                                                        \
    } while (0)
    NAME(s_client_count, "client_count");
    NAME(s_memcpy_plain, "_memcpy_plain");
    NAME(s_device, "device");
    NAME(s_accepting, "_accepting");
    NAME(s_lock, "lock");
    NAME(s_acquire, "acquire");
    NAME(s_release, "release");
    NAME(s_locked, "locked");
    NAME(s_cookie, "cookie");
    NAME(s_desc_submitted, "desc_submitted");
    NAME(s_append, "append");
    NAME(s_n_submitted, "n_submitted");
    NAME(s_recorder, "recorder");
    NAME(s_errors, "_errors");
    NAME(s_desc_completed, "desc_completed");
    NAME(s_completed_cookie, "completed_cookie");
    NAME(s_n_errors, "n_errors");
    NAME(s_n_memcpy, "n_memcpy");
    NAME(s_n_bytes, "n_bytes");
    NAME(s_n_completed, "n_completed");
    NAME(s_schedule_bottom_half, "schedule_bottom_half");
    NAME(s_waitq, "waitq");
    NAME(s_wake, "wake");
    NAME(s_popitem, "popitem");
    NAME(s_popleft, "popleft");
    NAME(s_extend, "extend");
    NAME(s_addr, "addr");
    NAME(s_end, "_end");
    NAME(s_mv, "_mv");
    NAME(s_ptr, "_ptr");
    NAME(s_prep, "prep_dma_memcpy");
    NAME(s_call, "__call__");
    NAME(s_clear, "clear");
#undef NAME
    MF.lock_type = dmaengine_lock_type_checked();
    MF.ready = 1;
    Py_RETURN_NONE;
}

/* The submit reads a channel lock's ``locked`` field (LockMirror, native.h) only where
 * dmaengine_lock_type_checked found the layout it expects; otherwise it calls locked(). */

/* --- freeing a descriptor --------------------------------------------------------------------------------
 *
 * A MemcpyDescriptor is freed by desc_dealloc instead of CPython's generic subtype_dealloc, which walks the
 * member table of each class of the MRO for every descriptor (~400 instructions of ~5,500 per small64 op). It
 * does what subtype_dealloc does for these classes, in the same order: untrack, the trashcan (a long chain of
 * descriptors frees without deep recursion), weak references, every object slot of the classes up to object
 * (their offsets collected once, as subtype_dealloc's clear_slots picks them), tp_free, and the reference to the
 * class. install_dealloc puts it in only when that is all there is to do: every class from MemcpyDescriptor up
 * to object a heap type freed by subtype_dealloc, with no __del__ / tp_finalize, no __dict__, and object last.
 * A subclass (BurstDescriptor, or a user's, perhaps with a __del__) keeps subtype_dealloc, which runs its own
 * part (finalizer, its slots) and then calls its base's tp_dealloc, this one, which frees the rest (CPython
 * leaves the class's reference to a heap base's tp_dealloc, as here). */
#define DEALLOC_MAX_SLOTS 64
static struct {
    int on;
    Py_ssize_t n;
    Py_ssize_t off[DEALLOC_MAX_SLOTS];
} DD;

static void desc_dealloc(PyObject *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Py_TRASHCAN_BEGIN(self, desc_dealloc)
    if (type->tp_weaklistoffset && *(PyObject **)((char *)self + type->tp_weaklistoffset) != NULL)
        PyObject_ClearWeakRefs(self);
    for (Py_ssize_t i = 0; i < DD.n; i++) {
        PyObject **p = (PyObject **)((char *)self + DD.off[i]);
        PyObject *o = *p;
        if (o != NULL) {
            *p = NULL;
            Py_DECREF(o);
        }
    }
    type->tp_free(self);
    Py_DECREF(type);
    Py_TRASHCAN_END
}

static int install_dealloc(PyTypeObject *type, destructor subtype_dealloc)
{
    if (DD.on)
        return 0;
    Py_ssize_t n = 0;
    PyTypeObject *base = type;
    while (base != NULL && base->tp_dealloc == subtype_dealloc) {
        if (!(base->tp_flags & Py_TPFLAGS_HEAPTYPE) || base->tp_finalize != NULL || base->tp_del != NULL
            || base->tp_dictoffset != 0)
            return 0; /* something more to do: subtype_dealloc stays */
        for (PyMemberDef *m = base->tp_members; m != NULL && m->name != NULL; m++) {
            if (m->type == Py_T_OBJECT_EX && !(m->flags & READONLY)) {
                if (n == DEALLOC_MAX_SLOTS)
                    return 0;
                DD.off[n++] = m->offset;
            }
        }
        base = base->tp_base;
    }
    if (base != &PyBaseObject_Type || type->tp_free == NULL)
        return 0;
    DD.n = n;
    DD.on = 1;
    type->tp_dealloc = desc_dealloc;
    return 0;
}

static PyObject *fast_dealloc(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyBool_FromLong(DD.on);
}

/* Set slot i of obj to a new reference to v (the old value, if any, is released). */
static inline void slot_set(PyObject *obj, int i, PyObject *v)
{
    PyObject **p = (PyObject **)((char *)obj + MF.off[i]);
    PyObject *old = *p;
    *p = Py_NewRef(v);
    Py_XDECREF(old);
}

/* Set slot i of a new object (every slot still NULL, as tp_alloc leaves it) to a new reference to v. */
static inline void slot_init(PyObject *obj, int i, PyObject *v)
{
    *(PyObject **)((char *)obj + MF.off[i]) = Py_NewRef(v);
}

static inline PyObject *slot_get(PyObject *obj, int i) /* borrowed; NULL when unset */
{
    return *(PyObject **)((char *)obj + MF.off[i]);
}

/* Field i of any descriptor, new reference: the slot of a memory engine descriptor, else the attribute. */
static PyObject *vget(PyObject *vd, int i)
{
    if (PyObject_TypeCheck(vd, MF.desc_type)) {
        PyObject *v = slot_get(vd, i);
        if (v == NULL) {
            PyErr_Format(PyExc_AttributeError, "%s", slot_names[i]);
            return NULL;
        }
        return Py_NewRef(v);
    }
    return PyObject_GetAttrString(vd, slot_names[i]);
}

static int vset(PyObject *vd, int i, PyObject *v)
{
    if (PyObject_TypeCheck(vd, MF.desc_type)) {
        slot_set(vd, i, v);
        return 0;
    }
    return PyObject_SetAttrString(vd, slot_names[i], v);
}

/* A dict's version (PEP 509): it changes whenever anything in the dict does, so a value read from a dict stays
 * good while the version is the one it was read at. The hot path keeps what it read of the trace module, the
 * prep flags cache and the channel's attributes against their dicts' versions instead of looking them up on every
 * call (each look-up cost ~180 instructions, a third of submit). 0 (never a dict's version) where the field is
 * deprecated (3.12 on): everything is looked up each time. */
#if PY_VERSION_HEX < 0x030C0000
#define DICT_VERSION(d) (((PyDictObject *)(d))->ma_version_tag)
#else
#define DICT_VERSION(d) ((uint64_t)0)
#endif

/* 1 when a trace recorder is installed, 0 when not, -1 on error. */
static inline int tracing(void)
{
    uint64_t v = DICT_VERSION(MF.trace_dict);
    if (v != 0 && v == MF.trace_version)
        return MF.trace_on;
    PyObject *rec = PyDict_GetItemWithError(MF.trace_dict, MF.s_recorder);
    if (rec == NULL)
        return PyErr_Occurred() ? -1 : 0;
    MF.trace_on = rec != Py_None;
    MF.trace_version = v;
    return MF.trace_on;
}

/* obj.name as a C long long (an exact int), or -1 with an exception set. */
static int attr_ll(PyObject *obj, PyObject *name, long long *out)
{
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL)
        return -1;
    *out = PyLong_AsLongLong(v);
    Py_DECREF(v);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

static int set_attr_ll(PyObject *obj, PyObject *name, long long value)
{
    PyObject *v = PyLong_FromLongLong(value);
    if (v == NULL)
        return -1;
    int r = PyObject_SetAttr(obj, name, v);
    Py_DECREF(v);
    return r;
}

static int add_attr_ll(PyObject *obj, PyObject *name, long long delta)
{
    long long x;
    if (attr_ll(obj, name, &x) < 0)
        return -1;
    return set_attr_ll(obj, name, x + delta);
}

/* --- prep ------------------------------------------------------------------------------------------------- */

/* MemcpyPrep(chan, fallback): the channel's prep_dma_memcpy for the memory engine. A copy of exact ints with
 * cached flags on a live channel whose device passed the device checks
 * before, with no trace recording, is built here: what MemcpyEngine.device_prep_dma_memcpy builds (a small
 * copy up to RUN_COPY bytes with its addresses in dst and src, a larger one as one segment) with the PrepFlags
 * set, as Channel.prep_dma_memcpy does. Anything else calls
 * ``fallback`` (Channel.prep_dma_memcpy bound to the channel) with the same arguments.
 *
 * It also holds what the compiled submit needs of its channel, looked up once: the channel's instance dict
 * (its counters and flags are plain attributes), its device, and the bound acquire / release of its lock and
 * append of its submitted list (neither is ever replaced). */
typedef struct {
    PyObject_HEAD
    PyObject *chan;
    PyObject *fallback;
    PyObject *dict, *dev, *acquire, *release, *locked, *append, *lock;
    vectorcallfunc vectorcall;
    PyObject *weakreflist;
    long long n_submitted; /* the submits counted here; the channel's ``n_submitted`` adds them (drivers/memcpy.py) */
    /* What was read of the channel's attributes (its dict), good while the dict's version is the one noted:
     * prep_ok (client_count true and _memcpy_plain the device) at prep_version; accepting (_accepting is True)
     * and the cookie at sub_version (sub_ok: cookie is an exact int that fits, as cookie_ll). */
    uint64_t prep_version, sub_version;
    int prep_ok, sub_ok;
    long long cookie_ll;
} PrepObject;

static PyTypeObject PrepType;

static PyObject *prep_fallback(PrepObject *p, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    return PyObject_Vectorcall(p->fallback, args, nargsf, kwnames);
}

/* 1 when the channel's attribute ``name`` (from its instance dict) is true, 0 when false, -1 on error. */
static int dict_true(PyObject *dict, PyObject *name)
{
    PyObject *v = PyDict_GetItemWithError(dict, name);
    if (v == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetObject(PyExc_AttributeError, name);
        return -1;
    }
    if (v == Py_True)
        return 1;
    if (v == Py_False || v == Py_None)
        return 0;
    return PyObject_IsTrue(v);
}

static PyObject *prep_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    PrepObject *p = (PrepObject *)self;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (!MF.ready || p->chan == NULL || kwnames != NULL || nargs < 3 || nargs > 4)
        return prep_fallback(p, args, nargsf, kwnames);
    PyObject *dst = args[0], *src = args[1], *length = args[2];
    PyObject *flags = nargs == 4 ? args[3] : MF.zero;
    if (!PyLong_CheckExact(dst) || !PyLong_CheckExact(src) || !PyLong_CheckExact(length) || !PyLong_CheckExact(flags))
        return prep_fallback(p, args, nargsf, kwnames);
    /* exact ints in [0, 2**63 - 1) (the length > 0), read from their digits when small; anything else (an
     * address of 2**63 - 1 included) is the checked prep's, which builds the same or raises */
    if (plain_int(dst, INT64_MAX) < 0 || plain_int(src, INT64_MAX) < 0 || plain_int(length, INT64_MAX) <= 0)
        return prep_fallback(p, args, nargsf, kwnames);
    long long n = PyLong_AsLongLong(length);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    PyObject *pf; /* borrowed */
    uint64_t fv = DICT_VERSION(MF.flags_cache);
    if (fv != 0 && fv == MF.flags_version && flags == MF.last_flags) {
        pf = MF.last_pf;
    } else {
        pf = PyDict_GetItemWithError(MF.flags_cache, flags);
        if (pf == NULL) {
            if (PyErr_Occurred())
                return NULL;
            return prep_fallback(p, args, nargsf, kwnames);
        }
        Py_XSETREF(MF.last_flags, Py_NewRef(flags));
        Py_XSETREF(MF.last_pf, Py_NewRef(pf));
        MF.flags_version = fv;
    }
    int tr = tracing();
    if (tr < 0)
        return NULL;
    if (tr)
        return prep_fallback(p, args, nargsf, kwnames);
    uint64_t cv = DICT_VERSION(p->dict);
    if (cv == 0 || cv != p->prep_version) {
        int live = dict_true(p->dict, MF.s_client_count);
        if (live < 0)
            return NULL;
        PyObject *plain = live ? PyDict_GetItemWithError(p->dict, MF.s_memcpy_plain) : NULL;
        if (plain == NULL && PyErr_Occurred())
            return NULL;
        p->prep_ok = live && plain == p->dev;
        p->prep_version = cv; /* read before the look-ups: a change they made shows as a new version */
    }
    if (!p->prep_ok)
        return prep_fallback(p, args, nargsf, kwnames);
    PyObject *segs = MF.empty;
    if (n > MF.run_copy) { /* a large copy: one segment, as MemcpyEngine.device_prep_dma_memcpy makes it */
        segs = Py_BuildValue("((OOO))", dst, src, length);
        if (segs == NULL)
            return NULL;
    }
    PyTypeObject *t = MF.desc_type;
    PyObject *vd = t->tp_alloc(t, 0);
    if (vd == NULL) {
        if (segs != MF.empty)
            Py_DECREF(segs);
        return NULL;
    }
    slot_init(vd, S_CHAN, p->chan);
    slot_init(vd, S_COOKIE, MF.zero);
    slot_init(vd, S_FLAGS, pf);
    slot_init(vd, S_CALLBACK, Py_None);
    slot_init(vd, S_CALLBACK_PARAM, Py_None);
    slot_init(vd, S_CALLBACK_RESULT, Py_None);
    slot_init(vd, S_STATE, MF.prepared);
    slot_init(vd, S_LENGTH, length);
    slot_init(vd, S_RESULT, MF.noerror);
    slot_init(vd, S_RESIDUE, MF.zero);
    slot_init(vd, S_DONE_COOKIE, MF.zero);
    slot_init(vd, S_VALUE, MF.zero);
    slot_init(vd, S_DONE, MF.zero);
    if (segs != MF.empty) {
        slot_init(vd, S_SEGS, segs);
        Py_DECREF(segs);
        slot_init(vd, S_DST, MF.zero);
        slot_init(vd, S_SRC, Py_None);
    } else {
        slot_init(vd, S_SEGS, MF.empty);
        slot_init(vd, S_DST, dst);
        slot_init(vd, S_SRC, src);
    }
    return vd;
}

static PyObject *prep_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *chan, *fallback;
    static char *kwlist[] = {"chan", "fallback", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO:MemcpyPrep", kwlist, &chan, &fallback))
        return NULL;
    if (!PyCallable_Check(fallback)) {
        PyErr_Format(PyExc_TypeError, "MemcpyPrep: fallback must be callable, not %R", fallback);
        return NULL;
    }
    if (!MF.ready) {
        PyErr_SetString(PyExc_RuntimeError, "MemcpyPrep: memcpy_setup was not called");
        return NULL;
    }
    PrepObject *p = (PrepObject *)type->tp_alloc(type, 0);
    if (p == NULL)
        return NULL;
    p->chan = Py_NewRef(chan);
    p->fallback = Py_NewRef(fallback);
    p->vectorcall = prep_vectorcall;
    PyObject *lock = NULL, *sub = NULL;
    p->dict = PyObject_GenericGetDict(chan, NULL);
    if (p->dict == NULL || (p->dev = PyObject_GetAttr(chan, MF.s_device)) == NULL
        || (lock = PyObject_GetAttr(chan, MF.s_lock)) == NULL
        || (p->acquire = PyObject_GetAttr(lock, MF.s_acquire)) == NULL
        || (p->release = PyObject_GetAttr(lock, MF.s_release)) == NULL
        || (p->locked = PyObject_GetAttr(lock, MF.s_locked)) == NULL
        || (p->lock = Py_NewRef(lock)) == NULL
        || (sub = PyObject_GetAttr(chan, MF.s_desc_submitted)) == NULL
        || (p->append = PyObject_GetAttr(sub, MF.s_append)) == NULL) {
        Py_XDECREF(lock);
        Py_XDECREF(sub);
        Py_DECREF(p);
        return NULL;
    }
    Py_DECREF(lock);
    Py_DECREF(sub);
    return (PyObject *)p;
}

static int prep_traverse(PyObject *self, visitproc visit, void *arg)
{
    PrepObject *p = (PrepObject *)self;
    Py_VISIT(p->chan);
    Py_VISIT(p->fallback);
    Py_VISIT(p->dict);
    Py_VISIT(p->dev);
    Py_VISIT(p->acquire);
    Py_VISIT(p->release);
    Py_VISIT(p->locked);
    Py_VISIT(p->lock);
    Py_VISIT(p->append);
    return 0;
}

static int prep_clear(PyObject *self)
{
    PrepObject *p = (PrepObject *)self;
    Py_CLEAR(p->chan);
    Py_CLEAR(p->fallback);
    Py_CLEAR(p->dict);
    Py_CLEAR(p->dev);
    Py_CLEAR(p->acquire);
    Py_CLEAR(p->release);
    Py_CLEAR(p->locked);
    Py_CLEAR(p->lock);
    Py_CLEAR(p->append);
    return 0;
}

static void prep_dealloc(PyObject *self)
{
    PyObject_GC_UnTrack(self);
    if (((PrepObject *)self)->weakreflist != NULL)
        PyObject_ClearWeakRefs(self);
    prep_clear(self);
    Py_TYPE(self)->tp_free(self);
}

static PyObject *prep_call(PyObject *self, PyObject *args, PyObject *kwds)
{
    PrepObject *p = (PrepObject *)self;
    if (p->fallback == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "MemcpyPrep: cleared");
        return NULL;
    }
    return PyObject_Call(p->fallback, args, kwds);
}

static PyObject *prep_get_doc(PyObject *self, void *closure)
{
    (void)closure;
    PrepObject *p = (PrepObject *)self;
    return p->fallback ? PyObject_GetAttrString(p->fallback, "__doc__") : Py_NewRef(Py_None);
}

static PyGetSetDef prep_getset[] = {
    {"__doc__", prep_get_doc, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef prep_members[] = {
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(PrepObject, vectorcall), READONLY, NULL},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(PrepObject, weakreflist), READONLY, NULL},
    {"n_submitted", T_LONGLONG, offsetof(PrepObject, n_submitted), READONLY,
     "How many descriptors the compiled submit has queued on the channel (its n_submitted adds them)."},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject PrepType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "dmaengine._cnative.MemcpyPrep",
    .tp_basicsize = sizeof(PrepObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = prep_new,
    .tp_dealloc = prep_dealloc,
    .tp_traverse = prep_traverse,
    .tp_clear = prep_clear,
    .tp_call = prep_call,
    .tp_vectorcall_offset = offsetof(PrepObject, vectorcall),
    .tp_weaklistoffset = offsetof(PrepObject, weakreflist),
    .tp_getset = prep_getset,
    .tp_members = prep_members,
};

/* --- submit ----------------------------------------------------------------------------------------------- */

/* Set slot i of obj to a new reference to v and hand back the old value (to release once it is safe to run
 * arbitrary code: a user may have stored anything in a prepared descriptor). */
static inline PyObject *slot_swap(PyObject *obj, int i, PyObject *v)
{
    PyObject **p = (PyObject **)((char *)obj + MF.off[i]);
    PyObject *old = *p;
    *p = Py_NewRef(v);
    return old;
}

/* The body of the compiled submit, with the channel's lock held (or free and the GIL held: see desc_submit).
 * Runs no Python code and allocates no object the collector tracks, so the GIL is held throughout; the old
 * slot values go to old[] for the caller to release. Returns the new cookie, or NULL: with an exception set
 * (failed), or without one when the submit is not this path's (a descriptor no longer PREPARED, a channel not
 * accepting: the Python code raises). */
static PyObject *submit_locked(PyObject *self, PrepObject *p, PyObject **old)
{
    if (slot_get(self, S_STATE) != MF.prepared)
        return NULL;
    /* Only exact values, read without running any Python code (a __bool__ or __index__ could let another
     * thread in); anything else is the Python code's. */
    uint64_t cv = DICT_VERSION(p->dict);
    if (cv == 0 || cv != p->sub_version) {
        p->sub_ok = 0;
        PyObject *acc = PyDict_GetItemWithError(p->dict, MF.s_accepting);
        PyObject *c = acc == Py_True ? PyDict_GetItemWithError(p->dict, MF.s_cookie) : NULL;
        if (c == NULL || !PyLong_CheckExact(c))
            return NULL; /* an exception set (a failed look-up) or not: the caller tells */
        int of1 = 0;
        p->cookie_ll = PyLong_AsLongLongAndOverflow(c, &of1);
        if (of1)
            return NULL;
        p->sub_ok = 1;
        p->sub_version = cv;
    }
    if (!p->sub_ok || p->n_submitted == LLONG_MAX)
        return NULL;
    long long cookie = p->cookie_ll;
    /* cookie + 1, wrapped to MIN_COOKIE past MAX_COOKIE (as the Python code), without overflowing */
    cookie = cookie >= MF.max_cookie || cookie < MF.min_cookie - 1 ? MF.min_cookie : cookie + 1;
    PyObject *c = PyLong_FromLongLong(cookie);
    if (c == NULL || PyDict_SetItem(p->dict, MF.s_cookie, c) < 0) {
        Py_XDECREF(c);
        p->sub_version = 0;
        return NULL;
    }
    /* This thread changed only the cookie (the GIL held throughout): what was read stays good at the new
     * version. */
    p->cookie_ll = cookie;
    uint64_t nv = DICT_VERSION(p->dict);
    if (p->prep_version == cv)
        p->prep_version = nv;
    p->sub_version = nv;
    PyObject *a = PyObject_CallOneArg(p->append, self);
    if (a == NULL) {
        Py_DECREF(c);
        return NULL;
    }
    Py_DECREF(a);
    p->n_submitted++; /* vc.n_submitted += 1: the channel's n_submitted adds this count */
    old[0] = slot_swap(self, S_COOKIE, c);
    old[1] = slot_swap(self, S_STATE, MF.submitted);
    old[2] = slot_swap(self, S_RESULT, MF.noerror);
    old[3] = slot_swap(self, S_RESIDUE, MF.zero);
    /* The channel's lists hold it until it completes or is dropped: the collector could not free it meanwhile,
     * so it is not tracked (no young collection traverses every in-flight descriptor). complete_batch (or, for
     * one with a callback, call_back once it has called it back) and track() track it again when the engine
     * lets go of it. */
    if (PyObject_IS_GC(self) && PyObject_GC_IsTracked(self))
        PyObject_GC_UnTrack(self);
    return c;
}

/* MemcpyDescriptor.submit: MemcpyDescriptor.submit's Python code (Descriptor.submit with
 * VirtDescriptor.tx_submit inlined) for a PREPARED descriptor of one of the submit types on an accepting
 * channel that has a MemcpyPrep (its cached state), with no trace recording; anything else (a reused
 * descriptor, an error to raise, a race lost) is Descriptor.submit's.
 *
 * The channel's lock: when it is free, nothing is acquired. Every thread that takes it needs the GIL to touch
 * the channel, and submit_locked keeps the GIL from start to end, so it runs as if it held the lock (a thread
 * blocked in acquire that gets the lock meanwhile waits for the GIL before it touches anything). When the lock
 * is held (a thread inside a ``with vc.lock`` block lost the GIL), it is acquired as usual. */
static PyObject *desc_submit(PyObject *self, PyObject *unused)
{
    (void)unused;
    PyObject *t = (PyObject *)Py_TYPE(self);
    int known = 0;
    if (MF.ready) {
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(MF.submit_types); i++)
            known |= PyTuple_GET_ITEM(MF.submit_types, i) == t;
    }
    if (!known || slot_get(self, S_STATE) != MF.prepared)
        return PyObject_CallOneArg(MF.py_submit, self);
    int tr = tracing();
    if (tr)
        return tr < 0 ? NULL : PyObject_CallOneArg(MF.py_submit, self);
    PyObject *chan = slot_get(self, S_CHAN);
    if (chan == NULL)
        return PyObject_CallOneArg(MF.py_submit, self);
    Py_INCREF(chan);
    PyObject *result = NULL, *r = NULL, *old[4] = {NULL, NULL, NULL, NULL};
    /* The channel's MemcpyPrep (each channel of the engine has one from its start on): the one remembered from
     * the last submit when it is this channel's, else the channel's prep_dma_memcpy when it is one. */
    PyObject *po = MF.last_prep != NULL ? PyWeakref_GetObject(MF.last_prep) : NULL; /* borrowed */
    if (po != NULL && Py_IS_TYPE(po, &PrepType) && ((PrepObject *)po)->chan == chan
        && ((PrepObject *)po)->dict != NULL) {
        Py_INCREF(po);
    } else {
        po = PyObject_GetAttr(chan, MF.s_prep);
        if (po == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_AttributeError))
                goto out_chan;
            PyErr_Clear();
        }
        if (po == NULL || !Py_IS_TYPE(po, &PrepType) || ((PrepObject *)po)->chan != chan
            || ((PrepObject *)po)->dict == NULL) {
            result = PyObject_CallOneArg(MF.py_submit, self);
            goto out;
        }
        PyObject *ref = PyWeakref_NewRef(po, NULL);
        if (ref == NULL)
            goto out;
        Py_XSETREF(MF.last_prep, ref);
    }
    PrepObject *p = (PrepObject *)po;
    int held = 1;
#ifndef Py_GIL_DISABLED
    if (MF.lock_type != NULL && p->lock != NULL && Py_IS_TYPE(p->lock, MF.lock_type)) {
        held = ((LockMirror *)p->lock)->locked != 0; /* what locked() returns, without the call */
    } else {
        r = PyObject_CallNoArgs(p->locked);
        if (r == NULL)
            goto out;
        held = r == Py_False ? 0 : PyObject_IsTrue(r);
        Py_CLEAR(r);
        if (held < 0)
            goto out;
    }
#endif
    if (!held) {
        result = submit_locked(self, p, old);
    } else {
        r = PyObject_CallNoArgs(p->acquire);
        if (r == NULL)
            goto out;
        Py_CLEAR(r);
        /* Under the channel's lock: one of two racing submits wins; release may have begun. */
        result = submit_locked(self, p, old);
        PyObject *exc_type, *exc_value, *exc_tb;
        PyErr_Fetch(&exc_type, &exc_value, &exc_tb);
        r = PyObject_CallNoArgs(p->release);
        if (r == NULL) {
            Py_XDECREF(exc_type);
            Py_XDECREF(exc_value);
            Py_XDECREF(exc_tb);
            Py_CLEAR(result);
            goto out;
        }
        Py_CLEAR(r);
        PyErr_Restore(exc_type, exc_value, exc_tb);
    }
    if (result == NULL && !PyErr_Occurred())
        result = PyObject_CallOneArg(MF.py_submit, self); /* raises the error, as the Python code words it */
out:
    for (int i = 0; i < 4; i++)
        Py_XDECREF(old[i]);
    Py_XDECREF(po);
out_chan:
    Py_DECREF(chan);
    return result;
}

static PyMethodDef submit_def = {
    "submit", desc_submit, METH_NOARGS,
    "``dmaengine_submit``: queue the descriptor and return its cookie (Descriptor.submit, compiled for the "
    "memory engine)."};

static PyObject *submit_descriptor(PyObject *self, PyObject *type)
{
    (void)self;
    if (!PyType_Check(type)) {
        PyErr_Format(PyExc_TypeError, "submit_descriptor takes a class, not %R", type);
        return NULL;
    }
    return PyDescr_NewMethod((PyTypeObject *)type, &submit_def);
}

/* --- the worker's small copies ---------------------------------------------------------------------------- */

typedef struct {
    long long lo, hi, ptr;
    PyObject *tuple; /* the (lo, hi, view, ptr) it came from, or NULL once replaced */
    PyObject *map;   /* the mapping it was replaced from (new reference), or NULL */
} Hot;

static int hot_from_tuple(Hot *h, PyObject *t)
{
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 4) {
        PyErr_SetString(PyExc_TypeError, "copy_many: hot mappings are (lo, hi, view, ptr) tuples");
        return -1;
    }
    h->lo = PyLong_AsLongLong(PyTuple_GET_ITEM(t, 0));
    h->hi = PyLong_AsLongLong(PyTuple_GET_ITEM(t, 1));
    h->ptr = PyLong_AsLongLong(PyTuple_GET_ITEM(t, 3));
    h->tuple = t;
    h->map = NULL;
    return PyErr_Occurred() ? -1 : 0;
}

static int hot_from_map(Hot *h, PyObject *m)
{
    long long lo, hi, ptr;
    if (attr_ll(m, MF.s_addr, &lo) < 0 || attr_ll(m, MF.s_end, &hi) < 0 || attr_ll(m, MF.s_ptr, &ptr) < 0)
        return -1;
    h->lo = lo;
    h->hi = hi;
    h->ptr = ptr;
    Py_XSETREF(h->map, Py_NewRef(m));
    return 0;
}

static PyObject *hot_tuple(Hot *h)
{
    if (h->map == NULL)
        return Py_NewRef(h->tuple);
    PyObject *mv = PyObject_GetAttr(h->map, MF.s_mv);
    if (mv == NULL)
        return NULL;
    PyObject *t = Py_BuildValue("(LLNL)", h->lo, h->hi, mv, h->ptr);
    return t;
}

/* copy_many(ops, find, hot_src, hot_dst) -> (faults, hot_src, hot_dst), or None.
 *
 * AddressSpace.copy_many for descriptors of the memory engine's type (their dst, src and length slots exact
 * ints): each op is resolved against the remembered mappings or through ``find`` (AddressSpace._find; an
 * exception it raises is that op's fault and the op moves nothing), then every resolved op is copied in order
 * (with the GIL released when they add up to RELEASE_GIL_BYTES). ``faults`` is None or a list with the fault of
 * each failed op. None (nothing done) when an op is not such a descriptor: the caller runs its Python loop.
 * Caller holds the address space's lock. */
static PyObject *copy_many(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *ops, *find, *hs_t, *hd_t;
    if (!PyArg_ParseTuple(args, "O!OOO:copy_many", &PyList_Type, &ops, &find, &hs_t, &hd_t))
        return NULL;
    if (!MF.ready)
        Py_RETURN_NONE;
    Py_ssize_t n = PyList_GET_SIZE(ops);
    /* The values are read once, before any Python code runs (``find`` may run some): dp, sp and lp hold the
     * addresses and lengths of the ops, then (from index k <= i on) the pointers of the resolved ones. */
    int64_t *dp = PyMem_Malloc(sizeof(int64_t) * 3 * (size_t)(n ? n : 1));
    if (dp == NULL)
        return PyErr_NoMemory();
    int64_t *sp = dp + n, *lp = dp + 2 * n;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *op = PyList_GET_ITEM(ops, i);
        if (!PyObject_TypeCheck(op, MF.desc_type)) {
            PyMem_Free(dp);
            Py_RETURN_NONE;
        }
        /* exact ints in range, read from their digits (no PyLong_AsLongLong, slow for a two-digit int) */
        dp[i] = plain_int(slot_get(op, S_DST), (int64_t)1 << 62);
        sp[i] = plain_int(slot_get(op, S_SRC), (int64_t)1 << 62);
        lp[i] = plain_int(slot_get(op, S_LENGTH), (int64_t)1 << 62);
        if (dp[i] < 0 || sp[i] < 0 || lp[i] < 1) {
            PyMem_Free(dp);
            Py_RETURN_NONE;
        }
    }
    Hot hs, hd;
    if (hot_from_tuple(&hs, hs_t) < 0 || hot_from_tuple(&hd, hd_t) < 0) {
        PyMem_Free(dp);
        return NULL;
    }
    Py_ssize_t k = 0;
    int64_t total = 0;
    PyObject *faults = NULL, *result = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        long long dst = dp[i], src = sp[i], len = lp[i];
        int bad = 0;
        if (!(hs.lo <= src && src + len <= hs.hi)) {
            PyObject *m = PyObject_CallFunction(find, "LLO", src, len, Py_False);
            if (m == NULL || hot_from_map(&hs, m) < 0)
                bad = 1;
            Py_XDECREF(m);
        }
        if (!bad && !(hd.lo <= dst && dst + len <= hd.hi)) {
            PyObject *m = PyObject_CallFunction(find, "LLO", dst, len, Py_True);
            if (m == NULL || hot_from_map(&hd, m) < 0)
                bad = 1;
            Py_XDECREF(m);
        }
        if (bad) {
            if (!PyErr_ExceptionMatches(PyExc_Exception))
                goto done;
            PyObject *et, *ev, *tb;
            PyErr_Fetch(&et, &ev, &tb);
            PyErr_NormalizeException(&et, &ev, &tb);
            if (tb != NULL)
                PyException_SetTraceback(ev, tb);
            Py_XDECREF(et);
            Py_XDECREF(tb);
            if (faults == NULL) {
                faults = PyList_New(n);
                if (faults == NULL) {
                    Py_XDECREF(ev);
                    goto done;
                }
                for (Py_ssize_t j = 0; j < n; j++)
                    PyList_SET_ITEM(faults, j, Py_NewRef(Py_None));
            }
            PyList_SetItem(faults, i, ev != NULL ? ev : Py_NewRef(Py_None)); /* steals it */
            continue;
        }
        dp[k] = hd.ptr + (dst - hd.lo);
        sp[k] = hs.ptr + (src - hs.lo);
        lp[k] = len;
        total += len;
        k++;
    }
    if (total >= RELEASE_GIL_BYTES) {
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < k; i++)
            memmove((void *)(intptr_t)dp[i], (const void *)(intptr_t)sp[i], (size_t)lp[i]);
        Py_END_ALLOW_THREADS
    } else {
        for (Py_ssize_t i = 0; i < k; i++)
            memmove((void *)(intptr_t)dp[i], (const void *)(intptr_t)sp[i], (size_t)lp[i]);
    }
    PyObject *hs_new = hot_tuple(&hs), *hd_new = hs_new ? hot_tuple(&hd) : NULL;
    if (hs_new != NULL && hd_new != NULL)
        result = PyTuple_Pack(3, faults ? faults : Py_None, hs_new, hd_new);
    Py_XDECREF(hs_new);
    Py_XDECREF(hd_new);
done:
    Py_XDECREF(hs.map);
    Py_XDECREF(hd.map);
    Py_XDECREF(faults);
    PyMem_Free(dp);
    return result;
}

/* --- completion ------------------------------------------------------------------------------------------- */

/* Track a descriptor the compiled submit untracked (a no-op for one that is tracked or not a GC object). */
static inline void track_one(PyObject *vd)
{
    if (PyObject_IS_GC(vd) && !PyObject_GC_IsTracked(vd))
        PyObject_GC_Track(vd);
}

/* track(vds): the engine lets go of these descriptors without completing them (terminate, release): the
 * collector tracks them again, as it did before submit. */
static PyObject *track(PyObject *self, PyObject *vds)
{
    (void)self;
    PyObject *it = PyObject_GetIter(vds);
    if (it == NULL)
        return NULL;
    PyObject *vd;
    while ((vd = PyIter_Next(it)) != NULL) {
        track_one(vd);
        Py_DECREF(vd);
    }
    Py_DECREF(it);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

/* complete_batch(chan, vds): VirtChannel.vchan_cookie_complete_batch without its trace hook (the caller
 * checks that no trace records), for descriptors of the memory engine's type. Caller holds ``vc.lock``. */
static PyObject *complete_batch(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *chan, *vds, *issued = Py_None;
    if (!PyArg_ParseTuple(args, "OO!|O:complete_batch", &chan, &PyList_Type, &vds, &issued))
        return NULL;
    if (!MF.ready) {
        PyErr_SetString(PyExc_RuntimeError, "complete_batch: memcpy_setup was not called");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(vds);
    if (n == 0)
        Py_RETURN_NONE;
    Py_ssize_t left = issued != Py_None ? PyObject_Length(issued) : 0;
    if (left < 0)
        return NULL;
    if (issued != Py_None && left == n) { /* the whole issued list: cleared in one call */
        PyObject *r = PyObject_CallMethodNoArgs(issued, MF.s_clear);
        if (r == NULL)
            return NULL;
        Py_DECREF(r);
    } else if (issued != Py_None) { /* take them off the issued list first (they are its first n) */
        PyObject *popleft = PyObject_GetAttr(issued, MF.s_popleft);
        if (popleft == NULL)
            return NULL;
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *r = PyObject_CallNoArgs(popleft);
            if (r == NULL) {
                Py_DECREF(popleft);
                return NULL;
            }
            Py_DECREF(r);
        }
        Py_DECREF(popleft);
    }
    PyObject *errors = PyObject_GetAttr(chan, MF.s_errors);
    PyObject *completed = errors ? PyObject_GetAttr(chan, MF.s_desc_completed) : NULL;
    PyObject *append = completed ? PyObject_GetAttr(completed, MF.s_append) : NULL, *with_cb = NULL;
    PyObject *ret = NULL, *cookie = NULL, *nbytes = NULL;
    if (append == NULL)
        goto done;
    long long nerr = 0;
    int64_t fast_bytes = 0;
    nbytes = PyLong_FromLong(0);
    if (nbytes == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *vd = PyList_GET_ITEM(vds, i);
        PyObject *c = vget(vd, S_COOKIE);
        if (c == NULL)
            goto done;
        Py_XSETREF(cookie, c);
        if (vset(vd, S_COOKIE, MF.zero) < 0 || vset(vd, S_STATE, MF.done_state) < 0)
            goto done;
        PyObject *res = vget(vd, S_RESULT);
        if (res == NULL)
            goto done;
        int bad = res == MF.noerror ? 0 : PyObject_IsTrue(res);
        if (bad > 0) {
            bad = PyObject_SetItem(errors, cookie, res) < 0 ? -1 : 1;
            nerr++;
        }
        Py_DECREF(res);
        if (bad < 0)
            goto done;
        if (!bad) {
            PyObject *len = vget(vd, S_LENGTH);
            if (len == NULL)
                goto done;
            /* Sum small lengths in C (no int object per descriptor); anything else as Python adds it. */
            int64_t k = plain_int(len, (int64_t)1 << 62);
            if (k >= 0 && fast_bytes < ((int64_t)1 << 62)) {
                fast_bytes += k;
            } else {
                PyObject *sum = PyNumber_Add(nbytes, len);
                if (sum == NULL) {
                    Py_DECREF(len);
                    goto done;
                }
                Py_SETREF(nbytes, sum);
            }
            Py_DECREF(len);
        }
        PyObject *cbr = vget(vd, S_CALLBACK_RESULT), *cb = cbr ? vget(vd, S_CALLBACK) : NULL;
        int has = cb != NULL && (cbr != Py_None || cb != Py_None);
        Py_XDECREF(cbr);
        Py_XDECREF(cb);
        if (cb == NULL)
            goto done;
        if (has) { /* stays untracked until the bottom half has called it back (call_back tracks it) */
            if (with_cb == NULL && (with_cb = PyList_New(0)) == NULL)
                goto done;
            if (PyList_Append(with_cb, vd) < 0)
                goto done;
        } else {
            track_one(vd);
        }
    }
    if (with_cb != NULL) { /* the bottom half's share, in one call */
        PyObject *a = PyObject_CallMethodOneArg(completed, MF.s_extend, with_cb);
        if (a == NULL)
            goto done;
        Py_DECREF(a);
    }
    if (PyObject_SetAttr(chan, MF.s_completed_cookie, cookie) < 0)
        goto done;
    if (nerr) {
        Py_ssize_t len;
        while ((len = PyObject_Length(errors)) > MF.errors_kept) {
            PyObject *r = PyObject_CallMethod(errors, "popitem", "O", Py_False);
            if (r == NULL)
                goto done;
            Py_DECREF(r);
        }
        if (len < 0 || add_attr_ll(chan, MF.s_n_errors, nerr) < 0)
            goto done;
    }
    if (add_attr_ll(chan, MF.s_n_memcpy, n - nerr) < 0)
        goto done;
    {
        PyObject *old = PyObject_GetAttr(chan, MF.s_n_bytes);
        if (fast_bytes) {
            PyObject *fb = PyLong_FromLongLong(fast_bytes);
            PyObject *t = fb ? PyNumber_Add(nbytes, fb) : NULL;
            Py_XDECREF(fb);
            if (t == NULL) {
                Py_XDECREF(old);
                goto done;
            }
            Py_SETREF(nbytes, t);
        }
        PyObject *sum = old ? PyNumber_Add(old, nbytes) : NULL;
        Py_XDECREF(old);
        int r = sum ? PyObject_SetAttr(chan, MF.s_n_bytes, sum) : -1;
        Py_XDECREF(sum);
        if (r < 0)
            goto done;
    }
    if (add_attr_ll(chan, MF.s_n_completed, n) < 0)
        goto done;
    int any = PyObject_IsTrue(completed);
    if (any < 0)
        goto done;
    if (any) {
        PyObject *dev = PyObject_GetAttr(chan, MF.s_device);
        PyObject *r = dev ? PyObject_CallMethodOneArg(dev, MF.s_schedule_bottom_half, chan) : NULL;
        Py_XDECREF(dev);
        if (r == NULL)
            goto done;
        Py_DECREF(r);
    }
    {
        PyObject *wq = PyObject_GetAttr(chan, MF.s_waitq);
        PyObject *r = wq ? PyObject_CallMethodNoArgs(wq, MF.s_wake) : NULL;
        Py_XDECREF(wq);
        if (r == NULL)
            goto done;
        Py_DECREF(r);
    }
    ret = Py_NewRef(Py_None);
done:
    if (ret == NULL) { /* failed part way: the collector sees them all again, as before submit */
        for (Py_ssize_t i = 0; i < n; i++)
            track_one(PyList_GET_ITEM(vds, i));
    }
    Py_XDECREF(cookie);
    Py_XDECREF(nbytes);
    Py_XDECREF(append);
    Py_XDECREF(with_cb);
    Py_XDECREF(completed);
    Py_XDECREF(errors);
    return ret;
}

/* cb(param). An instance of a class that defines __call__ as a Python function is called as CPython's
 * slot_tp_call calls it (the function looked up on the type, called with the instance first), but without the
 * argument tuple that the generic call builds for a type without vectorcall. */
static PyObject *call_one(PyObject *cb, PyObject *param)
{
    PyTypeObject *t = Py_TYPE(cb);
    if (t->tp_call != NULL && t->tp_call == MF.slot_call) {
        PyObject *f = _PyType_Lookup(t, MF.s_call); /* borrowed */
        if (f != NULL && PyFunction_Check(f)) {
            Py_INCREF(f); /* the call may replace the class attribute */
            PyObject *args[2] = {cb, param};
            PyObject *r = PyObject_Vectorcall(f, args, 2, NULL);
            Py_DECREF(f);
            return r;
        }
    }
    return PyObject_CallOneArg(cb, param);
}

/* call_back(done, on_error): the bottom half's loop over completed descriptors (VirtChannel.bottom_half, no
 * trace): callback_result(callback_param, TxResult(result, residue)) when set, else callback(callback_param).
 * A callback that raises does not stop the loop: on_error(vd, exception) is called at once (it logs and
 * counts), then the next one runs. */
static PyObject *call_back(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *done, *on_error;
    if (!PyArg_ParseTuple(args, "OO:call_back", &done, &on_error))
        return NULL;
    if (!MF.ready) {
        PyErr_SetString(PyExc_RuntimeError, "call_back: memcpy_setup was not called");
        return NULL;
    }
    PyObject *it = PyObject_GetIter(done);
    if (it == NULL)
        return NULL;
    PyObject *vd;
    while ((vd = PyIter_Next(it)) != NULL) {
        /* complete_batch left it untracked while it waited for its callback (no young collection traverses
         * the descriptors waiting for the bottom half); the collector sees it again from here on */
        track_one(vd);
        PyObject *r = NULL;
        PyObject *cbr = vget(vd, S_CALLBACK_RESULT), *param = cbr ? vget(vd, S_CALLBACK_PARAM) : NULL;
        if (param == NULL) {
            Py_XDECREF(cbr);
        } else if (cbr != Py_None) {
            PyObject *res = vget(vd, S_RESULT), *resid = res ? vget(vd, S_RESIDUE) : NULL;
            PyObject *txr = NULL;
            if (resid != NULL) {
                PyObject *tr_args[2] = {res, resid};
                txr = PyObject_Vectorcall(MF.tx_result, tr_args, 2, NULL);
            }
            Py_XDECREF(res);
            Py_XDECREF(resid);
            if (txr != NULL) {
                PyObject *cargs[2] = {param, txr};
                r = PyObject_Vectorcall(cbr, cargs, 2, NULL);
                Py_DECREF(txr);
            }
            Py_DECREF(cbr);
            Py_DECREF(param);
        } else {
            Py_DECREF(cbr);
            PyObject *cb = vget(vd, S_CALLBACK);
            if (cb != NULL && cb != Py_None)
                r = call_one(cb, param);
            else if (cb != NULL)
                r = Py_NewRef(Py_None);
            Py_XDECREF(cb);
            Py_DECREF(param);
        }
        if (r == NULL) {
            /* Like ``except BaseException`` in VirtChannel.bottom_half: report it, go on with the next. */
            PyObject *et, *ev, *tb;
            PyErr_Fetch(&et, &ev, &tb);
            PyErr_NormalizeException(&et, &ev, &tb);
            if (tb != NULL && ev != NULL)
                PyException_SetTraceback(ev, tb);
            PyObject *eargs[2] = {vd, ev ? ev : Py_None};
            r = PyObject_Vectorcall(on_error, eargs, 2, NULL);
            Py_XDECREF(et);
            Py_XDECREF(ev);
            Py_XDECREF(tb);
            if (r == NULL) {
                Py_DECREF(vd);
                PyErr_Fetch(&et, &ev, &tb);
                while ((vd = PyIter_Next(it)) != NULL) { /* the rest go uncalled: tracked again all the same */
                    track_one(vd);
                    Py_DECREF(vd);
                }
                PyErr_Restore(et, ev, tb);
                Py_DECREF(it);
                return NULL;
            }
        }
        Py_DECREF(r);
        Py_DECREF(vd);
    }
    Py_DECREF(it);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *reads_lock_field(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyBool_FromLong(MF.lock_type != NULL);
}

static PyMethodDef memcpy_methods[] = {
    {"memcpy_fast_dealloc", fast_dealloc, METH_NOARGS,
     "memcpy_fast_dealloc() -> True when MemcpyDescriptor instances are freed by the compiled dealloc."},
    {"memcpy_reads_lock_field", reads_lock_field, METH_NOARGS,
     "memcpy_reads_lock_field() -> True when the compiled submit reads a channel lock's locked field itself "
     "(_thread.lock laid out as checked at memcpy_setup), False when it calls locked()."},
    {"copy_ops", copy_ops, METH_VARARGS,
     "copy_ops(dst, src, lengths[, dst_shift, src_shift]): memmove(dst[i] + dst_shift, src[i] + src_shift, "
     "lengths[i]) in order; int64 arrays of pointers and byte counts already checked by the caller."},
    {"total", total, METH_O, "total(lengths) -> the sum of an int64 array."},
    {"span", span, METH_VARARGS, "span(dst, src, lengths) -> (src_lo, src_hi, dst_lo, dst_hi) of a burst."},
    {"copy_in", (PyCFunction)(void (*)(void))copy_in, METH_FASTCALL,
     "copy_in(dst, src, lengths, src_lo, src_hi, dst_lo, dst_hi, dst_shift, src_shift) -> None when copied inside "
     "those bounds, else the burst's span (nothing copied)."},
    {"sg_pieces", (PyCFunction)(void (*)(void))sg_pieces, METH_FASTCALL,
     "sg_pieces(dst_sgl, src_sgl, addr_slot, length_slot, out, max_piece, max_addr) -> pieces written, or -1."},
    {"sg_pair", (PyCFunction)(void (*)(void))sg_pair, METH_FASTCALL,
     "sg_pair(dst_sgl, src_sgl, addr_slot, length_slot, out, max_piece, max_addr) -> (pieces, total), or None."},
    {"memcpy_setup", memcpy_setup, METH_VARARGS,
     "memcpy_setup(desc_type, submit_types, slots, consts): wire the compiled per-descriptor path (once)."},
    {"submit_descriptor", submit_descriptor, METH_O,
     "submit_descriptor(cls) -> a method descriptor: the compiled submit for cls and its subclasses."},
    {"copy_many", copy_many, METH_VARARGS,
     "copy_many(ops, find, hot_src, hot_dst) -> (faults, hot_src, hot_dst), or None for ops it does not take."},
    {"complete_batch", complete_batch, METH_VARARGS,
     "complete_batch(chan, vds[, issued]): vchan_cookie_complete_batch (no trace) for memory engine descriptors, "
     "after taking len(vds) descriptors off the left of issued (when given)."},
    {"track", track, METH_O,
     "track(vds): the cycle collector tracks these descriptors again (the compiled submit untracks them)."},
    {"call_back", call_back, METH_VARARGS,
     "call_back(done, on_error): run the callbacks of completed descriptors in order."},
    {NULL, NULL, 0, NULL},
};

int dmaengine_memcpy_init(PyObject *module)
{
    if (PyType_Ready(&PrepType) < 0)
        return -1;
    if (PyModule_AddObjectRef(module, "MemcpyPrep", (PyObject *)&PrepType) < 0)
        return -1;
    return PyModule_AddFunctions(module, memcpy_methods);
}
