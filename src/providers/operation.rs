//! What one upstream request does: the operation a kind's URL is built for.

/// What one upstream request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Chat,
    Embeddings,
    /// Anthropic's `count_tokens`.
    CountTokens,
    /// OpenAI image generation (`/images/generations`).
    Images,
    /// OpenAI's Responses API (OpenAI-protocol providers; converted to `Chat` for the others).
    Responses,
}
