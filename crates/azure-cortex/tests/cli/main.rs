//! The command line, end to end: the real `azure-cortex` binary with `--sandbox` (the
//! in-process emulator and the Terraform twin) on a temp data directory.

mod azure_doctor;
mod batch;
mod commands;
mod common;
mod connections;
mod cortex;
mod discover;
mod emulator;
mod interrupt;
mod onboard;
mod packaging;
mod secrets;
mod serve;
