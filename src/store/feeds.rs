//! Store queries for feeds.
