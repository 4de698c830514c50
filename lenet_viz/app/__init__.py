"""Everything Qt: the worker thread, the main window, the panels."""
