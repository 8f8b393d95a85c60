"""Reusable widgets of the console: the mode bar, the config form, charts, the confusion matrix."""
