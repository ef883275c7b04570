//! Console tests: runs (filled in by its own change).
