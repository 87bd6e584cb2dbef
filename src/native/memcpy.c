/* The memory engine's compiled hot path (drivers/memcpy.py, _memory.AddressSpace.copy_burst).
 *
 * copy_ops(dst, src, lengths): memmove(dst[i], src[i], lengths[i]) for every i, in order. The three arguments
 * are C-contiguous buffers of int64 of one length: absolute pointers and byte counts that the caller has
 * resolved and checked against the live mappings (under the address space's lock, which it holds throughout).
 * The GIL is released when the ops move enough bytes to be worth it. The pure-Python loop in copy_burst is the
 * specification: same order, same bytes.
 */
#include "native.h"

#include <stdint.h>
#include <string.h>

#include "structmember.h"

#ifndef Py_T_OBJECT_EX
#define Py_T_OBJECT_EX T_OBJECT_EX
#endif

/* Below this many bytes in all, keep the GIL: releasing and taking it back costs more than the copies. */
#define RELEASE_GIL_BYTES (256 * 1024)

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

static PyObject *copy_ops(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *dst_obj, *src_obj, *len_obj;
    if (!PyArg_ParseTuple(args, "OOO:copy_ops", &dst_obj, &src_obj, &len_obj))
        return NULL;
    Py_buffer dst, src, len;
    if (get_i64(dst_obj, &dst, "dst") < 0)
        return NULL;
    if (get_i64(src_obj, &src, "src") < 0) {
        PyBuffer_Release(&dst);
        return NULL;
    }
    if (get_i64(len_obj, &len, "lengths") < 0) {
        PyBuffer_Release(&dst);
        PyBuffer_Release(&src);
        return NULL;
    }
    Py_ssize_t n = len.len / 8;
    PyObject *result = NULL;
    if (dst.len / 8 != n || src.len / 8 != n) {
        PyErr_SetString(PyExc_ValueError, "copy_ops: dst, src and lengths must have one length");
        goto done;
    }
    const int64_t *d = (const int64_t *)dst.buf, *s = (const int64_t *)src.buf, *l = (const int64_t *)len.buf;
    int64_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (l[i] < 0) {
            PyErr_Format(PyExc_ValueError, "copy_ops: lengths[%zd] is negative", i);
            goto done;
        }
        total += l[i];
    }
    if (total >= RELEASE_GIL_BYTES) {
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < n; i++)
            memmove((void *)(intptr_t)d[i], (const void *)(intptr_t)s[i], (size_t)l[i]);
        Py_END_ALLOW_THREADS
    } else {
        for (Py_ssize_t i = 0; i < n; i++)
            memmove((void *)(intptr_t)d[i], (const void *)(intptr_t)s[i], (size_t)l[i]);
    }
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
    if (get_i64(dst_obj, &dst, "dst") < 0)
        return NULL;
    if (get_i64(src_obj, &src, "src") < 0) {
        PyBuffer_Release(&dst);
        return NULL;
    }
    if (get_i64(len_obj, &len, "lengths") < 0) {
        PyBuffer_Release(&dst);
        PyBuffer_Release(&src);
        return NULL;
    }
    Py_ssize_t n = len.len / 8;
    PyObject *result = NULL;
    if (n == 0 || dst.len / 8 != n || src.len / 8 != n) {
        PyErr_SetString(PyExc_ValueError, "span: dst, src and lengths must have one non-zero length");
        goto done;
    }
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

/* An exact int in [0, limit) as int64, or -1 (no exception set) for anything else. */
static int64_t plain_int(PyObject *v, int64_t limit)
{
    if (v == NULL || !PyLong_CheckExact(v))
        return -1;
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow || x < 0 || x >= limit) {
        if (x == -1 && PyErr_Occurred())
            PyErr_Clear();
        return -1;
    }
    return (int64_t)x;
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
static PyObject *sg_pieces(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *dsl, *ssl, *addr_descr, *len_descr, *out_obj;
    long long max_piece, max_addr;
    if (!PyArg_ParseTuple(args, "OOOOOLL:sg_pieces", &dsl, &ssl, &addr_descr, &len_descr, &out_obj, &max_piece,
                          &max_addr))
        return NULL;
    PyTypeObject *owner = NULL, *owner2 = NULL;
    Py_ssize_t a_off = slot_offset(addr_descr, &owner), l_off = slot_offset(len_descr, &owner2);
    if (a_off < 0 || l_off < 0)
        return NULL;
    if (!(PyList_CheckExact(dsl) || PyTuple_CheckExact(dsl)) || !(PyList_CheckExact(ssl) || PyTuple_CheckExact(ssl)))
        return PyLong_FromLong(-1);
    Py_ssize_t nd = PySequence_Fast_GET_SIZE(dsl), ns = PySequence_Fast_GET_SIZE(ssl);
    Py_buffer out;
    if (get_i64(out_obj, &out, "out") < 0)
        return NULL;
    if (out.len / 8 != 3 * (nd + ns)) {
        PyBuffer_Release(&out);
        PyErr_SetString(PyExc_ValueError, "sg_pieces: out must hold 3 x (len(dst_sgl) + len(src_sgl)) int64");
        return NULL;
    }
    int64_t *od = (int64_t *)out.buf, *os_ = od + (nd + ns), *on = od + 2 * (nd + ns);
    PyObject **dv = PySequence_Fast_ITEMS(dsl), **sv = PySequence_Fast_ITEMS(ssl);
    Py_ssize_t k = -1;
    if (nd == 0 || ns == 0)
        goto done;
    Py_ssize_t i = 0, j = 0;
    int64_t da = 0, dl = 0, sa = 0, sl = 0; /* what is left of the current entries */
    int need_d = 1, need_s = 1;
    k = 0;
    for (;;) {
        if (need_d) {
            if (i == nd)
                break;
            PyObject *e = dv[i++];
            if (Py_TYPE(e) != owner) {
                k = -1;
                goto done;
            }
            da = plain_int(SLOT(e, a_off), max_addr);
            dl = plain_int(SLOT(e, l_off), max_addr);
            if (da < 0 || dl < 1) {
                k = -1;
                goto done;
            }
            need_d = 0;
        }
        if (need_s) {
            if (j == ns)
                break;
            PyObject *e = sv[j++];
            if (Py_TYPE(e) != owner) {
                k = -1;
                goto done;
            }
            sa = plain_int(SLOT(e, a_off), max_addr);
            sl = plain_int(SLOT(e, l_off), max_addr);
            if (sa < 0 || sl < 1) {
                k = -1;
                goto done;
            }
            need_s = 0;
        }
        int64_t n = dl < sl ? dl : sl;
        if (n > max_piece || da >= max_addr || sa >= max_addr) {
            k = -1;
            goto done;
        }
        od[k] = da;
        os_[k] = sa;
        on[k] = n;
        k++;
        da += n;
        sa += n;
        dl -= n;
        sl -= n;
        need_d = dl == 0;
        need_s = sl == 0;
    }
    /* Both lists must end together: the same total. */
    if (!(need_d && need_s && i == nd && j == ns))
        k = -1;
done:
    PyBuffer_Release(&out);
    return PyLong_FromSsize_t(k);
}

static PyMethodDef memcpy_methods[] = {
    {"copy_ops", copy_ops, METH_VARARGS,
     "copy_ops(dst, src, lengths): memmove(dst[i], src[i], lengths[i]) in order; int64 arrays of pointers and "
     "byte counts already checked by the caller."},
    {"span", span, METH_VARARGS, "span(dst, src, lengths) -> (src_lo, src_hi, dst_lo, dst_hi) of a burst."},
    {"sg_pieces", sg_pieces, METH_VARARGS,
     "sg_pieces(dst_sgl, src_sgl, addr_slot, length_slot, out, max_piece, max_addr) -> pieces written, or -1."},
    {NULL, NULL, 0, NULL},
};

int dmaengine_memcpy_init(PyObject *module)
{
    return PyModule_AddFunctions(module, memcpy_methods);
}
