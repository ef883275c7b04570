//! Console tests: sections (filled in by its own change).
