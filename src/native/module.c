/* dmaengine._cnative: the module object; the parts add themselves (see native.h). */
#include "native.h"

PyTypeObject *dmaengine_lock_type_checked(void)
{
#if PY_VERSION_HEX < 0x030D0000 && !defined(Py_GIL_DISABLED)
    PyObject *mod = PyImport_ImportModule("_thread");
    PyObject *lock = mod ? PyObject_CallMethod(mod, "allocate_lock", NULL) : NULL;
    Py_XDECREF(mod);
    if (lock == NULL) {
        PyErr_Clear();
        return NULL;
    }
    PyTypeObject *t = Py_TYPE(lock);
    int ok = t->tp_basicsize == (Py_ssize_t)sizeof(LockMirror) && ((LockMirror *)lock)->locked == 0;
    PyObject *r = ok ? PyObject_CallMethod(lock, "acquire", NULL) : NULL;
    ok = r == Py_True && ((LockMirror *)lock)->locked == 1;
    Py_XDECREF(r);
    r = ok ? PyObject_CallMethod(lock, "release", NULL) : NULL;
    ok = r != NULL && ((LockMirror *)lock)->locked == 0;
    Py_XDECREF(r);
    PyErr_Clear();
    Py_DECREF(lock);
    return ok ? t : NULL;
#else
    return NULL;
#endif
}

static struct PyModuleDef cnative_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "dmaengine._cnative",
    .m_doc = "The optional compiled core of dmaengine (see dmaengine._native).",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__cnative(void)
{
    PyObject *m = PyModule_Create(&cnative_module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddIntConstant(m, "ABI", 1) < 0 || dmaengine_sim_init(m) < 0 || dmaengine_memcpy_init(m) < 0
        || dmaengine_raid6_init(m) < 0 || dmaengine_period_init(m) < 0 || dmaengine_wake_init(m) < 0
        || dmaengine_copy_init(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
