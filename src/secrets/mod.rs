//! Secrets: provider credentials encrypted at rest, Tollgate keys as hashes, admin passwords.

pub mod api_keys;
pub mod passwords;
pub mod rotate;
pub mod vault;
