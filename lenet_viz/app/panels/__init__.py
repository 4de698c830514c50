"""One panel per file; each owns its pyqtgraph items and exposes one `show(...)` taking engine data."""
