//! The bodies of `/v1/messages` as they are on the wire: request, response, content blocks,
//! usage and stop reasons. [`super`] reads and writes them; `convert` maps them to the IR.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::billing::price_shapes::ServiceTier;
use crate::billing::pricing::{Usage, reported};
use crate::protocol::ir::StopReason;
use crate::protocol::usage_count;

/// A `/v1/messages` request body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessagesRequest {
    pub model: String,
    pub messages: Vec<WireMessage>,
    /// A string or an array of text blocks; read by hand for clear errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<Value>,
    pub max_tokens: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Objects, each a custom tool or an Anthropic-defined one; read by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<WireToolChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Value>,
    /// Fields this module does not model; kept so a caller can inspect them.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Metadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireMessage {
    pub role: String,
    /// A string or an array of content blocks.
    pub content: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireToolChoice {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_parallel_tool_use: Option<bool>,
}

/// One content block of a request or response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    Text {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    Image {
        source: WireImageSource,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    Document {
        source: WireDocumentSource,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    ToolResult {
        tool_use_id: String,
        /// A string or an array of text and image blocks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        is_error: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    Thinking {
        thinking: String,
        signature: String,
    },
    RedactedThinking {
        data: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WireImageSource {
    Base64 { media_type: String, data: String },
    Url { url: String },
}

/// The document sources other dialects can carry: inline PDF bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WireDocumentSource {
    Base64 { media_type: String, data: String },
}

/// Usage as Anthropic reports it: `input_tokens` excludes cache reads and writes;
/// `cache_creation` splits the writes by how long they are kept, and `service_tier` names the
/// tier the call ran in (`standard`, `priority`, `batch`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireUsage {
    #[serde(default, deserialize_with = "usage_count::count")]
    pub input_tokens: i64,
    #[serde(default, deserialize_with = "usage_count::count")]
    pub output_tokens: i64,
    #[serde(default, deserialize_with = "usage_count::optional")]
    pub cache_creation_input_tokens: Option<i64>,
    #[serde(default, deserialize_with = "usage_count::optional")]
    pub cache_read_input_tokens: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation: Option<WireCacheCreation>,
    #[serde(default, skip_serializing, deserialize_with = "service_tier")]
    pub service_tier: Option<ServiceTier>,
}

/// `usage.cache_creation`: the cache writes by time to live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireCacheCreation {
    #[serde(default, deserialize_with = "usage_count::count")]
    pub ephemeral_5m_input_tokens: i64,
    #[serde(default, deserialize_with = "usage_count::count")]
    pub ephemeral_1h_input_tokens: i64,
}

/// A tier name read as [`ServiceTier::from_wire`] does; anything else (a name it does not
/// price, not a string) is no tier.
fn service_tier<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<ServiceTier>, D::Error> {
    Ok(Value::deserialize(d)?.as_str().and_then(ServiceTier::from_wire))
}

impl WireUsage {
    /// Anthropic's split is the gateway's: only field names differ.
    pub fn to_usage(self) -> Usage {
        Usage {
            input_tokens: reported(self.input_tokens),
            output_tokens: reported(self.output_tokens),
            cached_tokens: reported(self.cache_read_input_tokens.unwrap_or(0)),
            cache_write_tokens: reported(self.cache_creation_input_tokens.unwrap_or(0)),
            cache_write_1h_tokens: reported(self.cache_creation.map_or(0, |c| c.ephemeral_1h_input_tokens)),
            service_tier: self.service_tier,
            ..Usage::default()
        }
    }

    pub fn from_usage(u: &Usage) -> WireUsage {
        let one_hour = u.cache_write_1h();
        WireUsage {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            cache_creation_input_tokens: Some(u.cache_write_tokens),
            cache_read_input_tokens: Some(u.cached_tokens),
            cache_creation: (one_hour > 0).then(|| WireCacheCreation {
                ephemeral_5m_input_tokens: u.cache_write_tokens - one_hour,
                ephemeral_1h_input_tokens: one_hour,
            }),
            service_tier: None,
        }
    }
}

/// A non-streamed `/v1/messages` response body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessagesResponse {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub role: String,
    pub model: String,
    pub content: Vec<Block>,
    pub stop_reason: Option<String>,
    pub stop_sequence: Option<String>,
    /// Absent from a provider that reports none: read as zeros, which the gateway replaces
    /// with its counted estimate.
    #[serde(default)]
    pub usage: WireUsage,
}

pub fn stop_reason_from_wire(s: &str) -> Option<StopReason> {
    Some(match s {
        "end_turn" => StopReason::EndTurn,
        "max_tokens" | "model_context_window_exceeded" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "tool_use" => StopReason::ToolUse,
        "refusal" => StopReason::Refusal,
        "pause_turn" => StopReason::PauseTurn,
        _ => return None,
    })
}

pub fn stop_reason_to_wire(r: StopReason) -> &'static str {
    match r {
        StopReason::EndTurn => "end_turn",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ToolUse => "tool_use",
        StopReason::Refusal => "refusal",
        StopReason::PauseTurn => "pause_turn",
    }
}
