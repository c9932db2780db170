//! The call record: one client request as the usage log keeps it, and how a stored row reads
//! back (shared by the calls' queries and the rollups).

use serde::{Deserialize, Serialize};

use super::{DbRow, StoreResult, json_col};
use crate::billing::markup::{Markup, Multiplier};
use crate::billing::pricing::Pricing;

/// One client request as the usage log keeps it (SPEC §5).
///
/// Serialized only into the usage journal: empty fields (`None`, zero, false) are left out of
/// the line, and read back as their defaults.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct CallRecord {
    pub id: String,
    pub request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    pub user_id: String,
    pub key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The end user the client named (OpenAI `user` / `safety_identifier`, Anthropic
    /// `metadata.user_id`, or `x-tollgate-end-user`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_user: Option<String>,
    /// The operator's tags, `k=v` sorted by name and joined by commas (`x-tollgate-tags`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<String>,
    /// Inbound wire format: `openai` or `anthropic`.
    pub dialect: String,
    /// `chat`, `embeddings`, ...
    pub endpoint: String,
    /// The model name the client asked for.
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_model: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    /// `processing`, `success` or `failed`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub input_tokens: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub output_tokens: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub cached_tokens: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub cache_write_tokens: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub reasoning_tokens: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub images: i64,
    /// Nano-credits charged.
    #[serde(skip_serializing_if = "is_zero")]
    pub cost: i64,
    /// The base prices in force when the call was made (configured or catalog).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<Pricing>,
    /// The markup over `price` in force (×1 and no fee on records from before markups).
    #[serde(skip_serializing_if = "Markup::is_none")]
    pub markup: Markup,
    /// Nano-credits the call cost at the base price: `cost` minus this is the margin.
    #[serde(skip_serializing_if = "is_zero")]
    pub provider_cost: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub attempts: i64,
    pub started_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<i64>,
    /// Time spent in the gateway itself, excluding the upstream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overhead_us: Option<i64>,
    /// The token counts are the gateway's estimate, not the provider's report (a call cut
    /// short before usage arrived). Defaulted so journal lines written before it replay.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub usage_estimated: bool,
    /// The attempts that failed before the one the record names (on a failed call, every
    /// attempt), in order: what failover did, for the operator's call detail. Empty on the
    /// common path (one attempt that answered), so it costs nothing there.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attempt_trail: Vec<FailedAttempt>,
}

/// One upstream attempt that did not answer, as the call record keeps it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct FailedAttempt {
    pub provider_id: String,
    pub credential_id: String,
    pub upstream_model: String,
    /// The failure's class (`upstream_error`, `timeout`, `connect_error`, ...).
    pub class: String,
    /// The provider's HTTP status, when it answered one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<i64>,
    /// From sending the request to giving up on it.
    pub duration_ms: i64,
    /// The gateway's description of the failure (may quote the provider: operators only).
    pub detail: String,
}

/// The most failed attempts a record keeps (routing's attempt cap is smaller; this bounds a
/// stored row whatever the configuration).
pub const MAX_TRAIL: usize = 16;

/// The longest `FailedAttempt::detail` kept, in characters.
pub const MAX_TRAIL_DETAIL: usize = 300;

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl CallRecord {
    pub(crate) fn from_row(r: &impl DbRow) -> StoreResult<Self> {
        Ok(CallRecord {
            id: r.text("id")?,
            request_id: r.text("request_id")?,
            trace_id: r.opt_text("trace_id")?,
            user_id: r.text("user_id")?,
            key_id: r.text("key_id")?,
            app: r.opt_text("app")?,
            end_user: r.opt_text("end_user")?,
            tags: r.opt_text("tags")?,
            dialect: r.text("dialect")?,
            endpoint: r.text("endpoint")?,
            model: r.text("model")?,
            provider_id: r.opt_text("provider_id")?,
            credential_id: r.opt_text("credential_id")?,
            upstream_model: r.opt_text("upstream_model")?,
            stream: r.flag("stream")?,
            status: r.text("status")?,
            http_status: r.opt_int("http_status")?,
            error_class: r.opt_text("error_class")?,
            error_message: r.opt_text("error_message")?,
            input_tokens: r.int("input_tokens")?,
            output_tokens: r.int("output_tokens")?,
            cached_tokens: r.int("cached_tokens")?,
            cache_write_tokens: r.int("cache_write_tokens")?,
            reasoning_tokens: r.int("reasoning_tokens")?,
            images: r.int("images")?,
            cost: r.int("cost")?,
            price: json_col(r.opt_text("price")?)?,
            markup: Markup {
                multiplier: r.opt_int("multiplier_ppm")?.map_or(Multiplier::ONE, Multiplier::from_stored),
                request_fee: r.opt_int("request_fee")?.unwrap_or(0),
            },
            // Records from before markups were charged at cost.
            provider_cost: match r.opt_int("provider_cost")? {
                Some(c) => c,
                None => r.int("cost")?,
            },
            attempts: r.int("attempts")?,
            started_at: r.int("started_at")?,
            duration_ms: r.opt_int("duration_ms")?,
            ttft_ms: r.opt_int("ttft_ms")?,
            overhead_us: r.opt_int("overhead_us")?,
            usage_estimated: r.flag("usage_estimated")?,
            attempt_trail: json_col(r.opt_text("attempt_trail")?)?.unwrap_or_default(),
        })
    }
}
