"""The VoSPI + CCI Lepton driver against the simulated camera (and real hardware on request)."""

from __future__ import annotations

import logging
import sys
import types
from typing import Any

import numpy as np
import pytest

from edge.clock import Clock
from edge.config import LeptonConfig
from edge.errors import SensorError, SensorSetupError, SensorTimeout, SyncError
from edge.sensors import vospi
from edge.sensors.flir_lepton import LeptonSpi, open_lepton, open_spidev
from edge.sensors.lepton_cci import LeptonCci
from edge.sim.clock import ManualClock, ScaledClock
from edge.sim.lepton import (
    KEEP_RENDERED,
    TRANSFER_OVERHEAD_S,
    SimulatedLepton,
    SimulatedVoSpi,
    quantise,
    saturation_k,
)
from edge.sim.lepton_cci import LeptonState
from edge.sim.scene import AirSample, KelvinArray, Scene, StaticRoom
from edge.sim.sources import open_simulated_lepton
from edge.types import ZERO_C_K, ThermalFrame
from tests.conftest import LeptonRig

MODELS = ["3.5", "2.5"]
GAIN_CODES = {"high": 0, "low": 1, "auto": 2}


class HotSpot:
    """A 22 °C room with a ``spot_c`` hot block in one corner; never runs an FFC."""

    def __init__(self, spot_c: float) -> None:
        self.spot_c = spot_c

    def air(self, t: float) -> AirSample:
        return AirSample(450.0, 22.0, 40.0)

    def thermal_k(self, t: float, height: int, width: int) -> KelvinArray:
        img = np.full((height, width), 22.0 + ZERO_C_K) + 0.01 * np.sin(t + np.arange(width))
        img[:10, :10] = self.spot_c + ZERO_C_K
        return img

    def ffc_active(self, t: float) -> bool:
        return False


def make(
    model: str, scene: Scene | None = None, gain: str = "low", **kw: Any
) -> tuple[LeptonSpi, SimulatedLepton, ManualClock, Scene]:
    clock = ManualClock()
    scene = scene or StaticRoom(seed=5, ffc_period_s=0)
    sim = SimulatedLepton(scene, clock, model=model)
    cam = LeptonSpi(sim.spi, clock, LeptonCci(sim.cci, clock), model=model, gain=gain, **kw)
    cam.start()
    return cam, sim, clock, scene


def expected(sim: SimulatedLepton, scene: Scene, frame: ThermalFrame, gain: str) -> np.ndarray:
    """The scene's image at the frame's render time, quantised as the camera does."""
    r = sim.spi.rendered_frame(frame.telemetry["frame_counter"] // 3)
    h, w = frame.pixels.shape
    res = frame.resolution_k
    return quantise(scene.thermal_k(r.t, h, w), res, saturation_k(GAIN_CODES[gain], res))


def read_until_frame(cam: LeptonSpi, tries: int = 10) -> tuple[ThermalFrame, list[SensorError]]:
    errors: list[SensorError] = []
    for _ in range(tries):
        try:
            return cam.read_frame(), errors
        except SensorError as err:
            errors.append(err)
    raise AssertionError(f"no frame after {tries} reads: {errors}")


@pytest.mark.parametrize("model", MODELS)
class TestFrames:
    def test_frames_equal_scene(self, model: str) -> None:
        """Every frame equals the scene's quantised image exactly, at the model's size."""
        cam, sim, _, scene = make(model)
        for _ in range(15):
            frame = cam.read_frame()
            assert frame.pixels.dtype == np.uint16
            assert frame.pixels.shape == ((120, 160) if model == "3.5" else (60, 80))
            assert frame.resolution_k == 0.1
            assert np.array_equal(frame.pixels, expected(sim, scene, frame, "low"))
        assert cam.health().status == "ok"

    def test_effective_rate(self, model: str) -> None:
        """New frames arrive at ~8.7 Hz on the clock, with increasing ids and timestamps."""
        cam, _, _, _ = make(model)
        frames = [cam.read_frame() for _ in range(25)]
        rate = (len(frames) - 1) / (frames[-1].t - frames[0].t)
        assert rate == pytest.approx(8.7, rel=0.02)
        assert [f.frame_id for f in frames] == list(range(1, 26))
        assert not any(f.frozen for f in frames)

    def test_ffc_frames_frozen(self, model: str) -> None:
        """Frames rendered while the shutter is closed are frozen repeats; the others are not."""
        scene = StaticRoom(seed=2, ffc_period_s=1.5, ffc_duration_s=0.6)
        cam, sim, _, _ = make(model, scene, gain="high")
        prev = None
        frozen = 0
        for _ in range(30):
            frame = cam.read_frame()
            r = sim.spi.rendered_frame(frame.telemetry["frame_counter"] // 3)
            if prev is not None:
                assert frame.frozen == scene.ffc_active(r.t)
            if frame.frozen:
                frozen += 1
                assert frame.telemetry["ffc_state"] == "in_progress"
                if prev is not None:
                    assert np.array_equal(frame.pixels, prev.pixels)
            prev = frame
        assert 4 <= frozen <= 18
        assert cam.health().frozen_frames == frozen

    @pytest.mark.parametrize(
        ("gain", "resolution", "top"),
        [("high", 0.01, 41315), ("low", 0.1, 6731), ("auto", 0.01, 65535)],
    )
    def test_saturation_per_gain(self, model: str, gain: str, resolution: float, top: int) -> None:
        """A 600 °C spot clips at 140 °C (high), 400 °C (low, 0.1 K) or 65535 (0.01 K cap)."""
        scene = HotSpot(600.0)
        cam, sim, _, _ = make(model, scene, gain=gain)
        frame = cam.read_frame()
        assert frame.resolution_k == resolution
        assert frame.pixels[:10, :10].min() == frame.pixels.max() == top
        assert np.array_equal(frame.pixels, expected(sim, scene, frame, gain))

    def test_settings_written_over_cci(self, model: str) -> None:
        """Start-up SETs radiometry, TLinear, 0.1 K, low gain, AGC off, telemetry footer."""
        _, sim, _, _ = make(model)
        writes = dict(sim.cci.setting_writes())
        assert writes == {
            0x4E11: 1, 0x4EC1: 1, 0x4EC5: 0, 0x0249: 1, 0x0101: 0, 0x0219: 1, 0x021D: 1,
        }  # fmt: skip
        assert sim.spi.mode == 3 and sim.spi.max_speed_hz == 18_000_000

    def test_without_cci(self, model: str) -> None:
        """With no CCI the camera's defaults are read: no telemetry, 0.01 K; frames still exact."""
        clock = ManualClock()
        scene = StaticRoom(seed=4, ffc_period_s=0)
        sim = SimulatedLepton(scene, clock, model=model)
        cam = LeptonSpi(sim.spi, clock, None, model=model, telemetry=False)
        cam.start()
        a, b = cam.read_frame(), cam.read_frame()
        assert a.telemetry == {} and a.resolution_k == 0.01
        renders = {r.t: r.pixels for r in sim.spi.rendered}
        assert any(np.array_equal(a.pixels, p) for p in renders.values())
        assert not np.array_equal(a.pixels, b.pixels)


class TestSimulatedStream:
    def test_faster_than_real_time_gives_discards(self) -> None:
        """A host reading while no time passes gets one segment, then only discard packets."""

        class Frozen:
            def monotonic(self) -> float:
                return 1.0

            def sleep(self, seconds: float) -> None:
                pass

        clock: Clock = Frozen()
        spi = SimulatedVoSpi(LeptonState(), StaticRoom(), clock, strict=True)
        spi.mode, spi.max_speed_hz = 3, 18_000_000
        ids = []
        for _ in range(3000):
            pkt = spi.readbytes(vospi.PACKET_BYTES)
            ids.append((pkt[0] << 8) | pkt[1])
        valid = [i for i in ids if not vospi.is_discard(i)]
        assert len(valid) <= 60

    def test_wrong_spi_mode_is_garbage(self) -> None:
        """Read in SPI mode 0 the stream is garbage and the driver returns errors, not frames."""
        cam, sim, _, _ = make("3.5")
        sim.spi.mode = 0
        with pytest.raises(SensorError):
            cam.read_frame()
        assert cam.health().status == "faulted"


@pytest.mark.parametrize("model", MODELS)
class TestFaults:
    def test_bit_error(self, model: str, caplog: pytest.LogCaptureFixture) -> None:
        """A CRC failure is counted and logged, the stream resyncs, and the next frame is exact."""
        cam, sim, _, scene = make(model)
        cam.read_frame()
        sim.spi.bit_errors = 1
        with caplog.at_level(logging.INFO, logger="edge.sensors.lepton_spi"):
            frame = cam.read_frame()
        assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]
        assert "CRC" in caplog.records[0].getMessage()
        assert "recovered after 1 failure" in caplog.records[1].getMessage()
        health = cam.health()
        assert health.crc_errors == 1 and health.resyncs == 1
        assert np.array_equal(frame.pixels, expected(sim, scene, frame, "low"))

    def test_lost_sync(self, model: str) -> None:
        """Garbled packets after a loss of sync give SyncErrors, a resync and good frames."""
        cam, sim, _, scene = make(model)
        cam.read_frame()
        sim.spi.lose_sync()
        frame = cam.read_frame()
        assert cam.health().sync_errors >= 1 and cam.health().resyncs >= 1
        assert np.array_equal(frame.pixels, expected(sim, scene, frame, "low"))

    def test_late_host_loses_sync(self, model: str) -> None:
        """A host that skips segment slots (100 ms) loses sync and recovers."""
        cam, sim, clock, scene = make(model)
        cam.read_frame()
        clock.advance(0.1)
        frame = cam.read_frame()
        assert cam.health().sync_errors >= 1
        assert np.array_equal(frame.pixels, expected(sim, scene, frame, "low"))

    def test_camera_reboot_recovered_by_cci_reboot(self, model: str) -> None:
        """After a brown-out the settings are lost; failures lead to a CCI reboot and frames."""
        cam, sim, _, scene = make(model, reboot_after_failures=3)
        cam.read_frame()
        sim.reboot_camera()
        frame, errors = read_until_frame(cam)
        assert errors and all(isinstance(e, SensorError) for e in errors)
        assert cam.health().reboots == 1 and sim.state.reboots == 2
        assert sim.state.telemetry == 1 and sim.state.gain_mode == 1
        assert np.array_equal(frame.pixels, expected(sim, scene, frame, "low"))
        assert cam.health().status == "ok"

    def test_hung_camera(self, model: str) -> None:
        """A camera sending only discards times out, is rebooted over CCI, then streams again."""
        cam, sim, _, _ = make(model, reboot_after_failures=2)
        cam.read_frame()
        sim.hang()
        with pytest.raises(SensorTimeout, match="discards only"):
            cam.read_frame()
        assert cam.health().status == "faulted"
        frame, _ = read_until_frame(cam)
        assert not sim.state.hung and cam.health().reboots == 1
        assert frame.pixels.dtype == np.uint16

    @pytest.mark.parametrize(("byte", "error"), [(0x00, SyncError), (0xFF, SensorTimeout)])
    def test_stuck_bus_reported_never_hangs(
        self, model: str, byte: int, error: type[SensorError]
    ) -> None:
        """A bus stuck low or high raises its error every time, within bounded clock time."""
        cam, sim, clock, _ = make(model, reboot_after_failures=3)
        sim.spi.miso_stuck = byte
        for _ in range(4):
            start = clock.monotonic()
            with pytest.raises(error):
                cam.read_frame()
            assert clock.monotonic() - start < 6.0
        assert cam.health().status == "faulted"
        assert cam.health().reboots >= 1

    def test_no_cci_no_reboot(self, model: str) -> None:
        """Without a CCI bus repeated failures are reported but no reboot is attempted."""
        clock = ManualClock()
        sim = SimulatedLepton(StaticRoom(), clock, model=model)
        cam = LeptonSpi(sim.spi, clock, None, model=model, telemetry=False, reboot_after_failures=1)
        cam.start()
        sim.hang()
        for _ in range(3):
            with pytest.raises(SensorTimeout):
                cam.read_frame()
        assert cam.health().reboots == 0 and cam.health().timeouts == 3


class TestSetup:
    def test_spidev_bufsiz_too_small(self) -> None:
        """Segment-sized reads over a 4096 B spidev buffer raise SensorSetupError with the fix."""
        clock = ManualClock()
        sim = SimulatedLepton(StaticRoom(), clock)

        class Bufsiz4096:
            mode, max_speed_hz, bits_per_word = 0, 0, 8

            def readbytes(self, n: int) -> list[int]:
                if n > 4096:
                    raise OSError(90, "Message too long")
                sim.spi.mode, sim.spi.max_speed_hz = self.mode, self.max_speed_hz
                return sim.spi.readbytes(n)

            def xfer2(
                self, values: list[int], speed_hz: int = 0, delay_usecs: int = 0
            ) -> list[int]:
                return self.readbytes(len(values))

            def open(self, bus: int, device: int) -> None: ...

            def close(self) -> None: ...

        cam = LeptonSpi(Bufsiz4096(), clock, LeptonCci(sim.cci, clock), max_transfer_bytes=65536)
        cam.start()
        with pytest.raises(SensorSetupError, match=r"spidev\.bufsiz=65536"):
            cam.read_frame()

    def test_open_spidev_missing_library(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without spidev installed the error says which extra to install."""
        monkeypatch.setitem(sys.modules, "spidev", None)
        with pytest.raises(SensorSetupError, match=r"firedetect\[pi\]"):
            open_spidev(0, 0, 18_000_000)

    @pytest.mark.parametrize(
        ("exc", "hint"), [(FileNotFoundError, "raspi-config"), (PermissionError, "group spi")]
    )
    def test_open_spidev_errors(
        self, monkeypatch: pytest.MonkeyPatch, exc: type[OSError], hint: str
    ) -> None:
        """A missing node or a permission problem names /dev/spidevB.D and how to fix it."""

        class SpiDev:
            def open(self, bus: int, device: int) -> None:
                raise exc(2, "nope")

        monkeypatch.setitem(sys.modules, "spidev", types.SimpleNamespace(SpiDev=SpiDev))
        with pytest.raises(SensorSetupError, match=rf"/dev/spidev0\.1.*{hint}"):
            open_spidev(0, 1, 18_000_000)

    @pytest.mark.parametrize("model", MODELS)
    def test_open_lepton_simulated(self, model: str) -> None:
        """The real driver on a simulated camera is started and streams the model's frames."""
        cfg = LeptonConfig(kind="simulated", model=model, gain="high")
        cam = open_simulated_lepton(cfg, ManualClock())
        frame = cam.read_frame()
        assert frame.resolution_k == 0.01
        assert frame.pixels.shape == ((120, 160) if model == "3.5" else (60, 80))
        assert cam.health().status == "ok"
        cam.close()

    def test_open_lepton_spi_injected(self) -> None:
        """open_lepton with kind "spi" uses injected transports and the config's reboot count."""
        clock = ManualClock()
        sim = SimulatedLepton(StaticRoom(), clock)
        cfg = LeptonConfig(kind="spi", reboot_after_failures=7)
        cam = open_lepton(cfg, clock, spi=sim.spi, cci_bus=sim.cci)
        assert isinstance(cam, LeptonSpi) and cam.reboot_after_failures == 7
        assert cam.read_frame().resolution_k == 0.1
        cam.close()
        assert sim.cci.closed and sim.spi.opened is None


class TestOnRig:
    def test_streams_frames(self, lepton_rig: LeptonRig) -> None:
        """The camera (simulated or real) streams uint16 frames near 8.7 Hz at room temperature."""
        cci = LeptonCci(lepton_rig.cci_bus, lepton_rig.clock)
        cam = LeptonSpi(lepton_rig.spi, lepton_rig.clock, cci, model=lepton_rig.model)
        cam.start()
        frames = [cam.read_frame() for _ in range(20)]
        dt = np.diff([f.t for f in frames])
        assert np.median(dt) == pytest.approx(1 / 8.7, rel=0.15)
        kelvin = np.mean([f.pixels.mean() * f.resolution_k for f in frames if not f.frozen])
        assert 250 < kelvin < 330

    @pytest.mark.hardware
    def test_reboot_on_hardware(self, lepton_rig: LeptonRig) -> None:
        """A CCI reboot of the real camera comes back configured and streaming."""
        if lepton_rig.sim is not None:
            pytest.skip("hardware only: pass --spi-dev /dev/spidev0.0")
        cci = LeptonCci(lepton_rig.cci_bus, lepton_rig.clock)
        cam = LeptonSpi(lepton_rig.spi, lepton_rig.clock, cci, model=lepton_rig.model)
        cam.start()
        cam.reboot()
        frame, _ = read_until_frame(cam)
        assert frame.telemetry["ffc_state"] in vospi.FFC_STATES


class TestScaledClock:
    def test_simulated_kind_on_a_scaled_clock(self) -> None:
        """On a real (scaled) clock the simulated camera still delivers whole, exact frames."""
        clock = ScaledClock(speed=5.0)
        scene = StaticRoom(seed=8, ffc_period_s=0)
        cam = open_simulated_lepton(LeptonConfig(kind="simulated", gain="high"), clock, scene)
        frames = [cam.read_frame() for _ in range(4)]
        assert all(f.pixels.shape == (120, 160) for f in frames)
        assert len({f.telemetry["frame_counter"] for f in frames}) == 4
        assert cam.health().status == "ok"


class ScriptedSpi:
    """An SpiDevice that plays back a fixed byte stream, then discard packets."""

    mode, max_speed_hz, bits_per_word = 3, 18_000_000, 8

    def __init__(self, stream: bytes, clock: ManualClock) -> None:
        self.stream = bytearray(stream)
        self.clock = clock

    def readbytes(self, n: int) -> list[int]:
        self.clock.advance(n * 8 / self.max_speed_hz)
        while len(self.stream) < n:
            self.stream += bytes([0x0F, 0x00]) + bytes(162)
        out, self.stream = self.stream[:n], self.stream[n:]
        return list(out)

    def xfer2(self, values: list[int], speed_hz: int = 0, delay_usecs: int = 0) -> list[int]:
        return self.readbytes(len(values))

    def open(self, bus: int, device: int) -> None: ...

    def close(self) -> None: ...


class TestSegmentNumbers:
    def test_ttt_read_from_packet_20_only(self) -> None:
        """Segment bits set in other packets are ignored; TTT = 0 in packet 20 drops a segment."""
        geo = vospi.geometry("3.5", False)
        rows, cols = np.indices((120, 160))
        words = ((rows * 160 + cols) % 65536).astype(np.uint16)
        packets = vospi.frame_to_packets(words, geo)
        packets[:, 0, 0] |= 0x70  # TTT = 7 in packet 0 of every segment: not covered by CRC
        packets[:, 59, 0] |= 0x20
        invalid = packets[1].copy()
        invalid[20, 0] &= 0x8F  # a TTT = 0 copy of segment 2
        discard = bytes([0x0F, 0x00]) + bytes(162)
        parts = [packets[0], invalid, discard, packets[1], packets[2], discard * 2, packets[3]]
        stream = discard * 3 + b"".join(p if isinstance(p, bytes) else p.tobytes() for p in parts)
        clock = ManualClock()
        cam = LeptonSpi(ScriptedSpi(stream, clock), clock, None, telemetry=False)
        frame = cam.read_frame()
        assert frame.pixels.tobytes() == words.tobytes()
        assert cam.health().sync_errors == 0 and cam.health().crc_errors == 0


class SteppingClock:
    """A clock with no ``advance``: time moves only by ``sleep``, which is recorded."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += max(0.0, seconds)


class TestBusTime:
    def test_transfer_sleeps_its_bus_time_on_a_real_clock(self) -> None:
        """Without ``advance`` on the clock a transfer sleeps n × 8 / speed on it (+ overhead)."""
        clock = SteppingClock()
        spi = SimulatedVoSpi(LeptonState(), StaticRoom(), clock)
        spi.mode, spi.max_speed_hz = 3, 18_000_000
        n = 16 * vospi.PACKET_BYTES
        spi.readbytes(n)
        spi.readbytes(vospi.PACKET_BYTES)
        bus = [n * 8 / 18e6, vospi.PACKET_BYTES * 8 / 18e6]
        assert clock.sleeps == pytest.approx([b + TRANSFER_OVERHEAD_S for b in bus])

    @pytest.mark.parametrize("model", MODELS)
    def test_driver_on_a_real_clock_never_runs_out_of_budget(self, model: str) -> None:
        """Paced by bus time on a clock without ``advance``, reads end in frames, not timeouts."""
        clock = SteppingClock()
        sim = SimulatedLepton(StaticRoom(seed=5, ffc_period_s=0), clock, model=model)
        cam = LeptonSpi(sim.spi, clock, LeptonCci(sim.cci, clock), model=model)
        cam.discard_wait_s = 0.0  # only the bus paces the reads
        cam.start()
        frames = [cam.read_frame() for _ in range(10)]
        assert [f.frame_id for f in frames] == list(range(1, 11))
        assert cam.health().status == "ok" and cam.health().resyncs == 0

    def test_late_wake_ups_do_not_slow_the_bus(self) -> None:
        """A clock that wakes every sleep 1 ms late still sees the bus at its nominal rate."""

        class LateClock(SteppingClock):
            def sleep(self, seconds: float) -> None:
                super().sleep(max(0.0, seconds) + 0.001)

        clock = LateClock()
        spi = SimulatedVoSpi(LeptonState(), StaticRoom(), clock)
        spi.mode, spi.max_speed_hz = 3, 18_000_000
        n = 16 * vospi.PACKET_BYTES
        for _ in range(100):
            spi.readbytes(n)
        nominal = 100 * (n * 8 / 18e6 + TRANSFER_OVERHEAD_S)
        assert nominal <= clock.t <= nominal + 0.002  # without catching up: + 100 ms

    def test_bus_time_can_be_switched_off(self) -> None:
        """``bus_time = False`` makes a transfer on a real clock return without sleeping."""
        clock = SteppingClock()
        spi = SimulatedVoSpi(LeptonState(), StaticRoom(), clock)
        spi.mode, spi.max_speed_hz = 3, 18_000_000
        spi.bus_time = False
        spi.readbytes(16 * vospi.PACKET_BYTES)
        assert clock.sleeps == []


@pytest.mark.parametrize("model", MODELS)
class TestDiscardPause:
    def test_driver_pauses_between_segments(self, model: str) -> None:
        """On discards only the driver pauses on the clock: the bus idles, frames stay whole."""
        cam, sim, clock, scene = make(model)
        cam.read_frame()
        bytes0, t0 = sim.spi.bytes_read, clock.monotonic()
        frames = [cam.read_frame() for _ in range(30)]
        busy_s = (sim.spi.bytes_read - bytes0) * 8 / 18e6
        assert busy_s / (clock.monotonic() - t0) < 0.8  # back-to-back reads keep it at 100 %
        counters = [f.telemetry["frame_counter"] // 3 for f in frames]
        assert counters == list(range(counters[0], counters[0] + 30))
        assert cam.health().sync_errors == 0 and cam.health().resyncs == 0
        assert np.array_equal(frames[-1].pixels, expected(sim, scene, frames[-1], "low"))

    def test_pause_leaves_time_to_read_the_next_segment(self, model: str) -> None:
        """The pause plus a scan plus a whole segment fit in one segment slot at 18 MHz."""
        cam, _, _, _ = make(model)
        geo = vospi.geometry(model, True)
        slot_s = 1.0 / (27.0 * geo.segments)
        read_s = (geo.segment_bytes + 16 * vospi.PACKET_BYTES) * 8 / 18e6
        assert 0 < cam.discard_wait_s <= slot_s - read_s


def test_simulator_keeps_only_recent_images() -> None:
    """The simulated camera keeps a bounded, small history of rendered images (memory)."""
    cam, sim, _, scene = make("3.5")
    frames = [cam.read_frame() for _ in range(KEEP_RENDERED + 10)]
    assert len(sim.spi.rendered) == KEEP_RENDERED <= 32
    assert np.array_equal(frames[-1].pixels, expected(sim, scene, frames[-1], "low"))
