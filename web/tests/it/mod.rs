//! Test modules: request tests per route area, interop with the Python side, the binary.
mod api;
mod auth;
pub mod common;
mod compat;
mod pages;
mod queues;
