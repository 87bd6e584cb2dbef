/* A copy lane's bytes: Dmac._sched_move of a memory-to-memory lane, for the schedule's take_moves / take_move
 * (sim.c), without the Python frames of Dmac._sched_move_at, Dmac._sched_move and AddressSpace.copy.
 *
 * A copy mover is Dmac._sched_mover's tuple (ch, prog, idx, dst_mapping, dst_off, src_mapping, src_off, length)
 * for a channel whose copy item idx found its memory when its lane was planned (Dmac._lane_memory): the mappings
 * that hold the item's destination and source, the item's offsets in them (dst - mapping.addr, may be below 0
 * when the lane began past the item's start) and its length. The move is the specification's
 * AddressSpace.copy(item.dst + off, item.src + off, n), line by line: the same bytes (a memmove: the two spans may
 * lie in one buffer), then item_off and done advance by n. It is done only while the channel still holds that
 * program at item idx, both mappings are live (an unmap settles the schedule first: this is the guard, not the
 * rule) and the spans lie inside their buffers;
 * otherwise 0 says "not mine" and the caller runs the Python move (which raises what it raises). The GIL is held
 * throughout (AddressSpace.copy lets it go for long copies and pins the mappings meanwhile: an unmap from another
 * thread then waits; here it cannot run at all). */
#include "native.h"

#include <string.h>

#include "structmember.h"

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

/* --- a plain memcpy's descriptor: SimDmaDevice.device_prep_dma_memcpy's body (sim/_driver.py) -----------------
 *
 * prep_memcpy(chan, dst, src, length, flags) builds what the Python builds, slot by slot: an Item (src, dst,
 * length, irq True, value 0), its Program ([item], MEM_TO_MEM, the bus word, the memory burst, no port, not
 * cyclic, total length) and the SimDescriptor holding it (the fields of VirtDescriptor.__init__ and
 * SimDescriptor.__init__), each made as object.__new__ makes it (the classes' own allocation, no __init__), and
 * the same values stored in the same slots. prep_setup(Item, Program, SimDescriptor, consts) names the classes
 * and the constants (each class must make its instances with object.__new__ and hold each field in a writable
 * slot: a TypeError names what is not so). The callers test what the Python tests first (flags a PrepFlags). */

enum { I_SRC, I_DST, I_LENGTH, I_IRQ, I_VALUE, NI };
enum { P_ITEMS, P_DIRECTION, P_WIDTH, P_BURST, P_PORT, P_CYCLIC, P_TOTAL, NP };
enum { D_CHAN, D_COOKIE, D_FLAGS, D_CALLBACK, D_CALLBACK_PARAM, D_CALLBACK_RESULT, D_STATE, D_LENGTH, D_RESULT,
       D_RESIDUE, D_DONE_COOKIE, D_PROGRAM, D_JOB, D_MD_CLIENT, D_MD_BUF, D_MD_LEN, D_METADATA_MODE, ND };
static const char *const item_fields[NI] = {"src", "dst", "length", "irq", "value"};
static const char *const prog_fields[NP] = {"items", "direction", "width", "burst", "port", "cyclic", "total"};
static const char *const desc_fields[ND] = {"chan", "cookie", "flags", "callback", "callback_param",
                                            "callback_result", "state", "length", "result", "residue", "done_cookie",
                                            "program", "job", "md_client", "md_buf", "md_len", "_metadata_mode"};
static PyTypeObject *t_item, *t_prog, *t_desc;
static Py_ssize_t o_item[NI], o_prog[NP], o_desc[ND];
/* M2M, WORD, MEM_BURST, PREPARED, NOERROR, MD_NONE (prep_setup's consts, in this order), and the int 0. */
static PyObject *c_m2m, *c_word, *c_burst, *c_prepared, *c_noerror, *c_md_none, *c_zero, *c_empty;

/* 0 when every slot of tp (its classes' __slots__ but __dict__ and __weakref__) is one of names, else -1 with a
 * TypeError naming the first other (a slot added later: an instance built here would leave it unset). */
static int only_slots(const char *what, PyTypeObject *tp, const char *const *names, int n)
{
    PyObject *mro = tp->tp_mro;
    for (Py_ssize_t k = 0; mro != NULL && k < PyTuple_GET_SIZE(mro); k++) {
        PyObject *dict = ((PyTypeObject *)PyTuple_GET_ITEM(mro, k))->tp_dict;
        PyObject *sl = dict != NULL ? PyDict_GetItemString(dict, "__slots__") : NULL;  /* (borrowed) */
        if (sl == NULL)
            continue;
        PyObject *seq = PyUnicode_Check(sl) ? PyTuple_Pack(1, sl) : PySequence_Tuple(sl);
        if (seq == NULL)
            return -1;
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(seq); i++) {
            PyObject *name = PyTuple_GET_ITEM(seq, i);
            int known = !PyUnicode_Check(name) ? 0 : PyUnicode_CompareWithASCIIString(name, "__dict__") == 0
                                                      || PyUnicode_CompareWithASCIIString(name, "__weakref__") == 0;
            for (int j = 0; !known && j < n && PyUnicode_Check(name); j++)
                known = PyUnicode_CompareWithASCIIString(name, names[j]) == 0;
            if (!known) {
                PyErr_Format(PyExc_TypeError, "%s: %s has the slot %R, which this code does not fill", what,
                             tp->tp_name, name);
                Py_DECREF(seq);
                return -1;
            }
        }
        Py_DECREF(seq);
    }
    return 0;
}

/* The slot offsets of names in tp (writable object slots; with fill, every slot of tp is one of them), or -1 with a
 * TypeError. */
static int slot_offsets(const char *what, PyTypeObject *tp, const char *const *names, int n, Py_ssize_t *out,
                        int fill)
{
    if (fill && only_slots(what, tp, names, n) < 0)
        return -1;
    if (tp->tp_new != PyBaseObject_Type.tp_new) {
        PyErr_Format(PyExc_TypeError, "%s: %s does not make its instances with object.__new__", what,
                     tp->tp_name);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        PyObject *name = PyUnicode_InternFromString(names[i]);
        if (name == NULL)
            return -1;
        PyObject *d = _PyType_Lookup(tp, name);  /* (borrowed) */
        Py_DECREF(name);
        PyMemberDef *m = d != NULL && Py_IS_TYPE(d, &PyMemberDescr_Type) ? ((PyMemberDescrObject *)d)->d_member : NULL;
        if (m == NULL || m->type != T_OBJECT_EX || (m->flags & READONLY)) {
            PyErr_Format(PyExc_TypeError, "%s: %s.%s is not a writable slot", what, tp->tp_name, names[i]);
            return -1;
        }
        out[i] = m->offset;
    }
    return 0;
}

static PyObject *prep_setup(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *item, *prog, *desc, *consts;
    if (!PyArg_ParseTuple(args, "O!O!O!O!:prep_setup", &PyType_Type, &item, &PyType_Type, &prog, &PyType_Type, &desc,
                          &PyTuple_Type, &consts))
        return NULL;
    if (PyTuple_GET_SIZE(consts) != 6) {
        PyErr_Format(PyExc_TypeError, "prep_setup: consts must be (M2M, WORD, MEM_BURST, PREPARED, NOERROR, "
                     "MD_NONE), not %R", consts);
        return NULL;
    }
    Py_ssize_t oi[NI], op[NP], od[ND];
    if (slot_offsets("prep_setup", (PyTypeObject *)item, item_fields, NI, oi, 1) < 0
            || slot_offsets("prep_setup", (PyTypeObject *)prog, prog_fields, NP, op, 1) < 0
            || slot_offsets("prep_setup", (PyTypeObject *)desc, desc_fields, ND, od, 1) < 0)
        return NULL;
    PyObject **cs[6] = {&c_m2m, &c_word, &c_burst, &c_prepared, &c_noerror, &c_md_none};
    for (int i = 0; i < 6; i++)
        Py_XSETREF(*cs[i], Py_NewRef(PyTuple_GET_ITEM(consts, i)));
    Py_XSETREF(t_item, (PyTypeObject *)Py_NewRef(item));
    Py_XSETREF(t_prog, (PyTypeObject *)Py_NewRef(prog));
    Py_XSETREF(t_desc, (PyTypeObject *)Py_NewRef(desc));
    memcpy(o_item, oi, sizeof oi);
    memcpy(o_prog, op, sizeof op);
    memcpy(o_desc, od, sizeof od);
    Py_RETURN_NONE;
}

/* Store v (a new reference taken) in the slot at off of the new object o (the slot is empty). */
static inline void put(PyObject *o, Py_ssize_t off, PyObject *v)
{
    *(PyObject **)((char *)o + off) = Py_NewRef(v);
}

static PyObject *prep_memcpy(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 5) {
        PyErr_Format(PyExc_TypeError, "prep_memcpy takes (chan, dst, src, length, flags), not %zd arguments", nargs);
        return NULL;
    }
    if (t_desc == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "prep_memcpy: prep_setup was not called");
        return NULL;
    }
    PyObject *chan = args[0], *dst = args[1], *src = args[2], *length = args[3], *flags = args[4];
    PyObject *item = t_item->tp_alloc(t_item, 0);
    if (item == NULL)
        return NULL;
    put(item, o_item[I_SRC], src);
    put(item, o_item[I_DST], dst);
    put(item, o_item[I_LENGTH], length);
    put(item, o_item[I_IRQ], Py_True);
    put(item, o_item[I_VALUE], c_zero);
    PyObject *items = PyList_New(1);
    if (items == NULL) {
        Py_DECREF(item);
        return NULL;
    }
    PyList_SET_ITEM(items, 0, item);
    PyObject *prog = t_prog->tp_alloc(t_prog, 0);
    if (prog == NULL) {
        Py_DECREF(items);
        return NULL;
    }
    put(prog, o_prog[P_ITEMS], items);
    Py_DECREF(items);
    put(prog, o_prog[P_DIRECTION], c_m2m);
    put(prog, o_prog[P_WIDTH], c_word);
    put(prog, o_prog[P_BURST], c_burst);
    put(prog, o_prog[P_PORT], Py_None);
    put(prog, o_prog[P_CYCLIC], Py_False);
    put(prog, o_prog[P_TOTAL], length);
    PyObject *vd = t_desc->tp_alloc(t_desc, 0);
    if (vd == NULL) {
        Py_DECREF(prog);
        return NULL;
    }
    put(vd, o_desc[D_CHAN], chan);
    put(vd, o_desc[D_COOKIE], c_zero);
    put(vd, o_desc[D_FLAGS], flags);
    put(vd, o_desc[D_CALLBACK], Py_None);
    put(vd, o_desc[D_CALLBACK_PARAM], Py_None);
    put(vd, o_desc[D_CALLBACK_RESULT], Py_None);
    put(vd, o_desc[D_STATE], c_prepared);
    put(vd, o_desc[D_LENGTH], length);
    put(vd, o_desc[D_RESULT], c_noerror);
    put(vd, o_desc[D_RESIDUE], c_zero);
    put(vd, o_desc[D_DONE_COOKIE], c_zero);
    put(vd, o_desc[D_PROGRAM], prog);
    Py_DECREF(prog);
    put(vd, o_desc[D_JOB], Py_None);
    put(vd, o_desc[D_MD_CLIENT], Py_None);
    put(vd, o_desc[D_MD_BUF], Py_None);
    put(vd, o_desc[D_MD_LEN], c_zero);
    put(vd, o_desc[D_METADATA_MODE], c_md_none);
    return vd;
}

/* --- a program the controller can fetch: sim/_driver.py _program_fault's None, for the plain case ----------------
 *
 * program_ok(prog): True when prog is exactly a Program (prep_setup's) whose items are exactly a non-empty list
 * of exactly Items, its width and burst exact ints >= 1, and each item's length an exact int >= 1, dst an exact int
 * >= 0, src None or an exact int >= 0, irq a bool and value an exact int 0..255: what _program_fault accepts (it
 * returns None then). False for anything else, whatever _program_fault would say: the caller asks it. */

/* -1, 0 or 1 as the exact int v is below lo, within [lo, hi], above hi (hi < 0: no bound above); 2 if not one. */
static int int_range(PyObject *v, long long lo, long long hi)
{
    if (v == NULL || !PyLong_CheckExact(v))
        return 2;
    int of;
    long long x = PyLong_AsLongLongAndOverflow(v, &of);
    if (of)
        return of < 0 ? -1 : hi < 0 ? 0 : 1;
    if (x == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 2;
    }
    return x < lo ? -1 : (hi >= 0 && x > hi) ? 1 : 0;
}

#define SLOT(o, off) (*(PyObject **)((char *)(o) + (off)))

static PyObject *program_ok(PyObject *self, PyObject *prog)
{
    (void)self;
    if (t_prog == NULL || !Py_IS_TYPE(prog, t_prog))
        Py_RETURN_FALSE;
    PyObject *items = SLOT(prog, o_prog[P_ITEMS]);
    if (items == NULL || !PyList_CheckExact(items) || PyList_GET_SIZE(items) == 0
            || int_range(SLOT(prog, o_prog[P_WIDTH]), 1, -1) != 0 || int_range(SLOT(prog, o_prog[P_BURST]), 1, -1) != 0)
        Py_RETURN_FALSE;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items); i++) {
        PyObject *it = PyList_GET_ITEM(items, i);
        if (!Py_IS_TYPE(it, t_item))
            Py_RETURN_FALSE;
        PyObject *src = SLOT(it, o_item[I_SRC]), *irq = SLOT(it, o_item[I_IRQ]);
        if (int_range(SLOT(it, o_item[I_LENGTH]), 1, -1) != 0 || int_range(SLOT(it, o_item[I_DST]), 0, -1) != 0
                || src == NULL || (src != Py_None && int_range(src, 0, -1) != 0)
                || (irq != Py_True && irq != Py_False) || int_range(SLOT(it, o_item[I_VALUE]), 0, 255) != 0)
            Py_RETURN_FALSE;
    }
    Py_RETURN_TRUE;
}

/* --- a copy's lane: Dmac._lane's memory-to-memory case (sim/_dmac.py) -------------------------------------------
 *
 * copy_lane(dmac, ch): the Lane (lane_setup's class, called with the arguments Dmac._lane gives it) of channel
 * ch's copy item: the rest of item ch.item_idx from ch.item_off in the
 * controller's memory bursts, ends_program when it is the last item of a program that is not cyclic; None when
 * its source and destination overlap (burst by burst, as Dmac._lane says). NotImplemented where this is not the
 * plain case (not exactly a Program of a list of Items, a field not an exact int within [0, 2**62) or a bool, a
 * width, burst or rate below 1, an offset past the item): the caller runs Dmac._lane's Python. */

static PyTypeObject *t_lane;
static PyObject *s_idx, *s_bus_width_bytes, *s_mem_burst, *s_bus_bytes_per_s;
#define VAL_MAX ((int64_t)1 << 62)

static PyObject *lane_setup(PyObject *self, PyObject *lane)
{
    (void)self;
    if (!PyType_Check(lane)) {
        PyErr_Format(PyExc_TypeError, "lane_setup: Lane must be a class, not %R", lane);
        return NULL;
    }
    Py_XSETREF(t_lane, (PyTypeObject *)Py_NewRef(lane));
    Py_RETURN_NONE;
}

/* The exact int v within [0, VAL_MAX) into out: 1; 0 when it is not one. */
static int small_int(PyObject *v, int64_t *out)
{
    if (v == NULL || !PyLong_CheckExact(v))
        return 0;
    int of;
    long long x = PyLong_AsLongLongAndOverflow(v, &of);
    if (of || x < 0 || x >= VAL_MAX) {
        if (x == -1 && PyErr_Occurred())
            PyErr_Clear();
        return 0;
    }
    *out = x;
    return 1;
}

/* The attribute name of o as a small int (small_int): 1, 0 when it is not one, -1 on an error. */
static int attr_small(PyObject *o, PyObject *name, int64_t *out)
{
    PyObject *v = PyObject_GetAttr(o, name);
    if (v == NULL)
        return -1;
    int r = small_int(v, out);
    Py_DECREF(v);
    return r;
}

static inline int64_t ceil_div(__int128 a, __int128 b)  /* a >= 0, b >= 1, the quotient below 2**63 */
{
    return (int64_t)((a + b - 1) / b);
}

static PyObject *copy_lane(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "copy_lane takes (dmac, ch), not %zd arguments", nargs);
        return NULL;
    }
    if (t_lane == NULL || t_prog == NULL)
        Py_RETURN_NOTIMPLEMENTED;
    PyObject *dmac = args[0], *ch = args[1];
    int64_t width, burst, bps, idx, item_idx, off, dst, src = -1, length;
    int r;
    if ((r = attr_small(dmac, s_bus_width_bytes, &width)) <= 0 || (r = attr_small(dmac, s_mem_burst, &burst)) <= 0
            || (r = attr_small(dmac, s_bus_bytes_per_s, &bps)) <= 0 || (r = attr_small(ch, s_idx, &idx)) <= 0
            || (r = attr_small(ch, s_item_idx, &item_idx)) <= 0 || (r = attr_small(ch, s_item_off, &off)) <= 0) {
        if (r < 0)
            return NULL;
        Py_RETURN_NOTIMPLEMENTED;
    }
    if (width < 1 || burst < 1 || bps < 1 || width > INT32_MAX || burst > INT32_MAX)
        Py_RETURN_NOTIMPLEMENTED;
    PyObject *prog = PyObject_GetAttr(ch, s_prog);
    if (prog == NULL)
        return NULL;
    PyObject *items = Py_IS_TYPE(prog, t_prog) ? SLOT(prog, o_prog[P_ITEMS]) : NULL;
    PyObject *cyclic = items != NULL ? SLOT(prog, o_prog[P_CYCLIC]) : NULL;
    int plain = items != NULL && PyList_CheckExact(items) && item_idx < PyList_GET_SIZE(items)
        && SLOT(prog, o_prog[P_DIRECTION]) == c_m2m && (cyclic == Py_True || cyclic == Py_False);
    PyObject *item = plain ? PyList_GET_ITEM(items, item_idx) : NULL;
    plain = plain && Py_IS_TYPE(item, t_item) && small_int(SLOT(item, o_item[I_DST]), &dst)
        && small_int(SLOT(item, o_item[I_LENGTH]), &length) && SLOT(item, o_item[I_SRC]) != NULL
        && (SLOT(item, o_item[I_SRC]) == Py_None || small_int(SLOT(item, o_item[I_SRC]), &src)) && off <= length;
    int ends = plain && cyclic == Py_False && item_idx + 1 == PyList_GET_SIZE(items);
    Py_DECREF(prog);
    if (!plain)
        Py_RETURN_NOTIMPLEMENTED;
    if (src >= 0 && src < dst + length && dst < src + length)
        Py_RETURN_NONE;  /* overlapping: copied burst by burst, as the hardware would */
    int64_t bb = width * burst;  /* (both below 2**31) */
    int64_t burst_ns = ceil_div((__int128)burst * width * 1000000000, bps);
    int64_t rem = length - off;
    int64_t bursts = ceil_div(rem, bb);
    int64_t last = rem - (bursts - 1) * bb;
    int64_t last_ns = burst_ns;
    if (last != bb)
        last_ns = ceil_div((__int128)ceil_div(last, width) * width * 1000000000, bps);
    if (burst_ns >= VAL_MAX || last_ns >= VAL_MAX)
        Py_RETURN_NOTIMPLEMENTED;
    /* Lane(idx, bursts, burst_bytes, burst_ns, last_bytes, last_burst_ns, None, 0, 0, 0, False, (), ends_program),
     * as Dmac._lane calls it: its own __init__ fills whatever slots it has. */
    PyObject *a[13] = {NULL};
    int64_t ints[6] = {idx, bursts, bb, burst_ns, last, last_ns};
    PyObject *lane = NULL;
    for (int i = 0; i < 6; i++)
        if ((a[i] = PyLong_FromLongLong((long long)ints[i])) == NULL)
            goto out;
    a[6] = Py_NewRef(Py_None);
    a[7] = Py_NewRef(c_zero);
    a[8] = Py_NewRef(c_zero);
    a[9] = Py_NewRef(c_zero);
    a[10] = Py_NewRef(Py_False);
    a[11] = Py_NewRef(c_empty);
    a[12] = Py_NewRef(ends ? Py_True : Py_False);
    lane = PyObject_Vectorcall((PyObject *)t_lane, a, 13, NULL);
out:
    for (int i = 0; i < 13; i++)
        Py_XDECREF(a[i]);
    return lane;
}

/* --- a copy's memory: Dmac._lane_memory's one-copy case (sim/_dmac.py) --------------------------------------------
 *
 * copy_memory(dmac, ch, spans, pos): for channel ch's copy item (src an int), what Dmac._lane_memory does with
 * AddressSpace.copy_maps of the controller's address space (dmac.soc.address_space): the mapping lookups under the
 * space's lock (a bisection of its sorted starts, each span within its mapping's end, readable / writable), then
 * False where they fail, else ch.copy_maps set (the lane's copy mover) and the source's then the destination's span
 * appended to spans: True. NotImplemented (nothing changed) where this is not the plain case: not exactly a Program of a list of
 * Items, not a copy of a program that is not cyclic, a fill, a field not an exact int within [0, 2**62), a space
 * whose copy or copy_maps is not AddressSpace's own (memory_setup's) or a mapping not exactly a Mapping. */

enum { M_ADDR, M_END, M_READABLE, M_WRITABLE, NM };
static const char *const map_fields[NM] = {"addr", "_end", "_readable", "_writable"};
static PyTypeObject *t_map;
static Py_ssize_t o_map[NM];
static PyObject *f_copy, *f_copy_maps;  /* AddressSpace.copy and .copy_maps */
static PyObject *s_soc, *s_address_space, *s_lock, *s_starts, *s_maps, *s_copy, *s_copy_maps;
static PyObject *s_acquire, *s_release;

static PyObject *memory_setup(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *copy, *copy_maps, *mapping;
    if (!PyArg_ParseTuple(args, "OOO!:memory_setup", &copy, &copy_maps, &PyType_Type, &mapping))
        return NULL;
    Py_ssize_t om[NM];
    if (slot_offsets("memory_setup", (PyTypeObject *)mapping, map_fields, NM, om, 0) < 0)
        return NULL;
    Py_XSETREF(f_copy, Py_NewRef(copy));
    Py_XSETREF(f_copy_maps, Py_NewRef(copy_maps));
    Py_XSETREF(t_map, (PyTypeObject *)Py_NewRef(mapping));
    memcpy(o_map, om, sizeof om);
    Py_RETURN_NONE;
}

/* 1 when the space's attribute name is the method fn bound to it (its class's own, not replaced on the instance), 0
 * if not, -1 on an error. */
static int own_method(PyObject *space, PyObject *name, PyObject *fn)
{
    PyObject *bm = PyObject_GetAttr(space, name);
    if (bm == NULL)
        return -1;
    int r = PyMethod_Check(bm) && PyMethod_GET_FUNCTION(bm) == fn && PyMethod_GET_SELF(bm) == space;
    Py_DECREF(bm);
    return r;
}

/* The mapping that holds [addr, addr + size) with the right (write: _writable, else _readable), looked up as
 * AddressSpace.copy_maps does (caller holds the lock): 1 with *out (borrowed), 0 when there is none, 2 when it is
 * not the plain case. */
static int find_map(PyObject *starts, PyObject *maps, int64_t addr, int64_t size, int write, PyObject **out)
{
    Py_ssize_t lo = 0, hi = PyList_GET_SIZE(starts);
    while (lo < hi) {  /* bisect_right */
        Py_ssize_t mid = lo + (hi - lo) / 2;
        int64_t v;
        if (!small_int(PyList_GET_ITEM(starts, mid), &v))
            return 2;
        if (addr < v)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (lo - 1 < 0)
        return 0;
    if (lo - 1 >= PyList_GET_SIZE(maps))
        return 2;
    PyObject *m = PyList_GET_ITEM(maps, lo - 1);
    int64_t end;
    PyObject *right = Py_IS_TYPE(m, t_map) ? SLOT(m, o_map[write ? M_WRITABLE : M_READABLE]) : NULL;
    if (right == NULL || (right != Py_True && right != Py_False) || !small_int(SLOT(m, o_map[M_END]), &end))
        return 2;
    if (addr + size > end || right == Py_False)
        return 0;
    *out = m;
    return 1;
}

/* The copy mover (ch, prog, idx, dm, dst_off, sm, src_off, length), the four ints new references it takes (NULL: an
 * error, all dropped). */
static PyObject *mover8(PyObject *ch, PyObject *prog, PyObject *idx, PyObject *dm, PyObject *dst_off, PyObject *sm,
                        PyObject *src_off, PyObject *length)
{
    PyObject *t = idx != NULL && dst_off != NULL && src_off != NULL && length != NULL ? PyTuple_New(8) : NULL;
    if (t == NULL) {
        Py_XDECREF(idx);
        Py_XDECREF(dst_off);
        Py_XDECREF(src_off);
        Py_XDECREF(length);
        return NULL;
    }
    PyTuple_SET_ITEM(t, 0, Py_NewRef(ch));
    PyTuple_SET_ITEM(t, 1, Py_NewRef(prog));
    PyTuple_SET_ITEM(t, 2, idx);
    PyTuple_SET_ITEM(t, 3, Py_NewRef(dm));
    PyTuple_SET_ITEM(t, 4, dst_off);
    PyTuple_SET_ITEM(t, 5, Py_NewRef(sm));
    PyTuple_SET_ITEM(t, 6, src_off);
    PyTuple_SET_ITEM(t, 7, length);
    return t;
}

/* A span (addr, size, write, pos), addr a new reference it takes (NULL: an error, dropped). */
static PyObject *span(PyObject *addr, PyObject *size, PyObject *write, PyObject *pos)
{
    PyObject *t = addr != NULL ? PyTuple_New(4) : NULL;
    if (t == NULL) {
        Py_XDECREF(addr);
        return NULL;
    }
    PyTuple_SET_ITEM(t, 0, addr);
    PyTuple_SET_ITEM(t, 1, Py_NewRef(size));
    PyTuple_SET_ITEM(t, 2, Py_NewRef(write));
    PyTuple_SET_ITEM(t, 3, Py_NewRef(pos));
    return t;
}

static PyObject *copy_memory(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "copy_memory takes (dmac, ch, spans, pos), not %zd arguments", nargs);
        return NULL;
    }
    PyObject *dmac = args[0], *ch = args[1], *spans = args[2], *pos = args[3];
    if (t_map == NULL || t_prog == NULL || !PyList_CheckExact(spans))
        Py_RETURN_NOTIMPLEMENTED;
    int64_t idx, off, src, dst, length;
    int r;
    if ((r = attr_small(ch, s_item_idx, &idx)) <= 0 || (r = attr_small(ch, s_item_off, &off)) <= 0) {
        if (r < 0)
            return NULL;
        Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject *prog = PyObject_GetAttr(ch, s_prog);
    if (prog == NULL)
        return NULL;
    PyObject *items = Py_IS_TYPE(prog, t_prog) ? SLOT(prog, o_prog[P_ITEMS]) : NULL;
    int plain = items != NULL && PyList_CheckExact(items) && idx < PyList_GET_SIZE(items)
        && SLOT(prog, o_prog[P_DIRECTION]) == c_m2m && SLOT(prog, o_prog[P_CYCLIC]) == Py_False;
    PyObject *item = plain ? PyList_GET_ITEM(items, idx) : NULL;
    plain = plain && Py_IS_TYPE(item, t_item) && small_int(SLOT(item, o_item[I_SRC]), &src)
        && small_int(SLOT(item, o_item[I_DST]), &dst) && small_int(SLOT(item, o_item[I_LENGTH]), &length)
        && off <= length && src + length < VAL_MAX && dst + length < VAL_MAX;
    if (!plain) {
        Py_DECREF(prog);
        Py_RETURN_NOTIMPLEMENTED;
    }
    int64_t size = length - off;
    PyObject *soc = PyObject_GetAttr(dmac, s_soc);
    PyObject *space = soc != NULL ? PyObject_GetAttr(soc, s_address_space) : NULL;
    Py_XDECREF(soc);
    if (space == NULL) {
        Py_DECREF(prog);
        return NULL;
    }
    PyObject *res = NULL, *dm = NULL, *sm = NULL;
    int got_d = 2, got_s = 2;
    if ((r = own_method(space, s_copy, f_copy)) > 0)
        r = own_method(space, s_copy_maps, f_copy_maps);
    PyObject *lock = r > 0 ? PyObject_GetAttr(space, s_lock) : NULL;
    PyObject *starts = lock != NULL ? PyObject_GetAttr(space, s_starts) : NULL;
    PyObject *maps = starts != NULL ? PyObject_GetAttr(space, s_maps) : NULL;
    if (r < 0 || (r > 0 && maps == NULL))
        goto done;  /* (an error) */
    res = Py_NewRef(Py_NotImplemented);
    if (r == 0 || !PyList_CheckExact(starts) || !PyList_CheckExact(maps))
        goto done;
    PyObject *t = PyObject_CallMethodNoArgs(lock, s_acquire);  /* with self._lock: */
    if (t == NULL) {
        Py_CLEAR(res);
        goto done;
    }
    Py_DECREF(t);
    got_s = find_map(starts, maps, src + off, size, 0, &sm);
    if (got_s == 1)
        got_d = find_map(starts, maps, dst + off, size, 1, &dm);
    Py_XINCREF(sm);
    Py_XINCREF(dm);
    t = PyObject_CallMethodNoArgs(lock, s_release);
    if (t == NULL) {
        Py_CLEAR(res);
        goto done;
    }
    Py_DECREF(t);
    if (got_s == 2 || (got_s == 1 && got_d == 2))
        goto done;  /* NotImplemented */
    Py_SETREF(res, Py_NewRef(got_s == 1 && got_d == 1 ? Py_True : Py_False));
    if (res == Py_True) {
        int64_t da, sa;
        if (!small_int(SLOT(dm, o_map[M_ADDR]), &da) || !small_int(SLOT(sm, o_map[M_ADDR]), &sa)) {
            Py_SETREF(res, Py_NewRef(Py_NotImplemented));
            goto done;
        }
        PyObject *cm = mover8(ch, prog, PyLong_FromLongLong((long long)idx), dm,
                              PyLong_FromLongLong((long long)(dst - da)), sm,
                              PyLong_FromLongLong((long long)(src - sa)), PyLong_FromLongLong((long long)length));
        PyObject *n = cm != NULL ? PyLong_FromLongLong((long long)size) : NULL;
        PyObject *s1 = n != NULL ? span(PyLong_FromLongLong((long long)(src + off)), n, Py_False, pos) : NULL;
        PyObject *s2 = s1 != NULL ? span(PyLong_FromLongLong((long long)(dst + off)), n, Py_True, pos) : NULL;
        Py_XDECREF(n);
        if (s2 == NULL || PyObject_SetAttr(ch, s_copy_maps, cm) < 0 || PyList_Append(spans, s1) < 0
                || PyList_Append(spans, s2) < 0)
            Py_CLEAR(res);
        Py_XDECREF(cm);
        Py_XDECREF(s1);
        Py_XDECREF(s2);
    }
done:
    Py_XDECREF(dm);
    Py_XDECREF(sm);
    Py_XDECREF(maps);
    Py_XDECREF(starts);
    Py_XDECREF(lock);
    Py_DECREF(space);
    Py_DECREF(prog);
    return res;
}

static PyMethodDef copy_methods[] = {
    {"memory_setup", memory_setup, METH_VARARGS,
     "memory_setup(AddressSpace.copy, AddressSpace.copy_maps, Mapping): name what copy_memory follows."},
    {"copy_memory", (PyCFunction)(void (*)(void))copy_memory, METH_FASTCALL,
     "copy_memory(dmac, ch, spans, pos): Dmac._lane_memory's one-copy case, compiled (NotImplemented: not its "
     "plain case)."},
    {"lane_setup", lane_setup, METH_O, "lane_setup(Lane): name the class copy_lane builds (prep_setup first)."},
    {"copy_lane", (PyCFunction)(void (*)(void))copy_lane, METH_FASTCALL,
     "copy_lane(dmac, ch): Dmac._lane's memory-to-memory case, compiled (NotImplemented: not its plain case)."},
    {"program_ok", program_ok, METH_O,
     "program_ok(prog): True where sim/_driver.py _program_fault(prog) is None for its plain case; False: ask it."},
    {"prep_setup", prep_setup, METH_VARARGS,
     "prep_setup(Item, Program, SimDescriptor, (M2M, WORD, MEM_BURST, PREPARED, NOERROR, MD_NONE)): name what "
     "prep_memcpy builds."},
    {"prep_memcpy", (PyCFunction)(void (*)(void))prep_memcpy, METH_FASTCALL,
     "prep_memcpy(chan, dst, src, length, flags): SimDmaDevice.device_prep_dma_memcpy's descriptor, compiled."},
    {NULL, NULL, 0, NULL},
};

int dmaengine_copy_init(PyObject *module)
{
    if (PyModule_AddFunctions(module, copy_methods) < 0)
        return -1;
    if ((c_zero == NULL && (c_zero = PyLong_FromLong(0)) == NULL)
            || (c_empty == NULL && (c_empty = PyTuple_New(0)) == NULL))
        return -1;
    struct {
        PyObject **s;
        const char *name;
    } names[] = {{&s_prog, "prog"}, {&s_item_idx, "item_idx"}, {&s_item_off, "item_off"}, {&s_done, "done"},
                 {&s_live, "_live"}, {&s_mv, "_mv"}, {&s_idx, "idx"}, {&s_bus_width_bytes, "bus_width_bytes"},
                 {&s_mem_burst, "mem_burst"}, {&s_bus_bytes_per_s, "bus_bytes_per_s"}, {&s_soc, "soc"},
                 {&s_address_space, "address_space"}, {&s_lock, "_lock"}, {&s_starts, "_starts"},
                 {&s_maps, "_maps"}, {&s_copy, "copy"}, {&s_copy_maps, "copy_maps"}, {&s_acquire, "acquire"},
                 {&s_release, "release"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (*names[i].s == NULL && (*names[i].s = PyUnicode_InternFromString(names[i].name)) == NULL)
            return -1;
    }
    return 0;
}
