"""The README example: copy a buffer with the threaded memory engine and get called back."""

import numpy as np

import dmaengine
from dmaengine import Cap, Status

src = np.arange(1 << 20, dtype=np.uint32)
dst = np.zeros_like(src)
done = []

with dmaengine.request_channel(Cap.MEMCPY) as chan, dmaengine.map(src) as s, dmaengine.map(dst) as d:
    tx = chan.prep_dma_memcpy(d.addr, s.addr, src.nbytes)
    tx.callback = done.append
    tx.callback_param = "copied"
    cookie = tx.submit()  # queued: nothing moves yet
    assert chan.sync_wait(cookie) == Status.COMPLETE  # issue_pending, then wait
    chan.synchronize()  # the callback has run
    print(f"{chan.name}: cookie {cookie} {done[0]}, {chan.stats.bytes_transferred} bytes")

assert (dst == src).all()
