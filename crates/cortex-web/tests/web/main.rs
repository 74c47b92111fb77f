//! The web server, for real: on 127.0.0.1:0 with the emulator, a SQLite store and the
//! replayed Terraform stream.

mod common;

mod account_actions;
mod api;
mod auth;
mod batch_rows;
mod connection_pages;
mod connections;
mod cortex_connections;
mod cortex_job_page;
mod cortex_onboardings;
mod cortex_test_connection;
mod coverage;
mod dashboard;
mod drift;
mod events;
mod health;
mod health_pages;
mod job_page;
mod lifecycle;
mod metrics;
mod openapi;
mod pages;
mod permits;
mod replica_streams;
mod replicas;
mod security;
mod shared_identity;
mod sso;
mod sso_harness;
mod tls_h2;
mod tokens;
mod workflows;
