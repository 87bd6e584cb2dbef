"""``dmaengine raid6``: a small RAID-6 array of files, rebuilt through async_tx.

The array lives in a directory: ``disk0.img`` .. ``disk{N-1}.img`` hold the data, ``p.img`` and ``q.img`` the
syndromes, chunk by chunk as md lays them (stripe ``s`` is bytes ``[s*chunk, (s+1)*chunk)`` of every file). The
command writes random data and its P and Q, fails one or two disks (deletes or corrupts their files), rebuilds
them stripe by stripe with the async_tx recovery calls, writes them back and verifies every stripe. It prints the
rates and which engine did the work: a DMA channel with the capability, or the CPU fallback. On the simulated SoC
the times are virtual.

>>> describe_ops({"pq": 2, "xor": 4}, {})
'DMA (pq 2, xor 4)'
>>> describe_ops({}, {"raid6_2data_recov": 3})
'CPU fallback (raid6_2data_recov 3)'
>>> progress_bar(3, 12, width=8)
'[##      ] 3/12 stripes'
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from dmaengine import ConfigError, Platform, SumCheckFlags, SumCheckResult
from dmaengine.async_tx import (
    ASYNC_TX_FENCE,
    ASYNC_TX_XOR_ZERO_DST,
    AsyncTx,
    ChannelTable,
    async_gen_syndrome,
    async_raid6_2data_recov,
    async_raid6_datap_recov,
    async_syndrome_val,
    async_tx_issue_pending_all,
    async_tx_quiesce,
    async_xor,
    init_async_submit,
)

__all__ = ["Raid6Report", "add_parser", "describe_ops", "disk_names", "progress_bar", "recover", "run_raid6"]


def disk_names(ndata: int) -> list[str]:
    """The file names of an array with ``ndata`` data disks: the data disks, then P, then Q."""
    return [f"disk{i}.img" for i in range(ndata)] + ["p.img", "q.img"]


def describe_ops(dma: dict[str, int], cpu: dict[str, int]) -> str:
    """Which engine did the work, from a :class:`~dmaengine.async_tx.ChannelTable`'s counters."""
    parts = []
    for who, ops in (("DMA", dma), ("CPU fallback", cpu)):
        if ops:
            parts.append(f"{who} ({', '.join(f'{k} {v}' for k, v in sorted(ops.items()))})")
    return " and ".join(parts) or "nothing"


def progress_bar(done: int, total: int, width: int = 40) -> str:
    """A text progress bar: ``[####    ] 3/12 stripes``."""
    filled = width * done // total if total else width
    return f"[{'#' * filled}{' ' * (width - filled)}] {done}/{total} stripes"


def recover(blocks: list[Any], failed: Sequence[int], chans: ChannelTable | None,
            cb: Callable[[Any], None] | None = None, param: Any = None) -> AsyncTx | None:
    """Rebuild the ``failed`` blocks (one or two indexes; data blocks, then P, then Q) of one stripe in place.

    Two data blocks and a data block with P go through the kernel's recovery calls; a data block with Q is
    rebuilt from P like RAID-5, then Q; P and Q are a fresh syndrome."""
    k = len(blocks) - 2
    fails = sorted(set(failed))
    if not 1 <= len(fails) <= 2 or any(not 0 <= f < k + 2 for f in fails):
        raise ConfigError(f"failed must be one or two block indexes 0..{k + 1}, not {list(failed)!r}")
    data_fails = [f for f in fails if f < k]
    p_failed, q_failed = k in fails, k + 1 in fails
    last = init_async_submit(0, None, cb, param, chans=chans)
    if len(data_fails) == 2:
        return async_raid6_2data_recov(blocks, data_fails[0], data_fails[1], last)
    if data_fails and p_failed:
        return async_raid6_datap_recov(blocks, data_fails[0], last)
    if data_fails:  # from P, like RAID-5; then Q if it failed too
        a = data_fails[0]
        srcs = [b for i, b in enumerate(blocks[: k + 1]) if i != a]
        if not q_failed:
            return async_xor(blocks[a], srcs, init_async_submit(ASYNC_TX_XOR_ZERO_DST, None, cb, param, chans=chans))
        tx = async_xor(blocks[a], srcs, init_async_submit(ASYNC_TX_XOR_ZERO_DST, chans=chans))
        return async_gen_syndrome([*blocks[:k], None, blocks[k + 1]],
                                  init_async_submit(ASYNC_TX_FENCE, tx, cb, param, chans=chans))
    return async_gen_syndrome([*blocks[:k], blocks[k] if p_failed else None, blocks[k + 1] if q_failed else None],
                              last)


@dataclass
class Raid6Report:
    """What one run did: the array, the disks failed, the times (seconds; virtual on a simulated SoC), who
    computed, and the verification."""

    directory: Path
    ndata: int
    chunk: int
    stripes: int
    failed: list[str] = field(default_factory=list)
    write_s: float = 0.0
    rebuild_s: float = 0.0
    write_by: str = ""
    rebuild_by: str = ""
    bad_stripes: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every stripe verified."""
        return not self.bad_stripes


def _rate(nbytes: int, seconds: float) -> str:
    return f"{nbytes / seconds / 1e6:.1f} MB/s" if seconds > 0 else "instant"


def _expected(seed: int, ndata: int, size: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size, dtype=np.uint8) for _ in range(ndata)]


def run_raid6(plat: Platform, directory: Path, ndata: int = 4, chunk: int = 65536, stripes: int = 16,
              fail: Sequence[int] | None = None, corrupt: bool = False, seed: int | None = None,
              out: TextIO = sys.stdout, progress: TextIO | None = None) -> Raid6Report:
    """Write, fail, rebuild and verify an array of ``ndata`` data disks + P + Q in ``directory`` on ``plat``;
    prints what happens to ``out`` and, when given, a progress bar to ``progress``."""
    for name, v, least in (("ndata", ndata, 1), ("chunk", chunk, 1), ("stripes", stripes, 1)):
        if not isinstance(v, int) or isinstance(v, bool) or v < least:
            raise ConfigError(f"{name} must be an int >= {least}, not {v!r}")
    if ndata > 253:
        raise ConfigError(f"ndata must be at most 253 (GF(2^8) has 255 coefficients, P and Q included), not {ndata}")
    names = disk_names(ndata)
    seed = random.randrange(2**32) if seed is None else seed
    rng = random.Random(seed)
    failed = sorted(rng.sample(range(ndata + 2), 2)) if fail is None else sorted(set(fail))
    if not 1 <= len(failed) <= 2 or any(not 0 <= f < ndata + 2 for f in failed):
        raise ConfigError(f"--fail must name one or two disks 0..{ndata + 1} (P is {ndata}, Q {ndata + 1}), "
                          f"not {','.join(map(str, fail or []))!r}")
    directory.mkdir(parents=True, exist_ok=True)
    size = chunk * stripes
    report = Raid6Report(directory, ndata, chunk, stripes)
    print(f"raid6: {ndata} data disks + P + Q, chunk {chunk} bytes, {stripes} stripes, in {directory}", file=out)
    data = _expected(seed, ndata, size)
    p, q = np.zeros(size, np.uint8), np.zeros(size, np.uint8)

    def stripe(arrays: list[np.ndarray], s: int) -> list[np.ndarray]:
        return [a[s * chunk:(s + 1) * chunk] for a in arrays]

    with ChannelTable(plat) as chans:
        # write: P and Q of every stripe
        t0 = plat.now
        txs = []
        for s in range(stripes):
            txs.append(async_gen_syndrome(stripe([*data, p, q], s), init_async_submit(chans=chans)))
            async_tx_issue_pending_all(chans)
        for tx in txs:
            async_tx_quiesce(tx)
        report.write_s = plat.now - t0
        report.write_by = describe_ops(chans.dma_ops, chans.cpu_ops)
        for name, arr in zip(names, [*data, p, q]):
            (directory / name).write_bytes(arr.tobytes())
        virtual = " of virtual time" if not plat.realtime else ""
        print(f"write: {ndata * size} bytes of data, P and Q by {report.write_by} in {report.write_s:.6f} s"
              f"{virtual}: {_rate(ndata * size, report.write_s)}", file=out)

        # fail
        how = "corrupted" if corrupt else "deleted"
        for f in failed:
            path = directory / names[f]
            if corrupt:
                path.write_bytes(np.random.default_rng(seed + f).integers(0, 256, size, dtype=np.uint8).tobytes())
            else:
                path.unlink()
        report.failed = [names[f] for f in failed]
        print(f"fail: {', '.join(f'{names[f]} ({how})' for f in failed)}", file=out)

        # rebuild: read the survivors, rebuild the failed blocks stripe by stripe
        disks = []
        for i, name in enumerate(names):
            if i in failed:
                disks.append(np.zeros(size, np.uint8))
            else:
                disks.append(np.fromfile(directory / name, dtype=np.uint8))
                if disks[-1].nbytes != size:
                    raise ConfigError(f"{directory / name} holds {disks[-1].nbytes} bytes, not {size}")
        chans.dma_ops.clear()
        chans.cpu_ops.clear()
        done = [0]

        def tick(_param: object) -> None:
            done[0] += 1

        t0 = plat.now
        txs = []
        for s in range(stripes):
            txs.append(recover(stripe(disks, s), failed, chans, tick))
            async_tx_issue_pending_all(chans)
        for tx in txs:
            async_tx_quiesce(tx)
            if progress is not None:
                print(f"\rrebuild: {progress_bar(done[0], stripes)}", end="", file=progress, flush=True)
        if progress is not None:
            print(file=progress)
        report.rebuild_s = plat.now - t0
        report.rebuild_by = describe_ops(chans.dma_ops, chans.cpu_ops)
        for f in failed:
            disks[f].tofile(directory / names[f])
        rebuilt = len(failed) * size
        print(f"rebuild: {', '.join(report.failed)}: {rebuilt} bytes in {report.rebuild_s:.6f} s"
              f"{virtual}: {_rate(rebuilt, report.rebuild_s)} "
              f"by {report.rebuild_by}", file=out)

        # verify: every stripe's syndrome, and the data against what was written
        results = [SumCheckResult() for _ in range(stripes)]
        reread = [np.fromfile(directory / name, dtype=np.uint8) for name in names]
        for s in range(stripes):
            async_tx_quiesce(async_syndrome_val(stripe(reread, s), results[s], None, init_async_submit(chans=chans)))
        for s in range(stripes):
            same = all((a == b).all() for a, b in zip(stripe(reread[:ndata], s), stripe(data, s)))
            if results[s].flags != SumCheckFlags(0) or not same:
                report.bad_stripes.append(s)
    if report.ok:
        print(f"verify: {stripes} stripes, P and Q consistent, data identical: OK", file=out)
    else:
        print(f"verify: FAILED at stripes {', '.join(map(str, report.bad_stripes))}", file=out)
    return report


# --- the command --------------------------------------------------------------------------------------------
def add_parser(sub: Any, common: argparse.ArgumentParser,
               formatter_class: type[argparse.HelpFormatter] = argparse.HelpFormatter) -> None:
    """Register ``dmaengine raid6`` on the command's subparsers (``common``: --platform and --trace;
    ``formatter_class``: the command line's help formatter, which says only the defaults that say something)."""
    r = sub.add_parser(
        "raid6", parents=[common], help="a RAID-6 array of files: fail two disks, rebuild them through async_tx",
        description="Write random data to N data disks (files in DIR) with P and Q as Linux md lays them, fail "
                    "one or two disks (delete or corrupt their files), rebuild them stripe by stripe through "
                    "async_tx, and verify. Prints MB/s and which engine did the work (DMA or the CPU fallback); "
                    "on --platform sim the times are virtual.",
        formatter_class=formatter_class)
    r.add_argument("--dir", default=None, metavar="DIR", help="where the disk files go (default: a new temp dir)")
    r.add_argument("--disks", type=int, default=4, metavar="N", help="data disks (P and Q come on top)")
    r.add_argument("--chunk", type=int, default=65536, metavar="BYTES", help="chunk size: bytes per disk per stripe")
    r.add_argument("--stripes", type=int, default=16, metavar="N", help="stripes in the array")
    r.add_argument("--fail", default=None, metavar="A[,B]",
                   help="disks to fail: indexes (P is N, Q is N+1) or names (disk0, p, q); default: two at random")
    r.add_argument("--corrupt", action="store_true", help="overwrite the failed disks with garbage, not delete")
    r.add_argument("--seed", type=int, default=None, help="seed of the data and of the random failures")
    r.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                   help="the rebuild progress bar on stderr (auto: when stderr is a terminal)")
    r.set_defaults(func=cmd_raid6)


def _parse_fail(text: str, ndata: int) -> list[int]:
    out = []
    for part in text.split(","):
        name = part.strip().lower()
        if name in ("p", "q"):
            out.append(ndata if name == "p" else ndata + 1)
        elif name.removeprefix("disk").isdigit():
            out.append(int(name.removeprefix("disk")))
        else:
            raise ConfigError(f"--fail must list disk indexes or names (disk0, p, q), not {text!r}")
    return out


def cmd_raid6(args: argparse.Namespace) -> int:
    """The ``dmaengine raid6`` command; returns the exit status (1 when verification failed)."""
    from ..cli import CliError, _platform, _tracing

    try:
        fail = None if args.fail is None else _parse_fail(args.fail, args.disks)
    except ConfigError as e:
        raise CliError(f"dmaengine raid6: {e}") from None
    progress = {"always": True, "never": False}.get(args.progress, sys.stderr.isatty())
    with _platform(args) as plat, _tracing(args):
        if args.dir is None:
            with tempfile.TemporaryDirectory(prefix="raid6-") as tmp:
                report = run_raid6(plat, Path(tmp), args.disks, args.chunk, args.stripes, fail, args.corrupt,
                                   args.seed, sys.stdout, sys.stderr if progress else None)
        else:
            report = run_raid6(plat, Path(os.path.expanduser(args.dir)), args.disks, args.chunk, args.stripes,
                               fail, args.corrupt, args.seed, sys.stdout, sys.stderr if progress else None)
    return 0 if report.ok else 1
