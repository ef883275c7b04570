//! Store queries for runs.
