//! What the assistant answers, whatever the dialect: text pieces or tool calls, an optional
//! thinking block, the finish reason and the token counts. Each dialect parses its request
//! into an [`Ask`] and renders the [`Answer`] in its own shapes.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use serde_json::Value;

use crate::options::{Effective, Size};

/// The arguments of every mock tool call, split into the fragments a stream sends.
pub(crate) const TOOL_ARG_FRAGMENTS: [&str; 3] = ["{\"location\":", "\"Paris\"", "}"];
/// The arguments of every mock tool call, whole.
pub(crate) const TOOL_ARGS: &str = "{\"location\":\"Paris\"}";
/// The content of a JSON-mode reply, as streamed pieces.
const JSON_PIECES: [&str; 3] = ["{\"answer\":", "\"Hello\"", "}"];
/// Reply vocabulary: piece 0 is "Hello", later pieces cycle through the rest.
const WORDS: [&str; 9] = ["Hello", " from", " the", " mock", " provider", " with", " a", " deterministic", " reply"];
/// The thinking of a reply that was asked to think, as streamed pieces.
const THINKING: [&str; 6] = ["Let", " me", " think", " this", " through", "."];
/// Target content length of a `size=large` reply, leaving room for the envelope of ~10 KB.
const LARGE_CONTENT: usize = 9_600;

/// One tool call of the reply.
pub(crate) struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments, a JSON object's text ([`TOOL_ARGS`] unless a directive chose them).
    pub args: Cow<'static, str>,
}

impl ToolCall {
    /// The arguments as a stream sends them: three fragments whose concatenation is `args`.
    pub(crate) fn fragments(&self) -> Vec<&str> {
        if self.args == TOOL_ARGS {
            return TOOL_ARG_FRAGMENTS.to_vec();
        }
        let cut = |n: usize| (n..=self.args.len()).find(|&i| self.args.is_char_boundary(i)).unwrap_or(self.args.len());
        let (a, b) = (cut(self.args.len() / 3), cut(2 * self.args.len() / 3));
        vec![&self.args[..a], &self.args[a..b], &self.args[b..]]
    }

    /// The arguments as JSON.
    pub(crate) fn input(&self) -> Value {
        serde_json::from_str(&self.args).unwrap_or_default()
    }
}

/// What a `mock-tool:` directive in the request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Directive {
    /// `mock-tool:none`: answer with text even though tools are offered.
    NoTool,
    /// `mock-tool:NAME:ARGS`: call the offered tool NAME with ARGS (base64url of a JSON
    /// object, so no JSON escaping can touch it).
    Call { name: String, args: String },
}

/// The last `mock-tool:` directive anywhere in a request body (a client's prompt carries it,
/// whatever the dialect wraps it in), for tests that drive real clients.
pub(crate) fn directive(body: &[u8]) -> Option<Directive> {
    const MARK: &[u8] = b"mock-tool:";
    let at = body.windows(MARK.len()).rposition(|w| w == MARK)? + MARK.len();
    let rest = &body[at..];
    let is_name = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
    let name_len = rest.iter().take_while(|b| is_name(b)).count();
    let name = std::str::from_utf8(&rest[..name_len]).ok()?;
    if name == "none" {
        return Some(Directive::NoTool);
    }
    let encoded = rest[name_len..].strip_prefix(b":")?;
    let len = encoded.iter().take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-')).count();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&encoded[..len]).ok()?;
    let args =
        String::from_utf8(raw).ok().filter(|a| serde_json::from_str::<serde_json::Map<String, Value>>(a).is_ok())?;
    Some(Directive::Call { name: name.to_string(), args })
}

/// What the assistant says.
pub(crate) enum Reply {
    /// Text, as the pieces a stream sends (their concatenation is the content).
    Text(Vec<Cow<'static, str>>),
    /// Tool calls (no text).
    Tools(Vec<ToolCall>),
}

/// Why the reply ended; each dialect names it its own way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Finish {
    Stop,
    Length,
    ToolUse,
}

/// Which tool the request lets or makes the model call.
pub(crate) enum ToolChoice {
    /// The model may call tools (also "required"/"any": the mock calls whenever it may).
    Auto,
    /// Tools are offered but must not be called.
    Never,
    /// This tool must be called.
    Named(String),
}

/// A request, reduced to what decides the answer.
pub(crate) struct Ask {
    /// The text of the tool result that ends the conversation, if it ends with one.
    pub tool_result: Option<String>,
    /// Names of the offered tools, in order.
    pub tools: Vec<String>,
    pub choice: ToolChoice,
    /// Whether several tools may be called at once.
    pub parallel: bool,
    /// JSON mode or a response schema: the reply is a small JSON object.
    pub json: bool,
    pub max_tokens: Option<u64>,
    /// The request asked for thinking (extended thinking, reasoning): a thinking block first.
    pub thinking: bool,
    /// A `mock-tool:` directive found in the request (see [`directive`]).
    pub directive: Option<Directive>,
}

/// A thinking block: its text as streamed pieces, and the opaque signature that vouches for it.
pub(crate) struct Thinking {
    pub pieces: Vec<Cow<'static, str>>,
    pub signature: String,
}

/// The decided answer.
pub(crate) struct Answer {
    pub thinking: Option<Thinking>,
    pub reply: Reply,
    pub finish: Finish,
}

impl Answer {
    /// Content chunks the answer streams (thinking pieces, text pieces, tool argument fragments).
    pub(crate) fn chunks(&self) -> u64 {
        let thinking = self.thinking.as_ref().map_or(0, |t| t.pieces.len());
        let reply = match &self.reply {
            Reply::Text(pieces) => pieces.len(),
            Reply::Tools(calls) => calls.iter().map(|c| c.fragments().len()).sum(),
        };
        (thinking + reply) as u64
    }

    /// The reply text, whole (empty for tool calls).
    pub(crate) fn text(&self) -> String {
        match &self.reply {
            Reply::Text(pieces) => pieces.concat(),
            Reply::Tools(_) => String::new(),
        }
    }
}

/// Token counts of one exchange with the scenario overrides applied; every dialect reports
/// them with its own cache semantics.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tokens {
    /// The whole prompt, cached and cache-write tokens included.
    pub prompt: u64,
    pub cached: u64,
    pub cache_write: u64,
    /// Of `cache_write`, the one-hour writes.
    pub cache_write_1h: u64,
    pub output: u64,
    pub reasoning: u64,
    /// The service tier the answer names.
    pub service_tier: Option<&'static str>,
}

impl Tokens {
    /// Counts for a prompt of `prompt_words` words answered by `answer`.
    pub(crate) fn new(prompt_words: u64, answer: &Answer, eff: &Effective) -> Tokens {
        Tokens {
            prompt: eff.prompt_tokens.unwrap_or(prompt_words.max(1)),
            cached: eff.cached_tokens,
            cache_write: eff.cache_write_tokens,
            cache_write_1h: eff.cache_write_1h_tokens.min(eff.cache_write_tokens),
            service_tier: eff.service_tier,
            output: eff.completion_tokens.unwrap_or_else(|| answer.chunks()),
            reasoning: eff.reasoning_tokens,
        }
    }

    /// The prompt tokens neither read from nor written to the cache (Anthropic and Bedrock
    /// `input_tokens`).
    pub(crate) fn uncached_prompt(&self) -> u64 {
        self.prompt.saturating_sub(self.cached).saturating_sub(self.cache_write)
    }
}

/// Words in `text`, the mock's token count.
pub(crate) fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// Words in a message content: a string, or the `text` of its parts.
pub(crate) fn content_words(content: &Value) -> u64 {
    match content {
        Value::String(s) => words(s),
        Value::Array(parts) => parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).map(words).sum(),
        _ => 0,
    }
}

/// The text of a message content (a string, or the concatenated `text` parts; other JSON as
/// JSON text).
pub(crate) fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect(),
        Some(other @ (Value::Number(_) | Value::Bool(_) | Value::Object(_))) => other.to_string(),
        _ => String::new(),
    }
}

/// Splits text into pieces that each start at a word (with the whitespace before it), so
/// their concatenation is exactly `text`.
pub(crate) fn split_words(text: &str) -> Vec<Cow<'static, str>> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut prev_space = true;
    for (i, ch) in text.char_indices() {
        let space = ch.is_whitespace();
        if space && !prev_space && i > start {
            pieces.push(Cow::Owned(text[start..i].to_owned()));
            start = i;
        }
        prev_space = space;
    }
    if start < text.len() {
        pieces.push(Cow::Owned(text[start..].to_owned()));
    }
    pieces
}

/// The standard reply: `chunks` words, the first "Hello"; padded when `size=large`.
pub(crate) fn text_pieces(chunks: u64, size: Size) -> Vec<Cow<'static, str>> {
    let n = chunks as usize;
    let mut pieces: Vec<Cow<'static, str>> = (0..n)
        .map(|i| match i {
            0 => Cow::Borrowed(WORDS[0]),
            _ => Cow::Borrowed(WORDS[1 + (i - 1) % (WORDS.len() - 1)]),
        })
        .collect();
    if size == Size::Large && n > 0 {
        let per_piece = LARGE_CONTENT / n;
        for piece in &mut pieces {
            let pad = per_piece.saturating_sub(piece.len() + 1);
            if pad > 0 {
                let mut s = String::with_capacity(piece.len() + 1 + pad);
                s.push_str(piece);
                s.push('-');
                s.extend((0..pad).map(|j| (b'a' + (j % 26) as u8) as char));
                *piece = Cow::Owned(s);
            }
        }
    }
    pieces
}

/// The tools to call, or `None` if no tool should be called.
fn chosen_tools(ask: &Ask) -> Option<Vec<&str>> {
    if ask.tools.is_empty() || ask.directive == Some(Directive::NoTool) {
        return None;
    }
    let names = ask.tools.iter().map(String::as_str);
    Some(match &ask.choice {
        ToolChoice::Never => return None,
        ToolChoice::Named(name) => vec![name.as_str()],
        ToolChoice::Auto if ask.parallel => names.take(2).collect(),
        ToolChoice::Auto => names.take(1).collect(),
    })
}

/// Decides the answer to `ask` under `eff`; tool call ids are `{id_prefix}{n}`.
pub(crate) fn decide(ask: &Ask, eff: &Effective, counter: &AtomicU64, id_prefix: &str) -> Answer {
    let mut finish = Finish::Stop;
    let directed = match &ask.directive {
        Some(Directive::Call { name, args })
            if ask.tools.contains(name) && !matches!(ask.choice, ToolChoice::Never) =>
        {
            Some((name, args))
        }
        _ => None,
    };
    let reply = if let Some(result) = &ask.tool_result {
        Reply::Text(split_words(&format!("tool result received: {result}")))
    } else if let Some((name, args)) = directed {
        finish = Finish::ToolUse;
        Reply::Tools(vec![ToolCall {
            id: format!("{id_prefix}{}", counter.fetch_add(1, Ordering::Relaxed)),
            name: name.clone(),
            args: Cow::Owned(args.clone()),
        }])
    } else if let Some(names) = chosen_tools(ask) {
        finish = Finish::ToolUse;
        let calls = names
            .into_iter()
            .map(|name| ToolCall {
                id: format!("{id_prefix}{}", counter.fetch_add(1, Ordering::Relaxed)),
                name: name.to_owned(),
                args: Cow::Borrowed(TOOL_ARGS),
            })
            .collect();
        Reply::Tools(calls)
    } else if ask.json {
        Reply::Text(JSON_PIECES.iter().map(|p| Cow::Borrowed(*p)).collect())
    } else {
        let mut pieces = text_pieces(eff.chunks, eff.size);
        if let Some(limit) = ask.max_tokens.filter(|l| *l < pieces.len() as u64) {
            pieces.truncate(limit as usize);
            finish = Finish::Length;
        }
        Reply::Text(pieces)
    };
    let thinking = ask.thinking.then(|| Thinking {
        pieces: THINKING.iter().map(|p| Cow::Borrowed(*p)).collect(),
        signature: signature(counter.fetch_add(1, Ordering::Relaxed)),
    });
    Answer { thinking, reply, finish }
}

/// An opaque signature with the characters real ones have (`+`, `/`, `=` padding), so that a
/// gateway that re-encodes instead of passing it byte-exact is caught.
fn signature(n: u64) -> String {
    let mut raw = format!("mock-thinking-signature-{n}:").into_bytes();
    raw.extend_from_slice(&[0xfb, 0xff, 0xfe, 0x3e, 0x3f]);
    base64::engine::general_purpose::STANDARD.encode(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_words_is_lossless() {
        let text = "tool result received: {\"temp\":  20}\n ok";
        let pieces = split_words(text);
        assert_eq!(pieces.concat(), text);
        assert_eq!(pieces.len(), 6);
        assert_eq!(text_pieces(3, Size::Small).concat(), "Hello from the");
        let large: usize = text_pieces(8, Size::Large).iter().map(|p| p.len()).sum();
        assert!((9_000..=LARGE_CONTENT).contains(&large), "{large}");
    }

    #[test]
    fn directives_are_found_anywhere_in_a_body() {
        let args = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"file_path":"/tmp/a b.txt"}"#);
        let body = format!(r#"{{"messages":[{{"content":"read it mock-tool:Read:{args} please"}}]}}"#);
        let d = directive(body.as_bytes()).unwrap();
        assert_eq!(d, Directive::Call { name: "Read".into(), args: r#"{"file_path":"/tmp/a b.txt"}"#.into() });
        assert_eq!(directive(b"say hi mock-tool:none"), Some(Directive::NoTool));
        assert_eq!(directive(b"no directive here"), None);
        assert_eq!(directive(b"mock-tool:Read:!!"), None, "arguments must be a JSON object");
        let call =
            ToolCall { id: "t".into(), name: "Read".into(), args: Cow::Owned("{\"k\":\"\u{e9}t\u{e9}\"}".into()) };
        assert_eq!(call.fragments().concat(), call.args);
        assert_eq!(call.input()["k"], "\u{e9}t\u{e9}");
    }

    #[test]
    fn signature_has_base64_specials() {
        let s = signature(1);
        assert!(s.contains('+') || s.contains('/'), "{s}");
        assert!(s.ends_with('='), "{s}");
    }
}
