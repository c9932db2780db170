//! The canonical chat representation every dialect converts to and from. It is shaped after
//! the richer of the two dialects (Anthropic content blocks), so OpenAI requests map into it
//! without loss of meaning, and it keeps opaque provider data (thinking signatures, redacted
//! thinking) as the exact strings the provider sent.

use serde_json::Value;

use crate::billing::pricing::Usage;

/// One chat request, dialect-neutral.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Request {
    /// The model name as the client sent it; the adapter rewrites it for the upstream.
    pub model: String,
    /// System prompt blocks, in order. OpenAI system/developer messages are hoisted here,
    /// because Anthropic has one top-level system prompt.
    pub system: Vec<TextPart>,
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    /// `Some(false)` forbids parallel tool calls (OpenAI `parallel_tool_calls: false`,
    /// Anthropic `disable_parallel_tool_use: true`).
    pub parallel_tool_calls: Option<bool>,
    /// Output token limit (OpenAI `max_completion_tokens` or `max_tokens`, Anthropic
    /// `max_tokens`).
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    /// Anthropic only; OpenAI has no top-k.
    pub top_k: Option<u32>,
    pub stop: Vec<String>,
    pub response_format: Option<ResponseFormat>,
    pub stream: bool,
    /// OpenAI `stream_options.include_usage`: the client wants the final usage chunk.
    pub include_usage: bool,
    /// End-user id (OpenAI `user`, Anthropic `metadata.user_id`).
    pub user: Option<String>,
    /// Extended thinking budget (Anthropic `thinking: {type: enabled, budget_tokens}`).
    pub thinking_budget: Option<u32>,
    /// Thinking as much as the model sees fit (Anthropic `thinking: {type: adaptive}`).
    pub adaptive_thinking: bool,
    /// How hard the model should work (Anthropic `output_config.effort`, OpenAI
    /// `reasoning_effort`, Responses `reasoning.effort`).
    pub effort: Option<Effort>,
}

/// A reasoning-effort level, in the union of the dialects' vocabularies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Effort {
    /// OpenAI `none` / `minimal`: as little reasoning as the model allows.
    Minimal,
    Low,
    Medium,
    High,
    /// Anthropic `max`, OpenAI `xhigh`.
    Max,
}

impl Effort {
    /// Reads any dialect's word for it (`none` and `minimal` are one level here).
    pub fn parse(word: &str) -> Option<Effort> {
        Some(match word {
            "none" | "minimal" => Effort::Minimal,
            "low" => Effort::Low,
            "medium" => Effort::Medium,
            "high" => Effort::High,
            "max" | "xhigh" => Effort::Max,
            _ => return None,
        })
    }

    /// The level a thinking budget amounts to (for dialects that take a level, not tokens).
    pub fn of_budget(budget: u32) -> Effort {
        match budget {
            0..=1024 => Effort::Minimal,
            1025..=4096 => Effort::Low,
            4097..=16384 => Effort::Medium,
            _ => Effort::High,
        }
    }

    /// A thinking budget for the level (for dialects that take tokens, not a level).
    pub fn budget(self) -> u32 {
        match self {
            Effort::Minimal => 1024,
            Effort::Low => 4096,
            Effort::Medium => 16384,
            Effort::High => 32768,
            Effort::Max => 65536,
        }
    }
}

impl Request {
    /// Every image of the conversation, tool results included, in order (the gateway swaps
    /// fetched bytes in for URLs through this).
    pub fn images_mut(&mut self) -> impl Iterator<Item = &mut Image> {
        self.messages.iter_mut().flat_map(|m| m.content.iter_mut()).flat_map(|p| {
            let (single, results) = match p {
                Part::Image(i) => (Some(i), None),
                Part::ToolResult { content, .. } => (None, Some(content.iter_mut())),
                _ => (None, None),
            };
            let in_results = results
                .into_iter()
                .flatten()
                .filter_map(|c| if let ToolResultPart::Image(i) = c { Some(i) } else { None });
            single.into_iter().chain(in_results)
        })
    }
}

/// Who speaks. The system prompt lives in [`Request::system`]; a `System` message is an
/// instruction given in the course of the conversation (Anthropic `role: "system"` entries
/// inside `messages`, as Claude Code sends them), kept where it was said and holding text
/// only. Tool results are user content (as in Anthropic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
    System,
}

impl Message {
    /// The text parts of a message (all of a `System` message's content).
    pub fn texts(&self) -> impl Iterator<Item = &TextPart> {
        self.content.iter().filter_map(|p| if let Part::Text(t) = p { Some(t) } else { None })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Part>,
}

/// Text with its Anthropic prompt-caching marker, kept so Anthropic → Anthropic-shaped
/// conversions do not lose cache breakpoints.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TextPart {
    pub text: String,
    pub cache_control: Option<Value>,
}

impl TextPart {
    pub fn new(text: impl Into<String>) -> Self {
        TextPart { text: text.into(), cache_control: None }
    }
}

/// One piece of message content.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(TextPart),
    Image(Image),
    /// An inline PDF (Anthropic `document` with a base64 source, OpenAI `file` with
    /// `file_data`).
    Document(Document),
    /// A tool call made by the assistant. `input` is the parsed JSON arguments (an object).
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    /// The result of a tool call, sent by the user side.
    ToolResult {
        tool_use_id: String,
        content: Vec<ToolResultPart>,
        is_error: bool,
    },
    /// Visible reasoning. `signature` is opaque provider data, passed back byte-exact;
    /// `None` when the provider gives none (OpenAI-compatible `reasoning_content`).
    Thinking {
        thinking: String,
        signature: Option<String>,
    },
    /// Encrypted reasoning: the provider's opaque `data`, byte-exact.
    RedactedThinking {
        data: String,
    },
}

/// What a tool result may hold.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolResultPart {
    Text(TextPart),
    Image(Image),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub source: ImageSource,
    pub cache_control: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// `application/pdf`: the one document type both dialects take inline.
    pub media_type: String,
    /// Base64, as sent.
    pub data: String,
    /// Anthropic `title`, OpenAI `filename`: both name the document to the model.
    pub title: Option<String>,
    pub cache_control: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ImageSource {
    /// A remote image the provider fetches itself (the gateway never fetches it).
    Url(String),
    /// Inline bytes, base64 as sent, with their media type (`image/png`, ...).
    Base64 { media_type: String, data: String },
}

impl ImageSource {
    /// Reads an OpenAI `image_url.url`: a `data:<type>;base64,<data>` URL becomes inline
    /// bytes, anything else stays a URL.
    pub fn from_url(url: &str) -> ImageSource {
        if let Some(rest) = url.strip_prefix("data:")
            && let Some((meta, data)) = rest.split_once(',')
            && let Some(media_type) = meta.strip_suffix(";base64")
        {
            return ImageSource::Base64 { media_type: media_type.to_string(), data: data.to_string() };
        }
        ImageSource::Url(url.to_string())
    }

    /// The OpenAI form: inline bytes become a data URL.
    pub fn to_url(&self) -> String {
        match self {
            ImageSource::Url(u) => u.clone(),
            ImageSource::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        }
    }
}

/// A function tool the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    pub input_schema: Value,
    pub cache_control: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    Auto,
    None,
    /// Some tool must be called (OpenAI `required`, Anthropic `any`).
    Required,
    /// This tool must be called.
    Tool(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema { name: String, description: Option<String>, schema: Value, strict: Option<bool> },
}

/// Why generation stopped, in the gateway's vocabulary; each dialect maps to and from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    EndTurn,
    MaxTokens,
    StopSequence,
    ToolUse,
    /// The provider refused or filtered (Anthropic `refusal`, OpenAI `content_filter`).
    Refusal,
    /// Anthropic `pause_turn`: a long server-side turn was paused; the client may continue.
    PauseTurn,
}

/// One complete (non-streamed) response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub id: String,
    pub model: String,
    pub content: Vec<Part>,
    pub stop_reason: Option<StopReason>,
    /// The stop sequence that matched, when the provider says which (Anthropic does).
    pub stop_sequence: Option<String>,
    pub usage: Usage,
}

impl Response {
    /// Bytes of generated text: text and thinking, each tool call's name and JSON input (what
    /// an answer without usage is charged for as output, counted like a stream's).
    pub fn output_bytes(&self) -> usize {
        self.content
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.text.len(),
                Part::Thinking { thinking, .. } => thinking.len(),
                Part::ToolUse { name, input, .. } => name.len() + input.to_string().len(),
                _ => 0,
            })
            .sum()
    }
}

/// Makes a tool-call id acceptable everywhere: Anthropic requires `^[a-zA-Z0-9_-]+$`, while
/// some OpenAI-compatible servers use ids such as `functions.get:0`. The mapping is
/// deterministic, so a call and its result still match after conversion.
pub fn sanitize_tool_id(id: &str) -> String {
    let s: String =
        id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
    if s.is_empty() { "toolu_empty".to_string() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_urls_become_inline_images_and_back() {
        let s = ImageSource::from_url("data:image/png;base64,iVBORw0=");
        assert_eq!(s, ImageSource::Base64 { media_type: "image/png".into(), data: "iVBORw0=".into() });
        assert_eq!(s.to_url(), "data:image/png;base64,iVBORw0=");
        let u = ImageSource::from_url("https://x.test/a.png");
        assert_eq!(u, ImageSource::Url("https://x.test/a.png".into()));
        // A data URL that is not base64 cannot be inline bytes; it stays a URL.
        assert_eq!(ImageSource::from_url("data:text/plain,hi"), ImageSource::Url("data:text/plain,hi".into()));
    }

    #[test]
    fn tool_ids_are_sanitized_deterministically() {
        assert_eq!(sanitize_tool_id("call_AbC-1"), "call_AbC-1");
        assert_eq!(sanitize_tool_id("functions.get:0"), "functions_get_0");
        assert_eq!(sanitize_tool_id(""), "toolu_empty");
    }
}
