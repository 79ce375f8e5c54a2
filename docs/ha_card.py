"""Render the Home Assistant device page firedetect's discovery creates, without Home Assistant.

Every entity comes from :func:`edge.mqtt.discovery.discovery_payload` (clips on, so the two
verdict buttons too). Each state is the entity's own ``value_template`` rendered with Jinja2,
as Home Assistant renders it, against the payload the daemon publishes on that entity's
topic (:mod:`edge.mqtt.payloads`) during an alarm; the image entity shows the snapshot
(``docs/img/snapshot.png``, made by ``bench/bench_snapshot.py --example``).

Run: .venv/bin/python docs/ha_card.py [OUT.png]   (needs matplotlib and jinja2: the
``train`` and ``dev`` extras; default OUT: docs/img/ha-device.png)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BASE = "firedetect/kitchen"
WHY = ("a new hot region grew by 46 px to 0.4 % of the view in 10 s, 312 °C; "
       "CO2 rose 150 ppm in 120 s with no person-like humidity rise")


def example_payloads() -> dict[str, bytes]:
    """What the daemon has published on each topic a moment into an alarm."""
    from edge.mqtt import payloads

    alarm = {"event": "alarm", "seq": 42, "ts": "2026-12-05T03:04:05.000Z", "score": 0.97,
             "reason": "flame_growth", "why": WHY}
    return {
        f"{BASE}/state": payloads.state_payload("alarm", "2026-12-05T03:04:05.000Z", 812.4,
                                                0.97),
        f"{BASE}/telemetry": payloads.telemetry_payload(1012.0, 24.6, 41.0, 312.5, 0.97,
                                                        "2026-12-05T03:04:07.000Z"),
        f"{BASE}/health": payloads.health_payload(
            {"scd41": "ok", "lepton": "ok"}, {"scd41": None, "lepton": None},
            "20261205T010917Z-41d6a1cd", False, 812.0, 0, "2026-12-05T03:04:07.000Z"),
        f"{BASE}/alarm": json.dumps(alarm).encode(),
    }


def entity_rows() -> list[tuple[str, str, str]]:
    """``(platform, name, state)`` of every entity, states rendered as Home Assistant does."""
    import jinja2

    from edge.mqtt.discovery import DiscoveryInfo, discovery_payload

    info = DiscoveryInfo(device_id="kitchen", base_topic=BASE, feedback=True,
                         model_version="20261205T010917Z-41d6a1cd")
    published = example_payloads()
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 (plain text, as HA renders)
    rows = []
    for c in discovery_payload(info)["cmps"].values():
        platform, name = str(c["p"]), str(c["name"])
        if platform == "button":
            state = "PRESS"
        elif platform == "image":
            state = "(snapshot below)"
        else:
            body = json.loads(published[c["state_topic"]])
            state = str(env.from_string(c["value_template"]).render(value_json=body)).strip()
            if platform == "binary_sensor":
                state = {"ON": "Detected" if c.get("device_class") == "smoke" else "Problem",
                         "OFF": "Clear" if c.get("device_class") == "smoke" else "OK"}[state]
            unit = c.get("unit_of_measurement")
            state = f"{state} {unit}" if unit else state
        rows.append((platform, name, state))
    return rows


def render(out: Path) -> list[tuple[str, str, str]]:
    """Draw the device page to ``out`` (PNG); returns the rows drawn."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    rows = entity_rows()
    fig = plt.figure(figsize=(11, 7.2), dpi=100, facecolor="#f5f5f5")
    fig.text(0.03, 0.95, "firedetect kitchen", fontsize=18, weight="bold")
    fig.text(0.03, 0.915, "firedetect · Lepton + SCD41 fire detector · model "
             "20261205T010917Z-41d6a1cd", fontsize=10, color="#555")
    ax = fig.add_axes((0.03, 0.03, 0.45, 0.86))
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, len(rows) + 1)
    for i, (platform, name, state) in enumerate(rows):
        y = len(rows) - i
        ax.text(0.0, y, platform, fontsize=8, color="#888", va="center")
        ax.text(0.2, y, name, fontsize=11, va="center")
        wrapped = textwrap.shorten(state, 34, placeholder=" …")
        color = "#c62828" if state in ("Detected", "alarm") else "#222"
        ax.text(1.0, y, wrapped, fontsize=10, ha="right", va="center", color=color)
    img_ax = fig.add_axes((0.51, 0.30, 0.47, 0.58))
    img_ax.imshow(mpimg.imread(str(ROOT / "docs" / "img" / "snapshot.png")))
    img_ax.set_axis_off()
    img_ax.set_title("Snapshot (image entity)", fontsize=11, loc="left")
    fig.text(0.51, 0.16, "Last event (sensor)", fontsize=11, weight="bold")
    fig.text(0.51, 0.12, "\n".join(textwrap.wrap(WHY, 60)), fontsize=10, va="top")
    fig.savefig(out)
    plt.close(fig)
    return rows


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "img" / "ha-device.png"
    for row in render(target):
        print(" | ".join(row))
    print(f"wrote {target}")
