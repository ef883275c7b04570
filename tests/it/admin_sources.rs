//! Console tests: sources (filled in by its own change).
