"""firedetect's cloud side: training, evaluation, the signed model artifact."""
