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

static PyMethodDef memcpy_methods[] = {
    {"copy_ops", copy_ops, METH_VARARGS,
     "copy_ops(dst, src, lengths): memmove(dst[i], src[i], lengths[i]) in order; int64 arrays of pointers and "
     "byte counts already checked by the caller."},
    {NULL, NULL, 0, NULL},
};

int dmaengine_memcpy_init(PyObject *module)
{
    return PyModule_AddFunctions(module, memcpy_methods);
}
