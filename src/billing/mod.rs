//! Money: exact credit amounts, prices and costs, and the in-memory balances the hot path reads.

pub mod accounts;
pub mod money;
pub mod pricing;
