"""The Lepton over VoSPI (frames) and CCI (settings, reboot): ``LeptonSpi`` and ``open_spidev``.

See ``edge.sensors.flir_lepton`` for the behaviour every camera shares (frozen frames,
errors, health); this module holds the SPI transport and the VoSPI read loop.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from edge.clock import Clock
from edge.errors import BusError, CrcError, SensorError, SensorSetupError, SensorTimeout, SyncError
from edge.sensors import vospi
from edge.sensors.lepton_cci import LeptonCci
from edge.sensors.lepton_health import FailureCounters, LeptonHealth
from edge.types import FrameArray, SpiDevice, ThermalFrame

log = logging.getLogger(__name__)

SENSOR = "lepton"
RESYNC_WAIT_S = 0.2  # > 185 ms of idle clock: the camera drops sync and restarts
CORE_HZ = 27.0  # the camera's internal frame rate, rounded up (a segment slot at most this long)
MAX_DISCARD_WAIT_S = 0.005
SPIDEV_BUFSIZ = Path("/sys/module/spidev/parameters/bufsiz")


def discard_wait_s(geo: vospi.Geometry, speed_hz: int, scan_packets: int) -> float:
    """How long the driver may pause after a transfer of discard packets only, in seconds.

    The camera offers a new segment every ``1 / (CORE_HZ × segments)`` s and it must be read
    out before the next one is due; a pause of half the slack left after reading a segment
    and one scan cannot miss it, and stays far below the 185 ms that would drop sync.
    """
    slot_s = 1.0 / (CORE_HZ * geo.segments)
    byte_s = 8.0 / speed_hz
    slack = slot_s - (geo.segment_bytes + scan_packets * vospi.PACKET_BYTES) * byte_s
    return min(MAX_DISCARD_WAIT_S, max(0.0, slack / 2))


def spidev_bufsiz(path: Path = SPIDEV_BUFSIZ) -> int:
    """The kernel's largest SPI transfer (``spidev.bufsiz``, 4096 unless raised at boot)."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return 4096


def open_spidev(bus: int, device: int, speed_hz: int) -> SpiDevice:
    """``spidev.SpiDev`` opened on /dev/spidev<bus>.<device>, mode 3, or how to fix it."""
    node = f"/dev/spidev{bus}.{device}"
    try:
        import spidev
    except ImportError as err:
        raise SensorSetupError(
            SENSOR, "spidev is not installed", "pip install 'firedetect[pi]'"
        ) from err
    dev: SpiDevice = spidev.SpiDev()
    try:
        dev.open(bus, device)
    except FileNotFoundError as err:
        raise SensorSetupError(
            SENSOR,
            f"{node} does not exist",
            "enable SPI in raspi-config (Interface Options → SPI) and reboot",
        ) from err
    except PermissionError as err:
        raise SensorSetupError(
            SENSOR,
            f"no permission to open {node}",
            "add the user to group spi (sudo usermod -aG spi USER) and log in again",
        ) from err
    dev.mode = 3
    dev.max_speed_hz = speed_hz
    dev.bits_per_word = 8
    return dev


class LeptonSpi:
    """A Lepton 3.x/2.x over VoSPI (frames) and, optionally, CCI (settings, reboot).

    ``spi`` is an opened ``SpiDevice`` (``open_spidev`` or ``SimulatedLepton.spi``); ``cci``
    configures the camera on ``start()`` (without it the camera's own settings must match
    ``telemetry`` and the default 0.01 K). ``max_transfer_bytes`` is the kernel's
    ``spidev.bufsiz``; ``frame_timeout_s`` bounds each ``read_frame`` on ``clock``;
    ``boot_wait_s`` is slept after an OEM reboot before reconfiguring.
    """

    def __init__(
        self,
        spi: SpiDevice,
        clock: Clock,
        cci: LeptonCci | None = None,
        *,
        model: str = "3.5",
        gain: str = "low",
        speed_hz: int = 18_000_000,
        telemetry: bool = True,
        reboot_after_failures: int = 10,
        frame_timeout_s: float = 1.0,
        max_transfer_bytes: int = 4096,
        boot_wait_s: float = 2.0,
    ) -> None:
        if not 0 < speed_hz <= 20_000_000:
            raise ValueError(f"VoSPI clock must be ≤ 20 MHz, got {speed_hz} Hz")
        if max_transfer_bytes < vospi.PACKET_BYTES:
            raise ValueError(f"max_transfer_bytes must be ≥ {vospi.PACKET_BYTES}")
        self.spi = spi
        self.clock = clock
        self.cci = cci
        self.model = model
        self.gain = gain
        self.speed_hz = speed_hz
        self.telemetry = telemetry
        self.reboot_after_failures = reboot_after_failures
        self.frame_timeout_s = frame_timeout_s
        self.boot_wait_s = boot_wait_s
        self.geo = vospi.geometry(model, telemetry)
        self._chunk_packets = max_transfer_bytes // vospi.PACKET_BYTES
        self._scan_packets = min(self._chunk_packets, 16)
        # Between segments the camera sends only discards: pause instead of re-reading them
        # back to back, which would keep the bus busy and a CPU core awake for nothing.
        self.discard_wait_s = discard_wait_s(self.geo, speed_hz, self._scan_packets)
        self._assembler = vospi.FrameAssembler(self.geo)
        self._numbers = np.arange(self.geo.packets_per_segment)
        self.resolution_k = 0.01
        self._n = FailureCounters()
        self._frame_id = 0
        self._prev: FrameArray | None = None
        self._repeats = 0
        self._budget = 0

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Set the SPI mode, configure the camera over CCI and start in sync."""
        self.spi.mode = 3
        self.spi.max_speed_hz = self.speed_hz
        self.spi.bits_per_word = 8
        if self.cci is not None:
            self.resolution_k = self.cci.configure(self.gain, self.telemetry)
        log.info(
            "Lepton %s on VoSPI at %d Hz, gain %s, %.2f K/count",
            self.model,
            self.speed_hz,
            self.gain,
            self.resolution_k,
        )
        self._resync(count=False)

    def close(self) -> None:
        """Release the SPI device and the CCI bus."""
        self.spi.close()
        if self.cci is not None:
            self.cci.bus.close()

    def __enter__(self) -> LeptonSpi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def health(self) -> LeptonHealth:
        """Counters and state for the daemon's status reports."""
        return self._n.health()

    def reboot(self) -> None:
        """OEM reboot over CCI, wait for the boot, reapply the settings, resync."""
        if self.cci is None:
            raise SensorError(SENSOR, "cannot reboot the camera: no CCI bus configured")
        log.warning("rebooting the Lepton over CCI after %d failures", self._n.consecutive)
        self.cci.reboot()
        self.clock.sleep(self.boot_wait_s)
        self.resolution_k = self.cci.configure(self.gain, self.telemetry)
        self._n.reboots += 1
        self._n.consecutive = 0
        self._resync(count=False)

    # -- frames ---------------------------------------------------------------------------

    def read_frame(self) -> ThermalFrame:
        """The next frame (possibly ``frozen``); errors as in ``edge.sensors.flir_lepton``."""
        deadline = self.clock.monotonic() + self.frame_timeout_s
        self._budget = self._packet_budget()
        rebooted = False
        last: SensorError | None = None
        while True:
            try:
                seg, packets = self._read_segment(deadline)
            except (SyncError, CrcError) as err:
                last = err
                self._n.failure(err)
                self._assembler.reset()
                if self._n.consecutive == 1:
                    log.warning("Lepton VoSPI: %s; resyncing", err)
                else:
                    log.debug("Lepton VoSPI: %s; resyncing", err)
                if self._should_reboot(rebooted):
                    self._reboot_or_fault()
                    rebooted = True
                    deadline = self.clock.monotonic() + self.frame_timeout_s
                    self._budget = self._packet_budget()
                else:
                    self._resync()
                continue
            except SensorTimeout as err:
                self._n.failure(err)
                self._n.faulted = True
                if self._should_reboot(rebooted):
                    self._reboot_or_fault()
                if last is not None:
                    raise type(last)(
                        SENSOR, f"no frame in {self.frame_timeout_s} s: {last}"
                    ) from err
                raise
            except SensorError as err:
                self._n.failure(err)
                self._n.faulted = True
                raise
            if seg == 0:
                continue
            words = self._assembler.add(seg, packets)
            if words is None:
                continue
            frame = self._make_frame(words)
            if frame is not None:
                if self._n.consecutive:
                    log.info("Lepton stream recovered after %d failure(s)", self._n.consecutive)
                self._n.good(frame)
                return frame

    def _should_reboot(self, rebooted: bool) -> bool:
        return (
            self.cci is not None
            and not rebooted
            and self._n.consecutive >= self.reboot_after_failures
        )

    def _reboot_or_fault(self) -> None:
        try:
            self.reboot()
        except SensorError as err:
            log.error("Lepton reboot failed: %s", err)
            self._n.last_error = f"reboot failed: {err}"
            self._resync()

    def _packet_budget(self) -> int:
        per_s = self.speed_hz / (8 * vospi.PACKET_BYTES)
        return int(2 * self.frame_timeout_s * per_s) + 8 * self.geo.packets_per_segment

    def _resync(self, count: bool = True) -> None:
        # /CS stays deasserted between transfers: idling > 185 ms drops the camera's sync.
        self.clock.sleep(RESYNC_WAIT_S)
        if count:
            self._n.resyncs += 1

    def _read(self, n: int) -> bytes:
        try:
            data = self.spi.readbytes(n)
        except OSError as err:
            if getattr(err, "errno", None) == 90:
                raise SensorSetupError(
                    SENSOR,
                    f"an SPI transfer of {n} B is larger than spidev.bufsiz",
                    "boot with spidev.bufsiz=65536 in cmdline.txt, or lower max_transfer_bytes",
                ) from err
            raise BusError(SENSOR, f"SPI read of {n} B failed: {err}") from err
        if len(data) != n:
            raise BusError(SENSOR, f"SPI read returned {len(data)} of {n} B")
        self._budget -= (n + vospi.PACKET_BYTES - 1) // vospi.PACKET_BYTES
        return bytes(data)

    def _read_segment(self, deadline: float) -> tuple[int, vospi.ByteArray]:
        """One whole segment (packets 0…P−1): (TTT, packets); TTT 0 = invalid segment."""
        while True:
            if self._budget <= 0 or self.clock.monotonic() >= deadline:
                raise SensorTimeout(
                    SENSOR, f"no valid segment within {self.frame_timeout_s} s (discards only)"
                )
            # Scan several packets per transfer: the stream is packet-aligned, so the
            # segment starts at the first packet that is not a discard.
            scan = np.frombuffer(self._read(self._scan_packets * vospi.PACKET_BYTES), np.uint8)
            scan = scan.reshape(-1, vospi.PACKET_BYTES)
            ids = vospi.packet_ids(scan)
            live = (ids & vospi.DISCARD_MASK) != vospi.DISCARD_MASK
            if not live.any():
                self.clock.sleep(self.discard_wait_s)
                continue
            start = int(np.argmax(live))
            if vospi.packet_number(int(ids[start])) != 0:
                number = vospi.packet_number(int(ids[start]))
                raise SyncError(SENSOR, f"packet {number} where packet 0 was expected")
            break
        chunks = [scan[start:].tobytes()]
        left = self.geo.packets_per_segment - (len(scan) - start)
        while left > 0:
            take = min(left, self._chunk_packets)
            chunks.append(self._read(take * vospi.PACKET_BYTES))
            left -= take
        packets = np.frombuffer(b"".join(chunks), dtype=np.uint8).reshape(-1, vospi.PACKET_BYTES)
        numbers = vospi.packet_ids(packets) & 0x0FFF
        if not np.array_equal(numbers, self._numbers):
            bad = int(np.argmax(numbers != self._numbers))
            raise SyncError(SENSOR, f"packet {int(numbers[bad])} at position {bad} of a segment")
        seg = 1
        if self.geo.segments > 1:
            seg = vospi.segment_number(int(vospi.packet_ids(packets[20:21])[0]))
            if seg == 0:
                return 0, packets  # invalid segment: dropped unchecked
            if seg > self.geo.segments:
                raise SyncError(SENSOR, f"segment number {seg} (allowed 0–{self.geo.segments})")
        ok = vospi.crc_ok(packets)
        if not ok.all():
            raise CrcError(
                SENSOR,
                f"{int((~ok).sum())} packet(s) of segment {seg} failed the CRC "
                f"(first: packet {int(np.argmin(ok))})",
            )
        return seg, packets

    def _make_frame(self, words: vospi.WordArray) -> ThermalFrame | None:
        pixels = np.ascontiguousarray(words[: self.geo.height])
        telemetry: dict[str, Any] = {}
        if self.geo.telemetry_rows:
            telemetry = vospi.parse_telemetry(words[self.geo.height :].ravel())
        same = self._prev is not None and np.array_equal(pixels, self._prev)
        if same:
            self._repeats += 1
            if self.geo.segments == 1 and self._repeats % 3:
                return None  # a Lepton 2.x sends each image three times
        else:
            self._repeats = 0
        self._prev = pixels
        frozen = same or telemetry.get("ffc_state") == "in_progress"
        self._frame_id += 1
        return ThermalFrame(
            t=self.clock.monotonic(),
            pixels=pixels,
            resolution_k=self.resolution_k,
            frame_id=self._frame_id,
            frozen=frozen,
            telemetry=telemetry,
        )
