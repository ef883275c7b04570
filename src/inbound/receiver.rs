//! The built-in SMTP receiver (`[inbound] bind`). Being written.
