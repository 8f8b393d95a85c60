"""The console's views (one Textual mode each) and the screens they push (run detail, dialogs)."""
