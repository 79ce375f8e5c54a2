"""A simulated FLIR Lepton: a VoSPI stream of real packets and a CCI, rendering a Scene.

``SimulatedLepton(scene, clock, model="3.5")`` holds the camera state and exposes
``.spi`` (a ``SimulatedVoSpi``, the ``SpiDevice`` the driver reads) and ``.cci`` (a
``SimulatedCci``, the ``SmBus`` it configures through). Pass both to
``edge.sensors.flir_lepton.LeptonSpi``.

The stream follows the datasheet (../shared/reference/sensors.md §2.1): a Lepton 3.x sends
segments 1, 2, 3, 4 of a new frame, then eight segments with TTT = 0, one segment slot every
1/(12 × 8.7) s, so new frames come at ~8.7 Hz; a Lepton 2.x sends whole 60-packet frames at
the 26 Hz core rate, each new image three times. Between segments, while booting or when the
host reads faster than the camera produces, the host gets discard packets.

Every transfer takes the time the bus takes: ``n × 8 / max_speed_hz`` plus a small per-transfer
overhead, slept on the clock, as the real ``spidev`` ioctl blocks (and releases the GIL) for
it. On a ``ManualClock`` that advances the clock instantly, so a test runs simulated seconds
in milliseconds; on a ``ScaledClock`` it is a real (scaled) sleep, so a driver reading discard
packets is paced by the bus instead of spinning a core. ``bus_time = False`` switches the
sleep off on real clocks (benchmarks compare against it).

Timing is strict on a ``ManualClock``: missing a segment slot loses sync (the stream shifts
by a few bytes, every packet is garbage) until the host idles ≥ 185 ms. On other clocks
(``ScaledClock`` for ``--simulate``) the camera is patient: a slow host gets the segments in
sequence, restarting at the current frame when it falls a whole frame behind.

Faults: ``bit_errors`` (CRC failures in the next N packets of valid segments), ``lose_sync()``,
``reboot_camera()`` (discards while it boots, settings back to defaults), ``hang()`` (discards
until rebooted over the CCI) and ``miso_stuck`` (the bus reads a constant byte, for ever).
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass

import numpy as np

from edge.clock import Clock
from edge.sensors import vospi
from edge.sim.lepton_cci import LeptonState, SimulatedCci
from edge.sim.scene import KelvinArray, Scene
from edge.types import ZERO_C_K, FrameArray

FRAME_RATE_HZ = 8.7
HIGH_GAIN_MAX_K = 140.0 + ZERO_C_K
LOW_GAIN_MAX_K = 400.0 + ZERO_C_K
FPA_TEMP_K = 301.5
MAX_SPI_HZ = 20_000_000
KEEP_RENDERED = 32
TRANSFER_OVERHEAD_S = 20e-6  # per ioctl: /CS set-up, the kernel's message queue
BUS_CATCH_UP_S = 0.005


def saturation_k(gain_mode: int, resolution_k: float) -> float:
    """The hottest apparent temperature the camera can report in ``gain_mode``.

    High gain (0) clips near 140 °C, low/auto (1, 2) near 400 °C; a 0.01 K TLinear
    resolution tops out at 65535 counts = 655.35 K (382.2 °C) whatever the gain.
    """
    gain_max = HIGH_GAIN_MAX_K if gain_mode == 0 else LOW_GAIN_MAX_K
    return min(gain_max, 65535 * resolution_k)


def quantise(kelvin: KelvinArray, resolution_k: float, max_k: float) -> FrameArray:
    """Kelvin → TLinear counts, saturated at ``max_k`` (what the camera sends)."""
    top = min(65535, math.floor(max_k / resolution_k + 1e-9))
    counts = np.clip(np.rint(kelvin / resolution_k), 0, top)
    return counts.astype(np.uint16)


@dataclass(frozen=True, slots=True)
class RenderedFrame:
    """One image the simulated camera produced, for tests to compare against."""

    index: int
    t: float
    pixels: FrameArray
    frozen: bool


class SimulatedVoSpi:
    """The Lepton's VoSPI output as an ``SpiDevice``: ``readbytes``/``xfer2`` return bytes."""

    def __init__(
        self, state: LeptonState, scene: Scene, clock: Clock, strict: bool | None = None
    ) -> None:
        self.state = state
        self.scene = scene
        self.clock = clock
        self._advance = getattr(clock, "advance", None)
        self.strict = self._advance is not None if strict is None else strict
        self.mode = 0
        self.max_speed_hz = 500_000
        self.bits_per_word = 8
        self.opened: tuple[int, int] | None = None
        self.t0 = clock.monotonic()
        three = state.model.startswith("3")
        self.slots_per_frame = 12 if three else 3
        self.slot_s = 1.0 / (FRAME_RATE_HZ * self.slots_per_frame)
        self.bit_errors = 0
        self.miso_stuck: int | None = None
        self.desynced = False
        self.bytes_read = 0
        self.transfers = 0
        self.bus_time = True
        self._late = 0.0  # how late the last bus-time sleep woke, s
        # The last few images, for tests to compare frames with (38 kB each at 160×120;
        # the simulator runs inside the daemon in simulation, so keep it small).
        self.rendered: collections.deque[RenderedFrame] = collections.deque(maxlen=KEEP_RENDERED)
        self._fifo = bytearray()
        self._last_slot = -1
        self._last_read_end: float | None = None
        self._frames: dict[int, np.ndarray] = {}
        self._last_pixels: FrameArray | None = None
        self._ffc_seen = False
        self._rng = np.random.default_rng(7)
        discard = np.zeros(vospi.PACKET_BYTES, dtype=np.uint8)
        discard[0], discard[1] = 0x0F, 0x00
        self._discard = discard.tobytes()
        self._discard_list = list(self._discard)

    # -- SpiDevice ------------------------------------------------------------------------

    def open(self, bus: int, device: int) -> None:
        self.opened = (bus, device)

    def close(self) -> None:
        self.opened = None

    def xfer2(self, values: list[int], speed_hz: int = 0, delay_usecs: int = 0) -> list[int]:
        return self.readbytes(len(values))

    def readbytes(self, n: int) -> list[int]:
        now = self.clock.monotonic()
        if self._last_read_end is None or now - self._last_read_end >= vospi.RESYNC_IDLE_S:
            self._resync(now)
        speed = max(1, min(self.max_speed_hz, 2 * MAX_SPI_HZ))
        byte_s = 8.0 / speed
        self.bytes_read += n
        self.transfers += 1
        if self.miso_stuck is not None:
            return self._finish(now, n * byte_s, [self.miso_stuck] * n)
        if n == vospi.PACKET_BYTES and self._idle(now):
            return self._finish(now, n * byte_s, self._discard_list[:])  # the common case
        out = bytearray()
        while len(out) < n:
            if not self._fifo:
                self._generate(now + len(out) * byte_s, n - len(out), byte_s)
            take = min(n - len(out), len(self._fifo))
            out += self._fifo[:take]
            del self._fifo[:take]
        if self.mode != 3 or self.max_speed_hz > MAX_SPI_HZ:
            out = bytearray(b ^ 0x5A for b in out)  # wrong clock phase or too fast: garbage
        return self._finish(now, n * byte_s, list(out))

    def _idle(self, now: float) -> bool:
        # Between segments with a healthy bus: the next packet is a discard.
        return (
            not self._fifo
            and self.mode == 3
            and self.max_speed_hz <= MAX_SPI_HZ
            and (self._slot(now) <= self._last_slot or now < self.state.boot_until)
        )

    def _finish(self, now: float, duration_s: float, out: list[int]) -> list[int]:
        # The transfer lasts as long as the bus takes to clock its bytes out.
        duration_s += TRANSFER_OVERHEAD_S
        if self._advance is not None:
            self._advance(duration_s)
            self._last_read_end = now + duration_s
        else:
            if self.bus_time:
                # A thread woken late (a loaded machine) gets up to BUS_CATCH_UP_S of that
                # back on its next transfers, so the bus keeps its nominal rate on average.
                start = self.clock.monotonic()
                target = start + max(0.0, duration_s - self._late)
                self.clock.sleep(target - start)
                owed = max(0.0, self._late - duration_s) + self.clock.monotonic() - target
                self._late = min(BUS_CATCH_UP_S, max(0.0, owed))
            self._last_read_end = self.clock.monotonic()
        return out

    # -- faults ---------------------------------------------------------------------------

    def lose_sync(self) -> None:
        """Shift the stream by a few bytes: every packet is garbage until a resync."""
        self.desynced = True
        self._fifo[0:0] = self._rng.integers(0, 256, 37, dtype=np.uint8).tobytes()

    # -- the stream -----------------------------------------------------------------------

    def _slot(self, t: float) -> int:
        return math.floor((t - self.t0) / self.slot_s + 1e-9)

    def _resync(self, now: float) -> None:
        self._fifo.clear()
        self.desynced = False
        self._last_slot = self._slot(now)

    def _generate(self, t: float, want: int, byte_s: float) -> None:
        """Queue the packet(s) the camera sends from time ``t``; ``want`` bytes are asked for."""
        slot = self._slot(t)
        booting = t < self.state.boot_until or self.state.hung
        if booting or slot <= self._last_slot:
            # Discards until the next segment slot (or the end of the boot), in one go.
            until = self.t0 + (slot + 1) * self.slot_s
            if booting:
                until = t + 1.0 if self.state.hung else self.state.boot_until
            packet_s = vospi.PACKET_BYTES * byte_s
            count = min(-(-want // vospi.PACKET_BYTES), max(1, int((until - t) / packet_s)))
            self._fifo += self._discard * count
            return
        if self.strict and not self.desynced and slot > self._last_slot + 1:
            self._last_slot = slot  # the host missed a segment slot: the camera loses sync
            self.lose_sync()
            self._fifo += self._discard
            return
        if not self.strict and slot - self._last_slot <= self.slots_per_frame:
            slot = self._last_slot + 1  # a patient camera: the next segment in sequence
        elif not self.strict:
            slot -= slot % self.slots_per_frame  # over a frame behind: restart at this frame
        self._last_slot = slot
        frame, pos = divmod(slot, self.slots_per_frame)
        packets = self._frame_packets(frame)
        seg = pos % packets.shape[0]
        segment = packets[seg].copy()
        valid = pos < packets.shape[0] if packets.shape[0] > 1 else True
        if packets.shape[0] > 1 and not valid:
            segment[vospi.SEGMENT_PACKET, 0] &= 0x8F  # TTT = 0: the whole segment is invalid
        if valid and self.bit_errors > 0:
            hit = min(self.bit_errors, segment.shape[0])
            segment[:hit, 100] ^= 0x10
            self.bit_errors -= hit
        self._fifo += segment.tobytes()

    def _frame_packets(self, index: int) -> np.ndarray:
        cached = self._frames.get(index)
        if cached is not None:
            return cached
        t = self.t0 + index * self.slots_per_frame * self.slot_s
        st = self.state
        telemetry = bool(st.telemetry)
        geo = vospi.geometry(st.model, telemetry)
        ffc = self.scene.ffc_active(t) or t < st.ffc_until
        if ffc and self._last_pixels is not None:
            pixels = self._last_pixels
        else:
            kelvin = self.scene.thermal_k(t, geo.height, geo.width)
            pixels = quantise(kelvin, st.resolution_k, saturation_k(st.gain_mode, st.resolution_k))
            self._last_pixels = pixels
        self._ffc_seen = self._ffc_seen or ffc
        words = np.zeros((geo.total_rows, geo.width), dtype=np.uint16)
        words[: geo.height] = pixels
        if telemetry:
            state = "in_progress" if ffc else ("complete" if self._ffc_seen else "never")
            row = vospi.encode_telemetry(
                geo.telemetry_rows * geo.width,
                uptime_ms=int((t - self.t0) * 1000),
                ffc_state=state,
                frame_counter=index * 3,
                frame_mean=int(pixels.mean()),
                fpa_temp_k=FPA_TEMP_K,
            )
            words[geo.height :] = row.reshape(geo.telemetry_rows, geo.width)
        packets = vospi.frame_to_packets(words, geo)
        self._frames = {index: packets}
        self.rendered.append(RenderedFrame(index, t, pixels, ffc))
        return packets

    def rendered_frame(self, index: int) -> RenderedFrame:
        """The image rendered as frame ``index`` (the telemetry frame counter // 3)."""
        for r in self.rendered:
            if r.index == index:
                return r
        raise KeyError(f"frame {index} was not rendered (or is too old)")


class SimulatedLepton:
    """A whole simulated camera: shared state, the VoSPI side and the CCI side."""

    def __init__(
        self,
        scene: Scene,
        clock: Clock,
        model: str = "3.5",
        strict: bool | None = None,
        boot_s: float = 1.5,
    ) -> None:
        vospi.geometry(model, False)  # validates the model name
        self.clock = clock
        self.state = LeptonState(model=model)
        self.spi = SimulatedVoSpi(self.state, scene, clock, strict=strict)
        self.cci = SimulatedCci(self.state, clock, boot_s=boot_s)

    def reboot_camera(self, boot_s: float | None = None) -> None:
        """The camera restarts by itself (a brown-out): discards while booting, defaults after."""
        self.state.reset()
        self.state.reboots += 1
        self.state.boot_until = self.clock.monotonic() + (boot_s or self.cci.boot_s)

    def hang(self) -> None:
        """The camera stops producing frames (discards only) until an OEM reboot."""
        self.state.hung = True
