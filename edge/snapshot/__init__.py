"""Alarm snapshots: the thermal frame at the decision as a small PNG (no Pillow on the device)."""
