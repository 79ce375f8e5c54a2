"""Sensor drivers. Each owns its byte protocol; the transport is passed in."""
