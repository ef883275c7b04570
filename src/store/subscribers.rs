//! Store queries for subscribers.
