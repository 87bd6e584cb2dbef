/* dmaengine._cnative: the module object; the parts add themselves (see native.h). */
#include "native.h"

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
        || dmaengine_raid6_init(m) < 0 || dmaengine_period_init(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
