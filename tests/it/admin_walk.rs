//! Console tests: walk (filled in by its own change).
