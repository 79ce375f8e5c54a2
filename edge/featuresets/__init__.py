"""The blocks of the feature sets: thermal (one frame at a time) and gas (SCD41 readings)."""
