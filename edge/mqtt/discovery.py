"""Home Assistant MQTT discovery for one firedetect device (device-based, HA ≥ 2024.11).

One retained message on ``<discovery_prefix>/device/<node>/config`` announces the device
and all its entities (``dev``, ``o`` and ``cmps`` per Home Assistant's MQTT discovery docs;
every component has ``p`` and ``unique_id``). The entities read the device's own topics,
whose JSON shapes are fixed here:

- ``<base>/state`` (retained): ``{"state": "idle"|"pre_alarm"|"alarm", "since": ISO-8601,
  "score": float|null, ...}``
- ``<base>/telemetry``: ``{"co2_ppm", "temperature_c", "humidity_pct", "t_max_c", "score",
  ...}`` (numbers or null)
- ``<base>/health`` (retained): ``{"sensors": {"scd41": {"status": "ok"|"fault",
  "reason": str|null}, "lepton": {...}}, ...}``

- ``<base>/alarm``: the events, ``{"event", "reason"?, "why"?, ...}`` (the "Last event"
  sensor shows ``why``, else ``reason``, else ``event``);
- ``<base>/snapshot`` (retained): the PNG of the last alarm (:mod:`edge.snapshot`), the
  ``image`` entity's ``image_topic``.

(:mod:`edge.mqtt.payloads` builds exactly these; extra keys are ignored by the templates.)
Every component carries ``"qos": 1`` itself (Home Assistant 2025.4 does not inherit the
device-level one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from edge import __version__
from edge.config.mqtt import MqttConfig

_MQTT_DEFAULTS = MqttConfig()  # the defaults below are the config's, never copies

AVAILABLE = "online"
NOT_AVAILABLE = "offline"
SENSORS = ("scd41", "lepton")
_SENSOR_NAMES = {"scd41": "CO2 sensor", "lepton": "Thermal camera"}


@dataclass(frozen=True, slots=True)
class DiscoveryInfo:
    """What the discovery message says about the device."""

    device_id: str
    base_topic: str
    discovery_prefix: str = _MQTT_DEFAULTS.discovery_prefix
    sw_version: str = __version__
    model_version: str | None = None
    telemetry_interval_s: float = _MQTT_DEFAULTS.telemetry_interval_s
    feedback: bool = False  # clips on: "False alarm" / "Real fire" buttons


def discovery_topic(info: DiscoveryInfo) -> str:
    """The retained config topic of the device."""
    return f"{info.discovery_prefix}/device/firedetect_{info.device_id}/config"


#: Home Assistant keeps a sensor's state to this many characters.
HA_STATE_MAX = 255


def _common(info: DiscoveryInfo, key: str) -> dict[str, Any]:
    # "qos" on each component: Home Assistant (seen in 2025.4) does not pass the device-level
    # "qos" down to the components, and would subscribe to the state topics at QoS 0.
    return {
        "unique_id": f"firedetect_{info.device_id}_{key}",
        "qos": 1,
        "availability_topic": f"{info.base_topic}/availability",
        "payload_available": AVAILABLE,
        "payload_not_available": NOT_AVAILABLE,
    }


def _telemetry_sensor(
    info: DiscoveryInfo, key: str, name: str, field: str, extra: dict[str, Any]
) -> dict[str, Any]:
    return {
        "p": "sensor",
        "name": name,
        **_common(info, key),
        "state_topic": f"{info.base_topic}/telemetry",
        "value_template": f"{{{{ value_json.{field} }}}}",
        "state_class": "measurement",
        # Telemetry is periodic: a value older than three periods is stale, not current.
        "expire_after": max(1, round(3 * info.telemetry_interval_s)),
        **extra,
    }


def components(info: DiscoveryInfo) -> dict[str, dict[str, Any]]:
    """The entity configs, keyed by component id."""
    base = info.base_topic
    cmps: dict[str, dict[str, Any]] = {
        "fire": {
            "p": "binary_sensor",
            "name": "Fire alarm",
            **_common(info, "fire"),
            "device_class": "smoke",
            "state_topic": f"{base}/state",
            "value_template": "{{ 'ON' if value_json.state == 'alarm' else 'OFF' }}",
            "payload_on": "ON",
            "payload_off": "OFF",
        },
        "alarm_state": {
            "p": "sensor",
            "name": "Alarm state",
            **_common(info, "alarm_state"),
            "device_class": "enum",
            "options": ["idle", "pre_alarm", "alarm"],
            "state_topic": f"{base}/state",
            "value_template": "{{ value_json.state }}",
            # A pre-alarm's reason and words (a pan heating in the cooking zone) as attributes.
            "json_attributes_topic": f"{base}/state",
            "json_attributes_template": "{{ {'reason': value_json.reason | default(none), "
                                        "'why': value_json.why | default(none)} | tojson }}",
        },
        "co2": _telemetry_sensor(
            info, "co2", "CO2", "co2_ppm",
            {"device_class": "carbon_dioxide", "unit_of_measurement": "ppm"},
        ),
        "temperature": _telemetry_sensor(
            info, "temperature", "Temperature", "temperature_c",
            {"device_class": "temperature", "unit_of_measurement": "°C"},
        ),
        "humidity": _telemetry_sensor(
            info, "humidity", "Humidity", "humidity_pct",
            {"device_class": "humidity", "unit_of_measurement": "%"},
        ),
        "hotspot": _telemetry_sensor(
            info, "hotspot", "Hottest spot", "t_max_c",
            {"device_class": "temperature", "unit_of_measurement": "°C"},
        ),
        "score": _telemetry_sensor(
            info, "score", "Fire score", "score", {"icon": "mdi:fire-alert"}
        ),
        "snapshot": {
            "p": "image",
            "name": "Snapshot",
            **_common(info, "snapshot"),
            "image_topic": f"{base}/snapshot",
            "content_type": "image/png",
        },
        "last_event": {
            "p": "sensor",
            "name": "Last event",
            **_common(info, "last_event"),
            "state_topic": f"{base}/alarm",
            # The reason in words ("why"), else the reason code, else the event's kind (a
            # test); .get: no template warning in HA for a missing key; cut to what Home
            # Assistant keeps as a state.
            "value_template": (
                "{{ (value_json.get('why') or value_json.get('reason') or value_json.event)"
                f"[:{HA_STATE_MAX}] }}}}"
            ),
            "icon": "mdi:message-alert",
        },
        "test": {
            "p": "button",
            "name": "Test alarm",
            **_common(info, "test"),
            "command_topic": f"{base}/cmd/test",
            "payload_press": "test",
            "entity_category": "diagnostic",
        },
    }
    if info.feedback:
        for key, name, verdict in (("false_alarm", "False alarm", "false_alarm"),
                                   ("real_fire", "Real fire", "fire")):
            cmps[key] = {
                "p": "button",
                "name": name,
                **_common(info, key),
                "command_topic": f"{base}/cmd/feedback_last",
                "payload_press": verdict,
            }
    for sensor in SENSORS:
        cmps[f"{sensor}_problem"] = {
            "p": "binary_sensor",
            "name": f"{_SENSOR_NAMES[sensor]} problem",
            **_common(info, f"{sensor}_problem"),
            "device_class": "problem",
            "entity_category": "diagnostic",
            "state_topic": f"{base}/health",
            "value_template": (
                f"{{{{ 'OFF' if value_json.sensors.{sensor}.status == 'ok' else 'ON' }}}}"
            ),
            "payload_on": "ON",
            "payload_off": "OFF",
        }
    return cmps


def discovery_payload(info: DiscoveryInfo) -> dict[str, Any]:
    """The device-based discovery document (``dev``, ``o``, ``cmps``, availability)."""
    sw = info.sw_version
    origin_sw = sw if info.model_version is None else f"{sw} (model {info.model_version})"
    return {
        "dev": {
            "identifiers": [f"firedetect_{info.device_id}"],
            "name": f"firedetect {info.device_id}",
            "manufacturer": "firedetect",
            "model": "Lepton + SCD41 fire detector",
            "sw_version": sw,
        },
        "o": {
            "name": "firedetect",
            "sw_version": origin_sw,
        },
        "availability_topic": f"{info.base_topic}/availability",
        "payload_available": AVAILABLE,
        "payload_not_available": NOT_AVAILABLE,
        "qos": 1,
        "cmps": components(info),
    }


def discovery_message(info: DiscoveryInfo) -> tuple[str, bytes]:
    """``(topic, payload)`` of the retained discovery message."""
    body = json.dumps(discovery_payload(info), ensure_ascii=False, sort_keys=True)
    return discovery_topic(info), body.encode("utf-8")
