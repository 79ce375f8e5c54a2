"""VoSPI, the Lepton's video-over-SPI protocol: packets, CRC, segments, frames, telemetry.

Pure functions and one small reassembler; no I/O. The driver (``edge.sensors.flir_lepton``)
reads bytes and hands them here; the simulator (``edge.sim.lepton``) builds its packets with
the same geometry. Source: FLIR Lepton Engineering Datasheet Rev 203, p.56–61
(see ../shared/reference/sensors.md §2.1).

A packet is 164 bytes: ID (2, big-endian), CRC (2), 80 big-endian uint16 pixels.
ID bits 14–12 are the segment number TTT (valid in packet 20 only, Lepton 3.x), bits 11–0
the packet number. ``(id & 0x0F00) == 0x0F00`` marks a discard packet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

PACKET_BYTES = 164
PAYLOAD_WORDS = 80
HEADER_BYTES = 4
DISCARD_MASK = 0x0F00
SEGMENT_PACKET = 20  # TTT is valid only in this packet (p.56)
RESYNC_IDLE_S = 0.185  # /CS deasserted and SCK idle at least this long resyncs (p.60)
CRC_POLY = 0x1021  # CRC-16/XMODEM: poly 0x1021, init 0, no reflection, xorout 0

ByteArray = npt.NDArray[np.uint8]
WordArray = npt.NDArray[np.uint16]

FFC_STATES = ("never", "imminent", "in_progress", "complete")  # telemetry status bits 5–4


def _crc_table_8() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ CRC_POLY) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return table


def _crc_table_16() -> npt.NDArray[np.uint32]:
    # With a 16-bit register and init 0, feeding one 16-bit word w from state c gives
    # the CRC of w ^ c from state 0: sixteen shift steps of the register loaded with it.
    crc = np.arange(1 << 16, dtype=np.uint32)
    for _ in range(16):
        top = (crc & 0x8000) != 0
        crc = ((crc << 1) & 0xFFFF) ^ (top.astype(np.uint32) * np.uint32(CRC_POLY))
    return crc


_TABLE_8 = _crc_table_8()
_TABLE_16 = _crc_table_16()


def crc16_xmodem(data: bytes | bytearray) -> int:
    """CRC-16/XMODEM of ``data`` ("123456789" → 0x31C3)."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE_8[((crc >> 8) ^ byte) & 0xFF]
    return crc


def packet_crcs(packets: ByteArray) -> npt.NDArray[np.uint32]:
    """The VoSPI CRC each of ``packets`` (N, 164) should carry: top 4 ID bits and CRC zeroed."""
    if packets.ndim != 2 or packets.shape[1] != PACKET_BYTES:
        raise ValueError(f"packets must be (N, {PACKET_BYTES}) bytes, got {packets.shape}")
    words = (packets[:, 0::2].astype(np.uint32) << 8) | packets[:, 1::2]
    words[:, 0] &= 0x0FFF  # the TTT bits and the reserved bit are not covered
    words[:, 1] = 0  # the CRC field counts as zero
    crc = np.zeros(packets.shape[0], dtype=np.uint32)
    for col in range(words.shape[1]):
        crc = _TABLE_16[crc ^ words[:, col]]
    return crc


def packet_ids(packets: ByteArray) -> npt.NDArray[np.int64]:
    """The 16-bit ID of each packet of ``packets`` (N, 164)."""
    return (packets[:, 0].astype(np.int64) << 8) | packets[:, 1]


def crc_ok(packets: ByteArray) -> npt.NDArray[np.bool_]:
    """Whether each packet's CRC field matches its contents."""
    stored = (packets[:, 2].astype(np.uint32) << 8) | packets[:, 3]
    return np.asarray(packet_crcs(packets) == stored)


def is_discard(packet_id: int) -> bool:
    """A discard packet: read it in full and drop it (p.57)."""
    return (packet_id & DISCARD_MASK) == DISCARD_MASK


def packet_number(packet_id: int) -> int:
    """Bits 11–0 of the ID."""
    return packet_id & 0x0FFF


def segment_number(packet_id: int) -> int:
    """TTT, bits 14–12 of the ID; meaningful in packet 20 only."""
    return (packet_id >> 12) & 0x7


@dataclass(frozen=True, slots=True)
class Geometry:
    """How one camera model lays a frame (and its telemetry footer) out in packets."""

    width: int
    height: int
    segments: int
    telemetry_rows: int

    @property
    def packets_per_row(self) -> int:
        return self.width // PAYLOAD_WORDS

    @property
    def total_rows(self) -> int:
        return self.height + self.telemetry_rows

    @property
    def packets_per_segment(self) -> int:
        return self.total_rows * self.packets_per_row // self.segments

    @property
    def segment_bytes(self) -> int:
        return self.packets_per_segment * PACKET_BYTES


def geometry(model: str, telemetry: bool) -> Geometry:
    """The packet layout of a Lepton ``model`` ("3.5", "3.1R", "2.5", "2.0").

    3.x: 160×120 in 4 segments of 60 packets (61 with the 2-row telemetry footer).
    2.x: 80×60, one packet per row, 60 packets per frame (63 with the 3-row footer).
    """
    if model.startswith("3"):
        return Geometry(160, 120, 4, 2 if telemetry else 0)
    if model.startswith("2"):
        return Geometry(80, 60, 1, 3 if telemetry else 0)
    raise ValueError(f"unknown Lepton model {model!r}; allowed: '3.5', '3.1R', '2.5', '2.0'")


def frame_to_packets(words: WordArray, geo: Geometry) -> ByteArray:
    """Encode a frame (total_rows, width) of uint16 into (segments, packets, 164) packets.

    IDs carry the packet number, and TTT = segment number in packet 20 for 3.x; CRCs set.
    """
    if words.shape != (geo.total_rows, geo.width):
        raise ValueError(f"frame must be {(geo.total_rows, geo.width)}, got {words.shape}")
    n = geo.total_rows * geo.packets_per_row
    payload = words.astype(">u2").reshape(n, PAYLOAD_WORDS).view(np.uint8)
    packets = np.zeros((n, PACKET_BYTES), dtype=np.uint8)
    packets[:, HEADER_BYTES:] = payload
    numbers = np.tile(np.arange(geo.packets_per_segment), geo.segments)
    packets[:, 0] = numbers >> 8
    packets[:, 1] = numbers & 0xFF
    crc = packet_crcs(packets)
    packets[:, 2] = crc >> 8
    packets[:, 3] = crc & 0xFF
    out = packets.reshape(geo.segments, geo.packets_per_segment, PACKET_BYTES)
    if geo.segments > 1:
        for seg in range(geo.segments):
            out[seg, SEGMENT_PACKET, 0] |= (seg + 1) << 4
    return out


def packets_to_words(packets: ByteArray) -> WordArray:
    """The payload of (N, 164) packets as (N, 80) uint16 words."""
    payload = np.ascontiguousarray(packets[:, HEADER_BYTES:])
    return payload.view(">u2").astype(np.uint16)


class FrameAssembler:
    """Collects segments 1…N in order and returns the whole frame when the last one lands.

    A segment out of order drops the partial frame (counted in ``dropped``); a segment 1
    always starts a new frame.
    """

    def __init__(self, geo: Geometry) -> None:
        self.geo = geo
        self._parts: list[ByteArray] = []
        self.dropped = 0

    def reset(self) -> None:
        """Forget any partial frame."""
        if self._parts:
            self.dropped += 1
        self._parts = []

    def add(self, segment: int, packets: ByteArray) -> WordArray | None:
        """Add one valid segment (its packets, in order); the frame words when complete."""
        if not 1 <= segment <= self.geo.segments:
            raise ValueError(f"segment must be 1…{self.geo.segments}, got {segment}")
        if segment == 1:
            self.reset()
        elif segment != len(self._parts) + 1:
            self.reset()
            return None
        self._parts.append(packets)
        if len(self._parts) < self.geo.segments:
            return None
        allp = np.concatenate(self._parts)
        self._parts = []
        return packets_to_words(allp).reshape(self.geo.total_rows, self.geo.width)


def _u32(words: WordArray, i: int) -> int:
    # 32-bit telemetry fields: low word first, as flirpy's little-endian "I" reads them
    # (unverified on SPI hardware).
    return int(words[i]) | (int(words[i + 1]) << 16)


def parse_telemetry(words: WordArray) -> dict[str, Any]:
    """Decode telemetry row A (the first 80 words of the footer).

    Words: 0 revision, 1–2 uptime ms, 3–4 status (bits 5–4 FFC state, bit 3 FFC desired),
    20–21 frame counter, 22 frame mean, 24 FPA temperature (K×100), 29 FPA temperature at
    the last FFC (K×100), 30–31 ms since the last FFC.
    """
    w = np.asarray(words, dtype=np.uint16).ravel()
    if w.size < PAYLOAD_WORDS:
        raise ValueError(f"telemetry row A needs {PAYLOAD_WORDS} words, got {w.size}")
    status = _u32(w, 3)
    return {
        "revision": int(w[0]),
        "uptime_ms": _u32(w, 1),
        "status": status,
        "ffc_desired": bool(status & 0x8),
        "ffc_state": FFC_STATES[(status >> 4) & 0x3],
        "frame_counter": _u32(w, 20),
        "frame_mean": int(w[22]),
        "fpa_temp_k": int(w[24]) / 100.0,
        "ffc_temp_k": int(w[29]) / 100.0,
        "ffc_elapsed_ms": _u32(w, 30),
    }


def encode_telemetry(
    n_words: int,
    *,
    uptime_ms: int,
    ffc_state: str,
    frame_counter: int,
    frame_mean: int,
    fpa_temp_k: float,
) -> WordArray:
    """Telemetry words in the layout ``parse_telemetry`` reads (for simulators and tests)."""
    w = np.zeros(n_words, dtype=np.uint16)
    w[0] = 14  # revision
    status = FFC_STATES.index(ffc_state) << 4
    for idx, value in ((1, uptime_ms), (3, status), (20, frame_counter)):
        w[idx] = value & 0xFFFF
        w[idx + 1] = (value >> 16) & 0xFFFF
    w[22] = frame_mean & 0xFFFF
    w[24] = round(fpa_temp_k * 100) & 0xFFFF
    w[29] = w[24]
    return w
