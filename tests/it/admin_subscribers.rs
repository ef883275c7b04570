//! Console tests: subscribers (filled in by its own change).
