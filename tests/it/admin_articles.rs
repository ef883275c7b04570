//! Console tests: articles (filled in by its own change).
