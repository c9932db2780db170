//! One chat completion as decided (its reply, finish reason, usage and options) and the wire
//! pieces its JSON and streamed encodings ([`crate::chat_json`], [`crate::chat_stream`]) share.

use serde::Serialize;

use crate::reply::Reply;

/// Fixed `created` timestamp of every response.
pub(crate) const CREATED: u64 = 1_700_000_000;

/// `usage` of a completion.
#[derive(Serialize, Clone, Copy, Debug)]
pub(crate) struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub prompt_tokens_details: PromptDetails,
    pub completion_tokens_details: CompletionDetails,
}

#[derive(Serialize, Clone, Copy, Debug)]
pub(crate) struct PromptDetails {
    pub cached_tokens: u64,
}

#[derive(Serialize, Clone, Copy, Debug)]
pub(crate) struct CompletionDetails {
    pub reasoning_tokens: u64,
}

/// The decided reply to one chat request.
pub(crate) struct Plan {
    pub id: String,
    pub model: String,
    pub choices: u64,
    pub reply: Reply,
    pub finish_reason: &'static str,
    pub logprobs: bool,
    pub include_usage: bool,
    pub usage: Usage,
}

/// One entry of a `logprobs.content` list.
#[derive(Serialize)]
pub(crate) struct TokenLogprob<'a> {
    pub token: &'a str,
    pub logprob: f64,
    pub bytes: &'a [u8],
    pub top_logprobs: [u8; 0],
}

impl<'a> TokenLogprob<'a> {
    pub(crate) fn new(token: &'a str) -> Self {
        TokenLogprob { token, logprob: -0.1, bytes: token.as_bytes(), top_logprobs: [] }
    }
}

/// A `logprobs` object.
#[derive(Serialize)]
pub(crate) struct Logprobs<'a> {
    pub content: &'a [TokenLogprob<'a>],
}
