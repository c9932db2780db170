//! Markups in the console: the `multiplier` and `request_fee` fields the model and provider
//! forms share, and the global default rule's form on the models page (`POST /markup`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};

use super::error;
use crate::billing::markup::{Multiplier, MultiplierInput, Rule, RuleInput};
use crate::billing::money::{Credits, format_credits, parse_credits};
use crate::console::auth::Admin;
use crate::console::form::Form;
use crate::error::ApiError;
use crate::state::AppState;

/// A rule as a form shows it: blank parts are unset (a less specific level decides).
#[derive(Default, Clone)]
pub struct MarkupForm {
    pub multiplier: String,
    pub request_fee: String,
}

impl MarkupForm {
    pub fn of(rule: &Rule) -> MarkupForm {
        MarkupForm {
            multiplier: rule.multiplier.map(Multiplier::to_decimal).unwrap_or_default(),
            request_fee: rule.request_fee.map(format_credits).unwrap_or_default(),
        }
    }

    pub fn read(f: &Form) -> MarkupForm {
        MarkupForm { multiplier: f.text("multiplier"), request_fee: f.text("request_fee") }
    }

    /// The API's form: every part given, blank ones as `null` (cleared).
    pub fn to_input(&self) -> Result<RuleInput, ApiError> {
        let multiplier = match self.multiplier.as_str() {
            "" => None,
            m => {
                Some(MultiplierInput(Multiplier::parse(m).map_err(|e| ApiError::invalid(e).with_param("multiplier"))?))
            }
        };
        let request_fee = match self.request_fee.as_str() {
            "" => None,
            f => Some(Credits(parse_credits(f).map_err(|e| ApiError::invalid(e).with_param("request_fee"))?)),
        };
        Ok(RuleInput { multiplier: Some(multiplier), request_fee: Some(request_fee) })
    }
}

/// `POST /markup`: sets the global default rule, back to the models page.
pub async fn set_global(State(state): State<Arc<AppState>>, Admin(_, lang): Admin, body: Bytes) -> Response {
    let form = MarkupForm::read(&Form::parse(&body));
    let result = async { crate::admin::markup::set_global(&state, form.to_input()?).await }.await;
    match result {
        Ok(_) => Redirect::to("/models?ok=saved#markup").into_response(),
        Err(e) => error::from_api(lang, &e),
    }
}
