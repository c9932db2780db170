//! Money and limits: exact credit amounts and prices, in-memory balances with reservations,
//! budgets, rate limits (GCRA) and the estimate calls are admitted on.

pub mod accounts;
pub mod budgets;
pub mod estimate;
pub mod gcra;
pub mod limits;
pub mod money;
pub mod pricing;
pub mod ratelimit;
pub mod reservations;

#[cfg(test)]
mod model_tests;
