//! Test modules: request tests per route area, interop with the Python side, the binary.
mod api;
mod auth;
mod bin;
mod browser;
pub(crate) mod common;
mod compat;
mod metrics;
mod pages;
mod queues;
mod ui;
