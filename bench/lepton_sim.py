"""How fast the Lepton driver runs against its simulator, and what the per-frame work costs.

Run: .venv/bin/python bench/lepton_sim.py [frames]  (figures are CPU time of this process)

1. Driver + simulated camera on a ManualClock (discards scanned 16 packets per transfer, as on
   hardware): wall time per delivered frame, and per SPI read.
2. The driver's own per-frame work, without the simulator: checking the packet numbers and
   CRCs of 4 segments and reassembling the frame (what a Pi must do at 8.7 Hz).
3. The simulator's rendering of one frame into packets (scene → quantise → packets + CRC).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge.sensors import vospi
from edge.sensors.lepton_cci import LeptonCci
from edge.sensors.lepton_spi import LeptonSpi
from edge.sim.clock import ManualClock
from edge.sim.lepton import SimulatedLepton
from edge.sim.scene import StaticRoom


def end_to_end(model: str, frames: int) -> None:
    clock = ManualClock()
    sim = SimulatedLepton(StaticRoom(ffc_period_s=0), clock, model=model)
    cam = LeptonSpi(sim.spi, clock, LeptonCci(sim.cci, clock), model=model)
    cam.start()
    cam.read_frame()
    bytes0, xfers0, t_sim0 = sim.spi.bytes_read, sim.spi.transfers, clock.monotonic()
    t0 = time.process_time()
    for _ in range(frames):
        cam.read_frame()
    dt = time.process_time() - t0
    packets = (sim.spi.bytes_read - bytes0) / vospi.PACKET_BYTES
    xfers = sim.spi.transfers - xfers0
    sim_s = clock.monotonic() - t_sim0
    print(
        f"Lepton {model}: {frames} frames ({sim_s:.1f} s simulated) in {dt:.2f} s CPU = "
        f"{dt / frames * 1e3:.1f} ms/frame, {sim_s / dt:.1f}× real time; "
        f"{packets / frames:.0f} packets in {xfers / frames:.0f} SPI transfers per frame"
    )


def driver_work(repeat: int) -> None:
    geo = vospi.geometry("3.5", True)
    words = np.random.default_rng(0).integers(0, 65535, (geo.total_rows, geo.width))
    packets = vospi.frame_to_packets(words.astype(np.uint16), geo)
    numbers = np.arange(geo.packets_per_segment)
    t0 = time.process_time()
    for _ in range(repeat):
        asm = vospi.FrameAssembler(geo)
        for s in range(4):
            seg = np.frombuffer(packets[s].tobytes(), dtype=np.uint8).reshape(-1, 164)
            assert np.array_equal(vospi.packet_ids(seg) & 0xFFF, numbers)
            assert vospi.crc_ok(seg).all()
            asm.add(s + 1, seg)
    dt = (time.process_time() - t0) / repeat
    print(f"driver work per 160×120 frame (4 segments: ids, CRC, reassembly): {dt * 1e3:.2f} ms")


def render(repeat: int) -> None:
    clock = ManualClock()
    sim = SimulatedLepton(StaticRoom(ffc_period_s=0), clock)
    sim.state.telemetry = 1
    t0 = time.process_time()
    for i in range(repeat):
        sim.spi._frame_packets(i)
    dt = (time.process_time() - t0) / repeat
    print(f"simulator render of one 160×120 frame into packets: {dt * 1e3:.2f} ms")


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    end_to_end("3.5", n)
    end_to_end("2.5", n)
    driver_work(200)
    render(200)
