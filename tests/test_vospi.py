"""VoSPI protocol: CRC, packet IDs, geometry, packet ↔ frame mapping, telemetry."""

from __future__ import annotations

import numpy as np
import pytest

from edge.sensors import vospi


def pattern(geo: vospi.Geometry) -> vospi.WordArray:
    """A frame where every word encodes its own row and column."""
    rows, cols = np.indices((geo.total_rows, geo.width))
    return ((rows << 8) | cols).astype(np.uint16)


class TestCrc:
    def test_check_value(self) -> None:
        """CRC-16/XMODEM of "123456789" is 0x31C3."""
        assert vospi.crc16_xmodem(b"123456789") == 0x31C3

    def test_vectorised_matches_bytewise_with_fields_zeroed(self) -> None:
        """The packet CRC is the bytewise CRC with the top 4 ID bits and the CRC field zeroed."""
        rng = np.random.default_rng(1)
        packets = rng.integers(0, 256, (8, vospi.PACKET_BYTES), dtype=np.uint8)
        got = vospi.packet_crcs(packets)
        for pkt, crc in zip(packets, got, strict=True):
            p = bytearray(pkt.tobytes())
            p[0] &= 0x0F
            p[2] = p[3] = 0
            assert vospi.crc16_xmodem(p) == crc

    def test_segment_bits_not_covered(self) -> None:
        """Setting TTT in packet 20 leaves its CRC valid."""
        geo = vospi.geometry("3.5", False)
        packets = vospi.frame_to_packets(pattern(geo), geo)
        assert packets[2, 20, 0] >> 4 == 3
        assert vospi.crc_ok(packets.reshape(-1, vospi.PACKET_BYTES)).all()

    def test_bit_error_detected(self) -> None:
        """One flipped payload bit makes exactly that packet fail."""
        geo = vospi.geometry("3.5", False)
        packets = vospi.frame_to_packets(pattern(geo), geo)[0].copy()
        packets[7, 50] ^= 0x01
        ok = vospi.crc_ok(packets)
        assert not ok[7] and ok.sum() == len(ok) - 1

    def test_bad_shape_refused(self) -> None:
        """Packets of the wrong length are a ValueError naming the expected shape."""
        with pytest.raises(ValueError, match="164"):
            vospi.packet_crcs(np.zeros((2, 160), dtype=np.uint8))


class TestPacketId:
    @pytest.mark.parametrize("pid", [0x0F00, 0x0FFF, 0xFFFF, 0x1F12, 0x0F3C])
    def test_discards(self, pid: int) -> None:
        """IDs with bits 11–8 all set are discard packets."""
        assert vospi.is_discard(pid)

    @pytest.mark.parametrize("pid", [0x0000, 0x0014, 0x3014, 0x0E3B, 0x003C])
    def test_not_discards(self, pid: int) -> None:
        """Ordinary packet IDs are not discards."""
        assert not vospi.is_discard(pid)

    def test_fields(self) -> None:
        """TTT is bits 14–12, the packet number bits 11–0."""
        assert vospi.segment_number(0x3014) == 3
        assert vospi.packet_number(0x3014) == 20
        assert vospi.segment_number(0x8014) == 0  # bit 15 is reserved


class TestGeometry:
    @pytest.mark.parametrize(
        ("model", "telemetry", "shape", "per_segment", "segments"),
        [
            ("3.5", False, (120, 160), 60, 4),
            ("3.5", True, (120, 160), 61, 4),
            ("3.1R", False, (120, 160), 60, 4),
            ("2.5", False, (60, 80), 60, 1),
            ("2.5", True, (60, 80), 63, 1),
        ],
    )
    def test_layouts(
        self, model: str, telemetry: bool, shape: tuple[int, int], per_segment: int, segments: int
    ) -> None:
        """Each model's frame size, packets per segment and segment count match the datasheet."""
        geo = vospi.geometry(model, telemetry)
        assert (geo.height, geo.width) == shape
        assert geo.packets_per_segment == per_segment
        assert geo.segments == segments

    def test_unknown_model(self) -> None:
        """An unknown model is refused with the allowed ones listed."""
        with pytest.raises(ValueError, match=r"'3\.5'"):
            vospi.geometry("4.0", False)


class TestFrameToPackets:
    def test_lepton3_row_column_mapping(self) -> None:
        """Packet p of segment s carries row 30(s−1) + p//2, columns 80(p%2)…+79."""
        geo = vospi.geometry("3.5", False)
        words = pattern(geo)
        packets = vospi.frame_to_packets(words, geo)
        for s, p in [(1, 0), (1, 1), (2, 17), (3, 59), (4, 58)]:
            payload = vospi.packets_to_words(packets[s - 1, p : p + 1])[0]
            row, col = 30 * (s - 1) + p // 2, 80 * (p % 2)
            assert np.array_equal(payload, words[row, col : col + 80])

    def test_lepton3_telemetry_mapping(self) -> None:
        """With telemetry, packet p of segment s is row (61(s−1)+p)//2; the footer is 4.57–60."""
        geo = vospi.geometry("3.5", True)
        words = pattern(geo)
        packets = vospi.frame_to_packets(words, geo)
        for s, p in [(2, 0), (3, 33), (4, 56), (4, 57), (4, 60)]:
            g = 61 * (s - 1) + p
            payload = vospi.packets_to_words(packets[s - 1, p : p + 1])[0]
            assert np.array_equal(payload, words[g // 2, 80 * (g % 2) : 80 * (g % 2) + 80])
        footer = vospi.packets_to_words(packets[3, 57:]).reshape(2, 160)
        assert np.array_equal(footer, words[120:])

    def test_segment_number_only_in_packet_20(self) -> None:
        """TTT is set in packet 20 of each segment and zero in every other packet."""
        geo = vospi.geometry("3.5", True)
        ids = vospi.packet_ids(vospi.frame_to_packets(pattern(geo), geo).reshape(-1, 164))
        ttt = (ids >> 12).reshape(4, 61)
        assert list(ttt[:, 20]) == [1, 2, 3, 4]
        assert (np.delete(ttt, 20, axis=1) == 0).all()
        assert list((ids & 0xFFF).reshape(4, 61)[2]) == list(range(61))

    @pytest.mark.parametrize(("model", "telemetry"), [("3.5", False), ("3.5", True), ("2.5", True)])
    def test_round_trip(self, model: str, telemetry: bool) -> None:
        """A known pattern image goes to packets and back byte for byte."""
        geo = vospi.geometry(model, telemetry)
        words = pattern(geo)
        packets = vospi.frame_to_packets(words, geo)
        asm = vospi.FrameAssembler(geo)
        out = None
        for s in range(geo.segments):
            out = asm.add(s + 1, packets[s])
        assert out is not None and out.dtype == np.uint16
        assert out.tobytes() == words.tobytes()

    def test_lepton2_one_packet_per_row(self) -> None:
        """A Lepton 2.x frame is 60 packets, packet n carrying row n, with no segment number."""
        geo = vospi.geometry("2.5", False)
        words = pattern(geo)
        packets = vospi.frame_to_packets(words, geo)
        assert packets.shape == (1, 60, 164)
        assert np.array_equal(vospi.packets_to_words(packets[0]), words)
        assert (vospi.packet_ids(packets[0]) >> 12 == 0).all()

    def test_wrong_frame_shape(self) -> None:
        """A frame of the wrong size is refused, naming the expected shape."""
        geo = vospi.geometry("2.5", False)
        with pytest.raises(ValueError, match=r"\(60, 80\)"):
            vospi.frame_to_packets(np.zeros((60, 160), dtype=np.uint16), geo)


class TestFrameAssembler:
    def setup_method(self) -> None:
        self.geo = vospi.geometry("3.5", False)
        self.packets = vospi.frame_to_packets(pattern(self.geo), self.geo)

    def test_out_of_order_drops_partial_frame(self) -> None:
        """Segments 1, 2, 4 give no frame and count one dropped frame."""
        asm = vospi.FrameAssembler(self.geo)
        assert asm.add(1, self.packets[0]) is None
        assert asm.add(2, self.packets[1]) is None
        assert asm.add(4, self.packets[3]) is None
        assert asm.dropped == 1

    def test_segment_one_restarts(self) -> None:
        """A segment 1 mid-frame starts over, and the next full run completes a frame."""
        asm = vospi.FrameAssembler(self.geo)
        asm.add(1, self.packets[0])
        asm.add(2, self.packets[1])
        results = [asm.add(s + 1, self.packets[s]) for s in range(4)]
        assert results[:3] == [None, None, None] and results[3] is not None
        assert asm.dropped == 1

    def test_invalid_segment_number(self) -> None:
        """Segment numbers outside 1…4 are a ValueError."""
        with pytest.raises(ValueError, match="1…4"):
            vospi.FrameAssembler(self.geo).add(0, self.packets[0])


class TestTelemetry:
    @pytest.mark.parametrize("state", vospi.FFC_STATES)
    def test_round_trip(self, state: str) -> None:
        """Encoded telemetry decodes to the same values, including the FFC state bits."""
        words = vospi.encode_telemetry(
            320,
            uptime_ms=123_456_789,
            ffc_state=state,
            frame_counter=70_000,
            frame_mean=29_500,
            fpa_temp_k=301.37,
        )
        t = vospi.parse_telemetry(words)
        assert t["ffc_state"] == state
        assert t["uptime_ms"] == 123_456_789
        assert t["frame_counter"] == 70_000
        assert t["frame_mean"] == 29_500
        assert t["fpa_temp_k"] == pytest.approx(301.37)
        assert t["status"] == vospi.FFC_STATES.index(state) << 4

    def test_short_row_refused(self) -> None:
        """Fewer than 80 words is a ValueError."""
        with pytest.raises(ValueError, match="80 words"):
            vospi.parse_telemetry(np.zeros(40, dtype=np.uint16))
