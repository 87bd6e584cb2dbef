/* A copy lane's bytes: Dmac._sched_move of a memory-to-memory lane, for the schedule's take_moves / take_move
 * (sim.c), without the Python frames of Dmac._sched_move_at, Dmac._sched_move and AddressSpace.copy.
 *
 * A copy mover is Dmac._sched_mover's tuple (ch, prog, idx, dst_mapping, dst_off, src_mapping, src_off, length)
 * for a channel whose copy item idx found its memory when its lane was planned (Dmac._lane_memory): the mappings
 * that hold the item's destination and source, the item's offsets in them (dst - mapping.addr, may be below 0
 * when the lane began past the item's start) and its length. The move is AddressSpace.copy(item.dst + off, item.src + off, n) of the
 * specification, line by line: the same bytes (a memmove: the two spans may lie in one buffer), then item_off and
 * done advance by n. It is done only while the channel still holds that program at item idx, both mappings are live
 * (an unmap settles the schedule first: this is the guard, not the rule) and the spans lie inside their buffers;
 * otherwise 0 says "not mine" and the caller runs the Python move (which raises what it raises). The GIL is held
 * throughout (AddressSpace.copy lets it go for long copies and pins the mappings meanwhile: an unmap from another
 * thread then waits; here it cannot run at all). */
#include "native.h"

#include <string.h>

static PyObject *s_prog, *s_item_idx, *s_item_off, *s_done, *s_live, *s_mv;

/* 1 when mover is a well-formed copy mover, -1 with a TypeError naming it when it is an 8-tuple that is not one. */
int dmaengine_copy_mover_check(PyObject *mover)
{
    if (!PyTuple_CheckExact(mover) || PyTuple_GET_SIZE(mover) != 8 || !PyLong_CheckExact(PyTuple_GET_ITEM(mover, 2))
            || !PyLong_CheckExact(PyTuple_GET_ITEM(mover, 4)) || !PyLong_CheckExact(PyTuple_GET_ITEM(mover, 6))
            || !PyLong_CheckExact(PyTuple_GET_ITEM(mover, 7))) {
        PyErr_Format(PyExc_TypeError, "take_moves: a copy mover must be (ch, prog, item index int, dst mapping, "
                     "dst offset int, src mapping, src offset int, length int), not %R", mover);
        return -1;
    }
    return 1;
}

/* The int attribute name of o as a Py_ssize_t: 0, 1 when it is not an exact int that fits, -1 on an error. */
static int get_ssize(PyObject *o, PyObject *name, Py_ssize_t *out)
{
    PyObject *v = PyObject_GetAttr(o, name);
    if (v == NULL)
        return -1;
    int r = 0;
    if (!PyLong_CheckExact(v)) {
        r = 1;
    } else {
        *out = PyLong_AsSsize_t(v);
        if (*out == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            r = 1;
        }
    }
    Py_DECREF(v);
    return r;
}

/* 1 when attribute name of o is want, 0 when not, -1 on an error. */
static int attr_is(PyObject *o, PyObject *name, PyObject *want)
{
    PyObject *v = PyObject_GetAttr(o, name);
    if (v == NULL)
        return -1;
    int r = v == want;
    Py_DECREF(v);
    return r;
}

/* The buffer of mapping m's _mv into view (writable when write): 1, 0 when it is not a live mapping's contiguous
 * byte buffer (nothing held), -1 on an error. */
static int mapping_buffer(PyObject *m, int write, Py_buffer *view)
{
    int r = attr_is(m, s_live, Py_True);
    if (r <= 0)
        return r;
    PyObject *mv = PyObject_GetAttr(m, s_mv);
    if (mv == NULL)
        return -1;
    if (!PyMemoryView_Check(mv)) {
        Py_DECREF(mv);
        return 0;
    }
    r = PyObject_GetBuffer(mv, view, write ? PyBUF_WRITABLE : PyBUF_SIMPLE);
    Py_DECREF(mv);
    if (r < 0) {  /* (released, or read-only where a write is asked): not this path's case */
        PyErr_Clear();
        return 0;
    }
    return 1;
}

/* Move n bytes of the copy lane of mover (checked by dmaengine_copy_mover_check): 1 when done, 0 when it is not
 * this path's case (nothing changed: the caller runs the Python move), -1 on an error. */
int dmaengine_copy_move(PyObject *mover, int64_t n)
{
    PyObject *ch = PyTuple_GET_ITEM(mover, 0), *prog = PyTuple_GET_ITEM(mover, 1);
    PyObject *dm = PyTuple_GET_ITEM(mover, 3), *sm = PyTuple_GET_ITEM(mover, 5);
    Py_ssize_t want = PyLong_AsSsize_t(PyTuple_GET_ITEM(mover, 2));
    Py_ssize_t dst_off = PyLong_AsSsize_t(PyTuple_GET_ITEM(mover, 4));
    Py_ssize_t src_off = PyLong_AsSsize_t(PyTuple_GET_ITEM(mover, 6));
    Py_ssize_t length = PyLong_AsSsize_t(PyTuple_GET_ITEM(mover, 7));
    if (PyErr_Occurred()) {  /* (an offset past Py_ssize_t) */
        PyErr_Clear();
        return 0;
    }
    int r = attr_is(ch, s_prog, prog);
    if (r <= 0)
        return r;
    Py_ssize_t idx, off, done;
    if ((r = get_ssize(ch, s_item_idx, &idx)) != 0 || (r = get_ssize(ch, s_item_off, &off)) != 0
            || (r = get_ssize(ch, s_done, &done)) != 0)
        return r < 0 ? -1 : 0;
    if (idx != want || n < 0 || off < 0 || n > length || off > length - n || done > PY_SSIZE_T_MAX - n)
        return 0;
    Py_ssize_t d = dst_off + off, s = src_off + off;  /* (|offsets| < 2**62 where a mapping's address fits) */
    if (d < 0 || s < 0)
        return 0;
    Py_buffer dv, sv;
    if ((r = mapping_buffer(dm, 1, &dv)) <= 0)
        return r;
    if ((r = mapping_buffer(sm, 0, &sv)) <= 0) {
        PyBuffer_Release(&dv);
        return r;
    }
    if (d > dv.len - n || s > sv.len - n) {
        PyBuffer_Release(&sv);
        PyBuffer_Release(&dv);
        return 0;
    }
    memmove((char *)dv.buf + d, (const char *)sv.buf + s, (size_t)n);
    PyBuffer_Release(&sv);
    PyBuffer_Release(&dv);
    PyObject *o = PyLong_FromSsize_t(off + (Py_ssize_t)n);
    if (o == NULL)
        return -1;
    r = PyObject_SetAttr(ch, s_item_off, o);
    Py_DECREF(o);
    if (r < 0)
        return -1;
    o = PyLong_FromSsize_t(done + (Py_ssize_t)n);
    if (o == NULL)
        return -1;
    r = PyObject_SetAttr(ch, s_done, o);
    Py_DECREF(o);
    return r < 0 ? -1 : 1;
}

int dmaengine_copy_init(PyObject *module)
{
    (void)module;
    struct {
        PyObject **s;
        const char *name;
    } names[] = {{&s_prog, "prog"}, {&s_item_idx, "item_idx"}, {&s_item_off, "item_off"}, {&s_done, "done"},
                 {&s_live, "_live"}, {&s_mv, "_mv"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (*names[i].s == NULL && (*names[i].s = PyUnicode_InternFromString(names[i].name)) == NULL)
            return -1;
    }
    return 0;
}
