"""Telling the building: the crash-safe outbox, payloads, the MQTT link and HA discovery."""
