//! Passive DNS analyzer library.
