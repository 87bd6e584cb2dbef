"""RAID-6 arithmetic as Linux md lays P and Q on disk: GF(2^8), polynomial 0x11d, generator {02}, vectorised
with numpy. The CPU side of :mod:`dmaengine.async_tx` and of the drivers that offer XOR / PQ.

>>> import numpy as np
>>> from dmaengine.raid6 import gen_syndrome, gf_mul
>>> d = [np.full(8, 1, np.uint8), np.full(8, 1, np.uint8)]
>>> p, q = np.empty(8, np.uint8), np.empty(8, np.uint8)
>>> gen_syndrome(d, p, q)
>>> int(p[0]), int(q[0]), gf_mul(2, 2)
(0, 3, 4)
"""

from __future__ import annotations

from ._raid6 import EXP as EXP
from ._raid6 import INV as INV
from ._raid6 import LOG as LOG
from ._raid6 import MUL as MUL
from ._raid6 import POLY as POLY
from ._raid6 import datap_recov as datap_recov
from ._raid6 import gen_syndrome as gen_syndrome
from ._raid6 import gf_mul as gf_mul
from ._raid6 import mul_into as mul_into
from ._raid6 import pq as pq
from ._raid6 import two_data_recov as two_data_recov
from ._raid6 import xor_into as xor_into
from ._raid6 import xor_to as xor_to

__all__ = [
    "EXP",
    "INV",
    "LOG",
    "MUL",
    "POLY",
    "datap_recov",
    "gen_syndrome",
    "gf_mul",
    "mul_into",
    "pq",
    "two_data_recov",
    "xor_into",
    "xor_to",
]
