"""Held-out evaluation: fresh scenario runs replayed through the device pipeline, scored."""
