"""MQTT topic names in the config, checked with the MQTT rules before anything is published.

A base topic or discovery prefix is the start of topic *names* the device publishes to
(``<base>/alarm``, ``<prefix>/device/firedetect_<id>/config``). A wildcard there makes every
publish fail at run time (paho refuses it) — every alarm lost — so it is refused here, with
the other rules of MQTT 3.1.1 §4.7 and §1.5.3: no ``+``/``#``, no NUL or other control
character, at most 65535 UTF-8 bytes for a whole topic; and the layout's own: no empty level
(no leading, trailing or double ``/``: ``firedetect/x/`` would publish to ``firedetect/x//alarm``
which a subscriber to ``firedetect/x/alarm`` never sees), not starting with ``$`` (reserved
for the broker: ``$SYS``; ``#`` subscriptions do not match it).
"""

from __future__ import annotations

import re

__all__ = ["DEVICE_ID_RULE", "TOPIC_MAX_BYTES", "TOPIC_PREFIX_MAX_BYTES", "check_device_id",
           "check_topic_prefix"]

TOPIC_MAX_BYTES = 65535
# firedetect adds at most 128 bytes after a prefix ("/availability",
# "/device/firedetect_<64-byte id>/config").
TOPIC_PREFIX_MAX_BYTES = TOPIC_MAX_BYTES - 128

DEVICE_ID_RULE = "a single topic level of 1–64 letters, digits, '_' or '-' (no '/', '+', '#')"
_DEVICE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# C0 and C1 controls (NUL included), and the Unicode non-characters brokers refuse.
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff]")
_PREFIX_RULE = "a topic prefix (e.g. 'firedetect/kitchen-1', 'homeassistant')"


def check_topic_prefix(value: str) -> str:
    """``value`` if it is a valid topic prefix.

    :raises ValueError: with what is allowed, naming the rule it breaks.
    """
    if "+" in value or "#" in value:
        problem = "no MQTT wildcard ('+' or '#'): the device publishes under this prefix"
    elif _FORBIDDEN.search(value):
        problem = "no NUL or other control character"
    elif value.startswith("$"):
        problem = "not starting with '$' (reserved for the broker, e.g. $SYS)"
    elif "" in value.split("/"):
        problem = "no empty level: not empty, no leading or trailing '/', no '//'"
    elif len(value.encode("utf-8")) > TOPIC_PREFIX_MAX_BYTES:
        problem = (f"at most {TOPIC_PREFIX_MAX_BYTES} UTF-8 bytes (a whole topic is at most "
                   f"{TOPIC_MAX_BYTES})")
    else:
        return value
    raise ValueError(f"{_PREFIX_RULE}: {problem}")


def check_device_id(value: str) -> str:
    """``value`` if it is a valid device id (one topic level, also an HA node id).

    :raises ValueError: with what is allowed.
    """
    if not _DEVICE_ID.fullmatch(value):
        raise ValueError(DEVICE_ID_RULE)
    return value
