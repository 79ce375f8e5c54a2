"""What a Lepton camera reports about itself, and the interface every camera has."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from edge.errors import CrcError, SensorTimeout, SyncError
from edge.types import ThermalFrame


@dataclass(frozen=True, slots=True)
class LeptonHealth:
    """What the daemon reads about the camera; ``status`` is starting/ok/recovering/faulted."""

    status: str
    frames: int
    frozen_frames: int
    crc_errors: int
    sync_errors: int
    timeouts: int
    resyncs: int
    reboots: int
    consecutive_failures: int
    last_frame_t: float | None
    last_error: str | None


class ThermalCamera(Protocol):
    """What ``open_lepton`` returns."""

    def read_frame(self) -> ThermalFrame: ...

    def health(self) -> LeptonHealth: ...

    def close(self) -> None: ...


class FailureCounters:
    """Failure bookkeeping shared by the SPI and USB cameras."""

    def __init__(self) -> None:
        self.frames = self.frozen = self.crc = self.sync = self.timeouts = 0
        self.resyncs = self.reboots = self.consecutive = 0
        self.last_frame_t: float | None = None
        self.last_error: str | None = None
        self.faulted = False

    def failure(self, err: Exception) -> None:
        self.consecutive += 1
        self.last_error = str(err)
        if isinstance(err, CrcError):
            self.crc += 1
        elif isinstance(err, SyncError):
            self.sync += 1
        elif isinstance(err, SensorTimeout):
            self.timeouts += 1

    def good(self, frame: ThermalFrame) -> None:
        self.frames += 1
        self.frozen += int(frame.frozen)
        self.consecutive = 0
        self.faulted = False
        self.last_frame_t = frame.t

    def health(self) -> LeptonHealth:
        if self.faulted:
            status = "faulted"
        elif self.consecutive:
            status = "recovering"
        else:
            status = "ok" if self.frames else "starting"
        return LeptonHealth(
            status,
            self.frames,
            self.frozen,
            self.crc,
            self.sync,
            self.timeouts,
            self.resyncs,
            self.reboots,
            self.consecutive,
            self.last_frame_t,
            self.last_error,
        )
