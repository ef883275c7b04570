//! The IMAP poller (`[inbound] imap_url`). Being written.
