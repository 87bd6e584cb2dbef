/* The simulator's compiled hot path (sim/). Empty until a part needs it. */
#include "native.h"

int dmaengine_sim_init(PyObject *module)
{
    (void)module;
    return 0;
}
