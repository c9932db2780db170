//! Money and limits: exact credit amounts and prices, in-memory balances with reservations,
//! budgets, rate limits (GCRA), the estimate calls are admitted on, and the built-in price
//! catalog (generated from LiteLLM's price data).

pub mod account;
pub mod accounts;
pub mod budgets;
pub mod catalog;
pub mod credit_unit;
pub mod estimate;
pub mod gcra;
pub mod image_prices;
pub mod limits;
pub mod litellm;
pub mod litellm_images;
pub mod markup;
pub mod money;
pub mod price_shapes;
pub mod pricing;
pub mod ratelimit;
pub mod reservations;

#[cfg(test)]
mod battery_tests;
#[cfg(test)]
mod model_tests;
