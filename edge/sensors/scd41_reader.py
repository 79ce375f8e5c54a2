"""The SCD41 reading loop: cadence, first-sample drop, fault detection and self-recovery.

``Scd41Reader(sensor, config)`` is meant to be driven by one daemon thread::

    reader = Scd41Reader(SCD41(transceiver, clock), config.sensors.scd41)
    reader.start()
    while not stop_event.is_set():
        reading = reader.read_next(deadline=clock.monotonic() + 10.0)
        if reading is not None:
            queue.put(reading)
    reader.stop()

``read_next`` never raises for a sensor fault and never waits past ``deadline`` by more
than one command's execution time (5 s for a single shot). Faults — a NACK or bus error
(retried once), a bad CRC (retried once), no data for more than three intervals
(``SensorTimeout``), repeated bus failures (``SensorGone``) — are logged at WARNING, kept
in ``last_error`` and ``health()``, and followed by a restart (clean start: wake → stop →
reinit → configure → start) with exponential backoff capped at ``max_backoff_s``. The
first reading after a restart logs the recovery at INFO.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from edge.clock import Clock
from edge.config.sensors import Scd41Config
from edge.errors import BusError, CrcError, SensorError, SensorGone, SensorTimeout
from edge.sensors.scd41 import SCD41
from edge.sensors.scd41_commands import SENSOR
from edge.types import GasReading

log = logging.getLogger(__name__)

MISSED_INTERVALS = 3  # data not ready for longer than this many intervals is a stall


@dataclass(frozen=True, slots=True)
class Scd41Health:
    """A snapshot of the reader: ``status`` is "starting", "ok", "stopped" or "fault: <reason>"."""

    status: str
    readings: int
    dropped: int
    faults: int
    recoveries: int
    restarts: int
    crc_errors: int
    bus_errors: int
    timeouts: int
    last_reading_t: float | None
    last_fault: str | None


class Scd41Reader:
    """Yields ``GasReading``s from an SCD41 on the configured cadence and heals itself.

    :param sensor: the driver (its transceiver and clock).
    :param config: mode and settings applied at every (re)start.
    :param clock: defaults to the sensor's clock; every wait of the reader is on it.
    :param poll_s: how often data-ready is polled once a sample is due.
    :param retry_backoff_s: the first restart delay after a failed restart; doubles each time.
    :param max_backoff_s: the cap of that delay.
    :param gone_after: consecutive bus failures (reads and restarts) that mean the chip is gone.
    """

    def __init__(
        self,
        sensor: SCD41,
        config: Scd41Config,
        clock: Clock | None = None,
        *,
        poll_s: float = 0.5,
        retry_backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        gone_after: int = 4,
    ) -> None:
        if poll_s <= 0 or retry_backoff_s <= 0 or max_backoff_s < retry_backoff_s:
            raise ValueError("poll_s and retry_backoff_s must be > 0, max_backoff_s ≥ retry")
        if gone_after < 2:
            raise ValueError(f"gone_after must be ≥ 2, got {gone_after}")
        self.sensor = sensor
        self.config = config
        self.clock: Clock = clock if clock is not None else sensor.clock
        self.poll_s = poll_s
        self.retry_backoff_s = retry_backoff_s
        self.max_backoff_s = max_backoff_s
        self.gone_after = gone_after
        self.interval_s = config.interval_s
        self.status = "starting"
        self.last_error: SensorError | None = None
        self.serial_number: int | None = None
        self._counts = dict.fromkeys(
            ("readings", "dropped", "faults", "recoveries", "restarts", "crc", "bus", "timeouts"), 0
        )
        self._last_reading_t: float | None = None
        self._need_start = True
        self._next_attempt = float("-inf")
        self._backoff = 0.0
        self._since = 0.0  # start of the current wait for data
        self._drop_next = True
        self._shot_pending = False
        self._consec_crc = 0
        self._consec_bus = 0

    # ------------------------------------------------------------------------ public

    def health(self) -> Scd41Health:
        """A snapshot of status and counters (cheap; safe to call from another thread)."""
        c = dict(self._counts)
        return Scd41Health(
            status=self.status,
            readings=c["readings"],
            dropped=c["dropped"],
            faults=c["faults"],
            recoveries=c["recoveries"],
            restarts=c["restarts"],
            crc_errors=c["crc"],
            bus_errors=c["bus"],
            timeouts=c["timeouts"],
            last_reading_t=self._last_reading_t,
            last_fault=None if self.last_error is None else str(self.last_error),
        )

    def start(self) -> bool:
        """Clean-start the chip and start the configured mode; False (and a fault) if it failed."""
        self._next_attempt = float("-inf")
        return self._try_start()

    def stop(self) -> None:
        """Stop measuring (best effort: a failure is logged, not raised)."""
        try:
            self.sensor.stop_periodic_measurement()
        except SensorError as err:
            log.warning("SCD41: stop failed: %s", err)
        self._need_start = True
        self.status = "stopped"

    def read_next(self, deadline: float) -> GasReading | None:
        """The next new reading, or None if ``deadline`` (on the clock) passes first."""
        while True:
            now = self.clock.monotonic()
            if now >= deadline:
                return None
            if self._need_start:
                if now < self._next_attempt:
                    self.clock.sleep(min(self._next_attempt, deadline) - now)
                else:
                    self._try_start()
                continue
            try:
                reading = self._poll(deadline)
            except SensorError as err:
                self._on_error(err)
                continue
            if reading is not None:
                return reading

    # ---------------------------------------------------------------------- internals

    def _start_mode(self) -> None:
        mode = self.config.mode
        if mode == "periodic":
            self.sensor.start_periodic_measurement()
        elif mode == "low_power":
            self.sensor.start_low_power_periodic_measurement()
        elif self.sensor.get_sensor_variant() != "SCD41":
            raise SensorError(SENSOR, "single-shot mode needs an SCD41; this chip is not one")

    def _try_start(self) -> bool:
        self._counts["restarts"] += 1
        try:
            info = self.sensor.clean_start(self.config)
            self._start_mode()
        except SensorError as err:
            if isinstance(err, BusError):
                self._counts["bus"] += 1
                self._consec_bus += 1
            elif isinstance(err, CrcError):
                self._counts["crc"] += 1
            self._fault(err, restart_failed=True)
            return False
        self.serial_number = info.serial_number
        self._need_start = False
        self._backoff = 0.0
        self._consec_bus = self._consec_crc = 0
        self._since = self.clock.monotonic()
        self._drop_next = True
        self._shot_pending = False
        if self.last_error is not None:
            log.info("SCD41 %012X restarted after: %s", info.serial_number, self.last_error)
        else:
            log.info("SCD41 %012X started in %s mode", info.serial_number, self.config.mode)
        return True

    def _poll(self, deadline: float) -> GasReading | None:
        """One step of waiting for data: sleep, poll data-ready, or read. None: not yet."""
        if self.config.mode == "single_shot" and not self._shot_pending:
            self._since = self.clock.monotonic()
            self.sensor.measure_single_shot()  # waits 5 s on the clock
            self._shot_pending = True
        now = self.clock.monotonic()
        if now - self._since > MISSED_INTERVALS * self.interval_s:
            raise SensorTimeout(
                SENSOR,
                f"no data for {now - self._since:.0f} s "
                f"(> {MISSED_INTERVALS} × {self.interval_s:.0f} s in {self.config.mode} mode)",
            )
        due = self._since + self.interval_s
        if now < due:
            self.clock.sleep(min(due, deadline) - now)
            return None
        if not self.sensor.get_data_ready_status():
            self._consec_bus = 0
            self.clock.sleep(max(0.0, min(now + self.poll_s, deadline) - now))
            return None
        m = self.sensor.read_measurement()
        t = self.clock.monotonic()
        self._since, self._shot_pending = t, False
        self._consec_bus = self._consec_crc = 0
        if self._drop_next:  # the first sample after a start is not trusted (datasheet §3.10)
            self._drop_next = False
            self._counts["dropped"] += 1
            log.debug("SCD41: dropped the first sample after start (%d ppm)", m.co2_ppm)
            return None
        if self.status.startswith("fault"):
            self._counts["recoveries"] += 1
            log.info("SCD41 recovered: reading again after %s", self.last_error)
        self.status = "ok"
        self._counts["readings"] += 1
        self._last_reading_t = t
        return GasReading(
            t=t,
            co2_ppm=float(m.co2_ppm),
            temperature_c=m.temperature_c,
            humidity_pct=m.humidity_pct,
        )

    def _on_error(self, err: SensorError) -> None:
        if isinstance(err, CrcError):
            self._counts["crc"] += 1
            self._consec_crc += 1
            self._shot_pending = False  # a corrupted single shot is retaken, not waited for
            if self._consec_crc < 2:
                log.warning("SCD41: %s; retrying once", err)
                return
        elif isinstance(err, SensorTimeout):
            self._counts["timeouts"] += 1
        elif isinstance(err, BusError):
            self._counts["bus"] += 1
            self._consec_bus += 1
            if self._consec_bus < 2:
                log.warning("SCD41: %s; retrying once", err)
                return
        self._fault(err, restart_failed=False)

    def _fault(self, err: SensorError, restart_failed: bool) -> None:
        if self._consec_bus >= self.gone_after and not isinstance(err, SensorGone):
            gone = SensorGone(SENSOR, f"no answer after {self._consec_bus} bus failures: {err}")
            gone.__cause__ = err
            err = gone
        if not self.status.startswith("fault"):
            self._counts["faults"] += 1
        self.last_error = err
        self.status = f"fault: {err}"
        self._need_start = True
        if restart_failed:
            self._backoff = min(self.max_backoff_s, max(self.retry_backoff_s, 2 * self._backoff))
        else:
            self._backoff = 0.0  # the first restart after a fault is immediate
        self._next_attempt = self.clock.monotonic() + self._backoff
        log.warning(
            "SCD41 fault: %s — restarting %s",
            err,
            f"in {self._backoff:.0f} s" if self._backoff else "now",
        )
