"""The scoring model on the device: verify, run, hold, cache, update from S3, rule fallback."""
