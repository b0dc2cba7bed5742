//! Our Rust client.
