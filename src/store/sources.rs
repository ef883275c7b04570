//! Store queries for sources.
