"""Audio demo: play a WAV file through cyclic DMA into the simulated I2S codec, ALSA style.

The client maps a ring of ``--periods`` periods, preps a cyclic MEM_TO_DEV transfer and, in each period
callback, refills every period the DMA has finished reading (the callback reads the DMA position from the
residue, so coalesced callbacks lose nothing). At the end it stops the codec on the exact frame and writes what
the codec played as a WAV: bit-identical to the input when the client keeps up. ``--app-latency-ms`` delays the
refills (stale periods are then played, and counted); ``--stall-ms`` pauses the stream part-way (the codec plays
silence and counts underruns). ``--capture WAV`` records from the codec's input at the same time (full duplex).

Run ``python -m dmaengine.sim.audio_demo`` (a test tone is generated when no input is given).
"""

from __future__ import annotations

import os
import sys
import tempfile
import wave

import numpy as np

from dmaengine import BusWidth, ConfigError, DataDirection, DmaError, SlaveConfig, TransferDirection

from ._demo import DEMO_EPILOG, DemoError, DemoParser, add_platform, at_least, check_writable, fail, platform_soc
from ._i2s import I2s, sine_frames
from ._soc import Soc

__all__ = ["build_parser", "main", "play", "write_tone"]

PROG = "dmaengine audio"


def write_tone(path: str, seconds: float = 1.0, rate_hz: int = 48_000, freq_hz: float = 440.0) -> None:
    """Write a stereo 16-bit test tone (a sine, the right channel an octave up) to ``path``."""
    n = round(seconds * rate_hz)
    left = np.frombuffer(sine_frames(freq_hz, rate_hz, 1, 2)(0, n), dtype="<i2")
    right = np.frombuffer(sine_frames(2 * freq_hz, rate_hz, 1, 2)(0, n), dtype="<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate_hz)
        w.writeframes(np.stack([left, right], axis=1).astype("<i2").tobytes())


def play(in_path: str, out_path: str, period_frames: int = 1024, periods: int = 4, app_latency_ms: float = 0.0,
         stall_ms: float = 0.0, bh_latency_ns: int = 1_000, capture_path: str | None = None, *,
         soc: Soc | None = None, device: str = "i2s0", vcd: str | None = None) -> dict[str, object]:
    """Play ``in_path`` through ``i2s0``; write the codec output to ``out_path``; return a report. With
    ``capture_path``, capture from the codec's input at the same time (cyclic DEV_TO_MEM, full duplex; the codec
    hears a 440 Hz sine) and write that as a WAV too. With ``soc`` (a board), play through its codec ``device``,
    whose format the WAV must have (``bh_latency_ns`` is then the board's). With ``vcd``, record a waveform of the
    SoC there."""
    with wave.open(in_path, "rb") as w:
        rate, nch, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        if width not in (1, 2):
            raise ConfigError(f"{8 * width}-bit samples are not supported (the codec plays 8- or 16-bit PCM)")
        pcm = w.readframes(w.getnframes())
    frame = nch * width
    frames = len(pcm) // frame
    period = period_frames * frame
    if soc is None:
        codec = I2s("i2s0", rate_hz=rate, channels=nch, sample_width=width, fifo_depth=16 * frame)
        soc = Soc(peripherals=[codec], bh_latency_ns=bh_latency_ns)
    else:
        board_codec = soc.peripheral(device)
        if not isinstance(board_codec, I2s):
            raise ConfigError(f"{device!r} is not an I2S codec but {board_codec!r}")
        codec = board_codec
        if (codec.rate_hz, codec.channels, codec.sample_width) != (rate, nch, width):
            raise ConfigError(f"{in_path!r} is {rate} Hz x {nch} ch x {width} B, but {device} plays "
                              f"{codec.rate_hz} Hz x {codec.channels} ch x {codec.sample_width} B")
    waveform = soc.record_vcd(vcd) if vcd is not None else None
    src = np.frombuffer(pcm, dtype=np.uint8)
    ring = np.zeros(period * periods, dtype=np.uint8)
    state = {"next_slot": 0, "next_byte": 0, "callbacks": 0}

    def fill(slot: int) -> None:
        """Copy the next period of input (silence after the end) into ring slot ``slot``."""
        b = state["next_byte"]
        chunk = src[b : b + period]
        dst = ring[slot * period : (slot + 1) * period]
        dst[: len(chunk)] = chunk
        dst[len(chunk) :] = 0
        state["next_byte"] = b + period

    for slot in range(periods):
        fill(slot)
    chan = soc.request_chan(device, "tx")
    mapping = soc.map(ring, DataDirection.TO_DEVICE)

    def refill() -> None:
        # The slot the DMA reads now; every slot before it (since the last refill) is free.
        _, st = chan.tx_status(cookie)
        reading = (ring.nbytes - st.residue) // period % periods
        while state["next_slot"] != reading:
            fill(state["next_slot"])
            state["next_slot"] = (state["next_slot"] + 1) % periods

    def on_period(_: object) -> None:
        state["callbacks"] += 1
        if app_latency_ms:
            soc.kernel.at(soc.now_ns + round(app_latency_ms * 1e6), refill, "app-refill")
        else:
            refill()

    # Bursts of 4 beats, a quarter of the 16-frame FIFO or less: the codec never waits for the bus.
    beat = frame if frame in (1, 2, 4) else 4
    beat = max(w for w in chan.get_slave_caps().dst_addr_widths if w <= beat and frame % w == 0)
    chan.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth(beat), dst_maxburst=4))
    tx = chan.prep_dma_cyclic(mapping.addr, ring.nbytes, period, TransferDirection.MEM_TO_DEV)
    tx.callback = on_period
    cookie = tx.submit()
    chan.issue_pending()
    captured: list[bytes] = []
    if capture_path is not None:
        # ALSA-style capture: the callback saves every period the DMA has finished writing.
        rx = soc.request_chan(device, "rx")
        rx.slave_config(SlaveConfig(src_addr=codec.rx_fifo_addr, src_addr_width=BusWidth(beat), src_maxburst=4))
        cring = np.zeros(period * periods, dtype=np.uint8)
        cmap = soc.map(cring, DataDirection.FROM_DEVICE)
        cstate = {"slot": 0}

        def on_capture(_: object) -> None:
            writing = (cring.nbytes - rx.tx_status(ccookie)[1].residue) // period % periods
            while cstate["slot"] != writing:
                k = cstate["slot"]
                captured.append(cring[k * period : (k + 1) * period].tobytes())
                cstate["slot"] = (k + 1) % periods

        rxd = rx.prep_dma_cyclic(cmap.addr, cring.nbytes, period, TransferDirection.DEV_TO_MEM)
        rxd.callback = on_capture
        ccookie = rxd.submit()
        rx.issue_pending()
    if stall_ms:
        soc.run_for(frames / rate / 3)
        chan.pause()
        soc.run_for(stall_ms / 1e3)
        chan.resume()
    # Play until the codec plays the last input frame (later by the silent frames a stall inserted), then stop.
    soc.wait_for(lambda: codec.tx is not None and codec.tx.clock is not None, None, None)
    soc.run(until=codec.frame_time_ns(frames - 1 + codec.underruns) / 1e9)
    codec.stop()
    chan.terminate_sync()
    chan.release()
    mapping.unmap()
    played = codec.played
    codec.write_wav(out_path)
    if capture_path is not None:
        rx.terminate_sync()
        rx.release()
        cmap.unmap()
        with wave.open(capture_path, "wb") as cw:
            cw.setnchannels(nch)
            cw.setsampwidth(width)
            cw.setframerate(rate)
            cw.writeframes(b"".join(captured))
    if waveform is not None:
        waveform.close()  # finishes the waveform
    out = np.frombuffer(played, dtype=np.uint8)
    n = min(len(out), len(src))
    stale = sum(1 for k in range(0, n, period) if not np.array_equal(out[k : k + period], src[k : k + period]))
    return {
        "input": in_path,
        "output": out_path,
        "frames": frames,
        "rate_hz": rate,
        "seconds": soc.now,
        "callbacks": state["callbacks"],
        "underruns": codec.underruns,
        "stale_periods": stale,
        "identical": played == pcm,
        "captured_frames": sum(len(c) for c in captured) // frame,
        "capture_overruns": codec.rx_overruns,
    }


def build_parser() -> DemoParser:
    """The command-line parser (also used by ``dmaengine audio``)."""
    p = DemoParser(prog="dmaengine audio", description=__doc__.split("\n\n")[0],
                   epilog=DEMO_EPILOG)
    p.add_argument("input", nargs="?", help="a PCM WAV file (default: a generated 1 s test tone)")
    p.add_argument("-o", "--output", default=None, help="where to write what the codec played (default: a temp file)")
    p.add_argument("--period-frames", type=int, default=1024, help="frames per period (default 1024)")
    p.add_argument("--periods", type=int, default=4, help="periods in the ring buffer (default 4)")
    p.add_argument("--app-latency-ms", type=float, default=0.0, help="delay each refill by this much")
    p.add_argument("--stall-ms", type=float, default=0.0, help="pause the stream this long part-way through")
    p.add_argument("--bh-latency-us", type=float, default=None,
                   help="interrupt to callback latency (default 1 us; a board sets its own)")
    p.add_argument("--capture", metavar="WAV", default=None,
                   help="also capture from the codec's input (a 440 Hz sine) while playing, into this WAV file")
    add_platform(p, "i2s0")
    p.add_argument("--vcd", metavar="FILE.vcd", default=None,
                   help="record a waveform of the SoC (request lines, bus, FIFO levels) into this VCD file")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the demo; 0 when the output is bit-identical to the input (or the run was asked to degrade it)."""
    try:
        args = build_parser().parse_args(argv)
        at_least(args, 1, "period_frames")
        at_least(args, 2, "periods")  # a ring of one period has no period to refill while the other plays
        at_least(args, 0, "app_latency_ms", "stall_ms")
        if args.bh_latency_us is not None:
            at_least(args, 0, "bh_latency_us")
        for path in (args.output, args.capture, args.vcd):
            if path is not None:
                check_writable(path)
        soc = platform_soc(args.platform)
        if soc is not None and args.bh_latency_us is not None:
            raise DemoError("--bh-latency-us does not apply to a board (it sets dmaengine,bh-latency-ns)")
    except DemoError as e:
        return fail(PROG, e)
    with tempfile.TemporaryDirectory() as tmp:
        src = args.input
        if src is None:
            src = os.path.join(tmp, "tone.wav")
            codec = soc.peripheral(args.device) if soc is not None else None
            write_tone(src, rate_hz=codec.rate_hz if isinstance(codec, I2s) else 48_000)
        out = args.output or os.path.join(tmp, "played.wav")
        try:
            bh_us = 1.0 if args.bh_latency_us is None else args.bh_latency_us
            r = play(src, out, args.period_frames, args.periods, args.app_latency_ms, args.stall_ms,
                     round(bh_us * 1e3), args.capture, soc=soc, device=args.device, vcd=args.vcd)
        except (DmaError, OSError, EOFError, wave.Error) as e:
            why = str(e) or type(e).__name__
            if isinstance(e, wave.Error) and "unknown format" in why:  # 3: IEEE float, 65534: extensible
                why = "not a PCM WAV file (float and extensible WAV formats are not supported)"
            print(f"{PROG}: error: cannot play {src}: {why}", file=sys.stderr)
            return 2
    print(f"played {r['frames']} frames at {r['rate_hz']} Hz through {args.device} in {r['seconds']:.6f} s of "
          "virtual time")
    print(f"period callbacks: {r['callbacks']}, codec underruns: {r['underruns']}, stale periods: {r['stale_periods']}")
    print(f"output {'is' if r['identical'] else 'is NOT'} bit-identical to the input"
          + (f" (written to {args.output})" if args.output else ""))
    if args.capture:
        print(f"captured {r['captured_frames']} frames into {args.capture}, {r['capture_overruns']} overruns")
    degraded = bool(args.app_latency_ms or args.stall_ms)
    return 0 if r["identical"] or degraded else 1


if __name__ == "__main__":
    sys.exit(main())
