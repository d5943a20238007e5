//! Small pure helpers that follow Redis's text semantics and belong to no layer.
//!
//! - [`glob`]: `KEYS` / `SCAN MATCH` / `CONFIG GET` patterns.
//! - [`decimal`]: exact decimal sums for `INCRBYFLOAT` / `HINCRBYFLOAT`.

pub(crate) mod decimal;
pub(crate) mod glob;
