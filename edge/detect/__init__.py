"""Detection: the pipeline (features → evidence → alarm), the scene watches and the alarm logic."""
