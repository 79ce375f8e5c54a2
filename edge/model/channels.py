"""Release channels: which signed pointer a device follows, and who is in the canary cohort.

Under the model prefix, ``cloud/rollout.py`` keeps two signed pointers (docs/fleet.md):
``channels/stable.json`` and ``channels/canary.json``. Both have the ``latest.json`` fields
(``edge.model.pointer``) plus ``"channel"`` (the file's own name, so one cannot be replayed as
the other); the canary's also ``"percent"`` (0–100), covered by the signature.

A device's cohort number is ``sha256(device.id)`` → [0, 100): the same device is in the
same cohort every time, and a canary at ``percent`` P reaches the devices whose number is
below P (about P % of a fleet). ``[model] channel``: ``"auto"`` (by that number),
``"stable"`` or ``"canary"``; unset, the device follows ``latest.json`` as before.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.model.pointer import Pointer, PointerFormatError, parse_pointer

__all__ = [
    "CHANNELS",
    "ChannelName",
    "ChannelPointer",
    "channel_rel",
    "cohort_number",
    "in_canary",
    "parse_channel_pointer",
    "summary_key",
]

ChannelName = Literal["stable", "canary"]
CHANNELS: tuple[ChannelName, ...] = ("stable", "canary")


def channel_rel(channel: str) -> str:
    """The pointer's key relative to the model prefix: ``channels/<channel>.json``."""
    return f"channels/{channel}.json"


def cohort_number(device_id: str) -> float:
    """The device's place in [0, 100): the first 8 bytes of ``sha256(device_id)``, scaled."""
    digest = hashlib.sha256(device_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 * 100.0


def in_canary(device_id: str, percent: float) -> bool:
    """Whether a canary at ``percent`` reaches this device (always the same answer)."""
    return cohort_number(device_id) < percent


@dataclass(frozen=True, slots=True)
class ChannelPointer:
    """A channel pointer: what it names, and (canary) how much of the fleet it reaches."""

    channel: ChannelName
    pointer: Pointer
    percent: float


def parse_channel_pointer(
    body: bytes, public_key: Ed25519PublicKey | None, channel: ChannelName
) -> ChannelPointer:
    """Parse and verify ``channels/<channel>.json``.

    With ``public_key`` the pointer must be signed (a channel's ``percent`` decides who runs a
    model, so it is never taken unsigned).

    :raises PointerFormatError: malformed, unsigned while a key is configured, another
        channel's pointer, or a ``percent`` outside 0–100.
    :raises PointerSignatureError: a signature that does not verify.
    """
    pointer = parse_pointer(body, public_key)
    where = channel_rel(channel)
    if public_key is not None and not pointer.signed:
        raise PointerFormatError(f"{where} is not signed; a channel pointer must be signed "
                                 "with the model-signing key (cloud/rollout.py does)")
    doc = json.loads(body)
    if doc.get("channel") != channel:
        raise PointerFormatError(f"{where} says 'channel' {doc.get('channel')!r}; "
                                 f"allowed: {channel!r}")
    percent = doc.get("percent", 100.0 if channel == "stable" else None)
    if (isinstance(percent, bool) or not isinstance(percent, int | float)
            or not math.isfinite(percent) or not 0.0 <= percent <= 100.0):
        raise PointerFormatError(f"{where}: 'percent' {percent!r}; allowed: a number 0-100")
    return ChannelPointer(channel, pointer, float(percent))


def summary_key(prefix: str, date: dt.date, device_id: str) -> str:
    """``<prefix>_summaries/<YYYY-MM-DD>/<device_id>.json`` (``prefix`` without a slash)."""
    base = f"{prefix}/" if prefix else ""
    return f"{base}_summaries/{date:%Y-%m-%d}/{device_id}.json"
