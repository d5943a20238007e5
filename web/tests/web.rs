//! Integration tests of d4-web, one binary with a module per topic (see `it/`).
mod it;
