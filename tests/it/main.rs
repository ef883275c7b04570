//! The integration suite as one binary: each area is a module, and `common` (the harness:
//! the real app on a real port, a real SMTP server, a real browser) compiles once.

#[macro_use]
mod common;

mod admin_accounts;
mod admin_articles;
mod admin_browser;
mod admin_runs;
mod admin_schedules;
mod admin_sections;
mod admin_security;
mod admin_settings;
mod admin_sources;
mod admin_subscribers;
mod admin_tokens;
mod admin_walk;
mod api_admin_additions;
mod api_articles;
mod api_bad_input;
mod auth;
mod config_cli;
mod connections;
mod digest_cli;
mod digest_crash;
mod digest_delivery;
mod digest_fencing;
mod digest_ledger;
mod digest_logs;
mod digest_schedules;
mod digest_selection;
mod durability;
mod feeds_cache;
mod feeds_http;
mod feeds_replicas;
mod feeds_stack;
mod feeds_validation;
mod feeds_websub;
mod import_cli;
mod inbound_imap;
mod inbound_processing;
mod inbound_smtp;
mod limits;
mod mail_dkim;
mod mail_rates;
mod mailer;
mod ops;
mod sections;
mod sources_directory;
mod sources_feed;
mod sources_health;
mod sources_web;
mod subscribers_api;
mod subscriptions_abuse;
mod subscriptions_bad_input;
mod subscriptions_browser;
mod subscriptions_flow;
