//! Console tests: settings (filled in by its own change).
