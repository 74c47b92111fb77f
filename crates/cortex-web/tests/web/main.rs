//! The web server, for real: on 127.0.0.1:0 with the emulator, a SQLite store and the
//! replayed Terraform stream.

mod common;

mod api;
mod auth;
mod connection_pages;
mod connections;
mod events;
mod openapi;
mod pages;
mod replicas;
mod security;
mod tokens;
mod workflows;
