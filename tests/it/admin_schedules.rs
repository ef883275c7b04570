//! Console tests: schedules (filled in by its own change).
