"""Running as a service: supervision timings, the state-directory lock, storage faults."""
