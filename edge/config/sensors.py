"""Sensor configuration: which SCD41 and Lepton, on which bus, in which mode."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from edge.config.base import Section

#: Seconds between readings per SCD41 measurement mode.
SCD41_INTERVAL_S = {"periodic": 5.0, "low_power": 30.0, "single_shot": 5.0}
#: How old a sensor's newest data may be before it counts as missing: the default of
#: ``stale_after_s`` (a fault) and the feature set's freshness (``edge.features.FeatureParams``
#: ``gas_stale_s``/``frame_stale_s``, recorded in every model manifest).
SCD41_STALE_AFTER_S = 30.0
LEPTON_STALE_AFTER_S = 5.0
#: (columns, rows) of each Lepton model's frame.
LEPTON_SIZE = {"3.5": (160, 120), "3.1R": (160, 120), "2.5": (80, 60), "2.0": (80, 60)}


class Scd41Config(Section):
    """The SCD41 CO2/temperature/humidity sensor."""

    kind: Literal["i2c", "simulated"] = Field(
        "i2c", description="'i2c' for the real chip, 'simulated' for the byte-level simulator"
    )
    bus: str = Field("/dev/i2c-1", description="I2C device node")
    address: int = Field(0x62, ge=0x03, le=0x77, description="7-bit I2C address")
    mode: Literal["periodic", "low_power", "single_shot"] = Field(
        "periodic", description="measurement mode: every 5 s, every 30 s, or on demand"
    )
    temperature_offset_c: float = Field(
        4.0, ge=0.0, le=20.0, description="self-heating offset subtracted by the chip, °C"
    )
    altitude_m: int = Field(0, ge=0, le=3000, description="installation altitude, m")
    ambient_pressure_hpa: int | None = Field(
        None, ge=700, le=1200, description="ambient pressure, hPa; overrides altitude when set"
    )
    asc_enabled: bool = Field(
        True, description="automatic self-calibration (assumes weekly exposure to fresh air)"
    )
    stale_after_s: float = Field(
        SCD41_STALE_AFTER_S, gt=0, le=600,
        description="no reading for this long marks the sensor faulted"
    )

    @property
    def interval_s(self) -> float:
        """Seconds between two readings in ``mode`` (datasheet: 5 s, 30 s; single shot on demand
        every 5 s, its 5-s conversion back to back)."""
        return SCD41_INTERVAL_S[self.mode]

    @property
    def startup_grace_s(self) -> float:
        """How much longer than ``stale_after_s`` the first reading may take: power-up, the
        clean start, the dropped first sample, then the first reading."""
        return 2.0 * self.interval_s + 5.0


class LeptonConfig(Section):
    """The FLIR Lepton thermal camera."""

    kind: Literal["spi", "usb", "simulated"] = Field(
        "spi", description="'spi' (VoSPI + CCI), 'usb' (PureThermal via flirpy), 'simulated'"
    )
    model: Literal["3.5", "3.1R", "2.5", "2.0"] = Field(
        "3.5", description="camera model: 3.x is 160×120, 2.x is 80×60"
    )
    spi_bus: int = Field(0, ge=0, le=6, description="SPI bus number (/dev/spidevB.D)")
    spi_device: int = Field(0, ge=0, le=3, description="SPI chip select (/dev/spidevB.D)")
    spi_speed_hz: int = Field(
        18_000_000, ge=2_000_000, le=20_000_000, description="SPI clock, Hz (datasheet ≤ 20 MHz)"
    )
    cci_bus: int = Field(1, ge=0, le=20, description="I2C bus number of the CCI (/dev/i2c-N)")
    gain: Literal["high", "low", "auto"] = Field(
        "low", description="gain mode: high clips near 140 °C, low reaches ~400 °C"
    )
    stale_after_s: float = Field(
        LEPTON_STALE_AFTER_S, gt=0, le=60,
        description="no frame for this long marks the camera faulted"
    )
    reboot_after_failures: int = Field(
        10,
        ge=1,
        le=1000,
        description="consecutive VoSPI failures (lost sync, CRC, timeouts) before a CCI reboot",
    )
    mask: tuple[tuple[int, int, int, int], ...] = Field(
        (), description="rectangles of the view the detector ignores, [x0, y0, x1, y1] each "
        "(pixel columns x0 ≤ x < x1, rows y0 ≤ y < y1): an open fireplace, a stove, a window "
        "with the sun; their pixels read as the rest of the view (its median)",
    )
    cooking_zone: tuple[tuple[int, int, int, int], ...] = Field(
        (), description="rectangles of the view where food is cooked (a hob, a cooker), "
        "[x0, y0, x1, y1] each as mask: a spot in them that keeps heating (a pan, a pot, the "
        "oil in it) raises a warning, the pre_alarm state with its reason, instead of an "
        "alarm; flames there, and a score over the threshold, still alarm",
    )

    @model_validator(mode="after")
    def _rectangles_in_view(self) -> LeptonConfig:
        width, height = LEPTON_SIZE[self.model]
        for key in ("mask", "cooking_zone"):
            for i, (x0, y0, x1, y1) in enumerate(getattr(self, key)):
                if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
                    raise ValueError(
                        f"{key}[{i}] = [{x0}, {y0}, {x1}, {y1}]; allowed: [x0, y0, x1, y1] "
                        f"with 0 ≤ x0 < x1 ≤ {width} and 0 ≤ y0 < y1 ≤ {height} (Lepton "
                        f"{self.model} is {width}×{height})")
        return self

    @property
    def startup_grace_s(self) -> float:
        """How much longer than ``stale_after_s`` the first frame may take (camera boot and
        the first FFC)."""
        return 5.0


class SensorsConfig(Section):
    """Both sensors."""

    scd41: Scd41Config = Scd41Config()
    lepton: LeptonConfig = LeptonConfig()
