"""The README's Home Assistant device page (docs/ha_card.py) is drawn from today's discovery."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def card() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ha_card", ROOT / "docs" / "ha_card.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_entity_with_its_rendered_state(tmp_path: Path) -> None:
    """Every discovered component is drawn, its state rendered from its own template: the
    fire entity is on during the alarm and the last event reads its reason in words."""
    pytest.importorskip("matplotlib")
    from edge.mqtt.discovery import DiscoveryInfo, discovery_payload

    mod = card()
    out = tmp_path / "card.png"
    rows = mod.render(out)
    names = [name for _, name, _ in rows]
    cmps = discovery_payload(DiscoveryInfo("kitchen", mod.BASE, feedback=True))["cmps"]
    assert names == [c["name"] for c in cmps.values()]
    states = {name: state for _, name, state in rows}
    assert states["Fire alarm"] == "Detected" and states["Alarm state"] == "alarm"
    assert states["CO2"] == "1012.0 ppm" and states["Last event"] == mod.WHY
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
