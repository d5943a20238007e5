//! D4 sensor library.
