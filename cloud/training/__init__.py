"""Training the ensemble: data, splits, members, threshold, metrics and the training report."""
