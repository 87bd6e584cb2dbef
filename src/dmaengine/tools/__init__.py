"""The tools behind the ``dmaengine`` command: dmatest, the dma-perf sweep, summary and stats.

Each tool is a library function first (:func:`dmaengine.tools.dmatest.run_dmatest`,
:func:`dmaengine.tools.perf.run_perf`, :func:`dmaengine.tools.info.stats_rows`) and a subcommand second.
They work on any :class:`dmaengine.Platform`: real threads on a real-time platform, cooperative loops in
virtual time on a simulated SoC.
"""
