//! Client-against-emulator integration tests, one binary (links once).

mod common;
mod creates;
mod endpoints;
mod errors;
mod retries;
mod session;
