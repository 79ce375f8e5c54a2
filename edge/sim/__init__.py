"""Simulators: the chips at byte level, the scenes they sense, and the clock."""
