//! Behaviour options: the `Behaviour` overrides (defaults, CLI flags, `/s/{opts}` scenarios)
//! and their resolution into the effective values one request is served with.

use std::fmt;
use std::str::FromStr;

/// Reply size mode (for benchmarks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Size {
    /// A short reply (a few hundred bytes of body).
    #[default]
    Small,
    /// The reply content is padded so that a non-stream body is about 10 KB.
    Large,
}

impl FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "small" => Ok(Size::Small),
            "large" => Ok(Size::Large),
            _ => Err(format!("size must be small or large, not {s:?}")),
        }
    }
}

/// How the mock answers. Every field is an override; `None` means "use the default" (given in
/// each field's doc). Server defaults come from [`crate::MockConfig::defaults`]; a request to
/// `/s/{opts}/v1/...` overlays `opts` (`key=value,key=value`) on top of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::Args)]
pub struct Behaviour {
    /// HTTP status to answer with (200). Non-200 gives an error body in the dialect's shape.
    #[arg(long)]
    pub status: Option<u16>,
    /// Seconds sent as `retry-after` on error responses (none).
    #[arg(long)]
    pub retry_after: Option<u64>,
    /// Delay before headers, in ms (0).
    #[arg(long)]
    pub latency_ms: Option<u64>,
    /// Uniform jitter of ± this many ms around `latency_ms` (0).
    #[arg(long)]
    pub jitter_ms: Option<u64>,
    /// Extra sleep before headers, in ms, to simulate a stalled upstream (0).
    #[arg(long)]
    pub stall_ms: Option<u64>,
    /// Number of content chunks (= words of the reply) (8).
    #[arg(long)]
    pub chunks: Option<u64>,
    /// Delay between stream chunks, in ms (0).
    #[arg(long)]
    pub chunk_delay_ms: Option<u64>,
    /// In a stream, after this many content chunks sleep `stall_mid_ms` (none). In a
    /// non-stream reply, send half of the body, sleep `stall_mid_ms`, then the rest.
    #[arg(long)]
    pub stall_after: Option<u64>,
    /// Length of the mid-stream stall, in ms (600000).
    #[arg(long)]
    pub stall_mid_ms: Option<u64>,
    /// In a stream, after this many content chunks abort the connection (none). In a
    /// non-stream reply, send half of the body and abort.
    #[arg(long)]
    pub cut_after: Option<u64>,
    /// In a stream, after this many content chunks send the dialect's in-stream error (an
    /// Anthropic `event: error`, an OpenAI or Gemini error object, a Bedrock exception
    /// message) and end the stream cleanly (none).
    #[arg(long)]
    pub error_after: Option<u64>,
    /// Override the prompt size: OpenAI `prompt_tokens`, which includes cached and cache-write
    /// tokens; other dialects derive theirs with their own cache semantics (counted words).
    #[arg(long)]
    pub prompt_tokens: Option<u64>,
    /// Override `usage.completion_tokens` (content chunks emitted).
    #[arg(long)]
    pub completion_tokens: Option<u64>,
    /// Prompt tokens read from the cache (0): OpenAI `cached_tokens`, Anthropic
    /// `cache_read_input_tokens`, Gemini `cachedContentTokenCount`, Bedrock `cacheReadInputTokens`.
    #[arg(long)]
    pub cached_tokens: Option<u64>,
    /// Prompt tokens written to the cache (0): Anthropic `cache_creation_input_tokens`, Bedrock
    /// `cacheWriteInputTokens` (OpenAI and Gemini have no such field).
    #[arg(long)]
    pub cache_write_tokens: Option<u64>,
    /// Of the cache writes, those kept for one hour (0): Anthropic
    /// `usage.cache_creation.ephemeral_1h_input_tokens` (the rest are `ephemeral_5m_input_tokens`;
    /// the object is sent when this is set).
    #[arg(long)]
    pub cache_write_1h_tokens: Option<u64>,
    /// The service tier the answer names (none): OpenAI's top-level `service_tier` (chat
    /// bodies and every chunk, Responses objects), Anthropic's `usage.service_tier`. One of
    /// `default`, `flex`, `priority`, `auto`, `scale`, `standard`, `batch`.
    #[arg(long, value_parser = tier)]
    pub service_tier: Option<&'static str>,
    /// `usage.completion_tokens_details.reasoning_tokens` (0).
    #[arg(long)]
    pub reasoning_tokens: Option<u64>,
    /// Reply size: small or large (small).
    #[arg(long, value_enum)]
    pub size: Option<Size>,
    /// 1: the reply carries no usage at all, as some OpenAI-compatible servers answer (0).
    #[arg(long)]
    pub no_usage: Option<u64>,
    /// A reply that is not what its protocol promises (none): non-stream, a 200 whose body is
    /// an HTML page; stream, after this many content chunks a frame whose data is not JSON,
    /// then the stream goes on.
    #[arg(long)]
    pub garbage_after: Option<u64>,
    /// A reply cut mid-frame but ended cleanly (none): in a stream, after this many content
    /// chunks the first half of the next frame, then the end of the body; non-stream, the
    /// first half of the body (its `Content-Length` saying so).
    #[arg(long)]
    pub truncate_after: Option<u64>,
    /// An error answer (`status`) whose message is padded to this many bytes (none), as a
    /// provider that echoes a whole request or dumps a page might send.
    #[arg(long)]
    pub error_bytes: Option<u64>,
}

/// A service tier name the providers use.
fn tier(name: &str) -> Result<&'static str, String> {
    ["default", "flex", "priority", "auto", "scale", "standard", "batch"]
        .into_iter()
        .find(|t| *t == name)
        .ok_or_else(|| format!("unknown service tier {name:?}"))
}

/// A malformed scenario option string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionError(pub String);

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OptionError {}

impl Behaviour {
    /// `self` with every option set in `over` replaced.
    pub fn overlay(&self, over: &Behaviour) -> Behaviour {
        macro_rules! pick {
            ($($f:ident),*) => { Behaviour { $($f: over.$f.or(self.$f)),* } };
        }
        pick!(
            status,
            retry_after,
            latency_ms,
            jitter_ms,
            stall_ms,
            chunks,
            chunk_delay_ms,
            stall_after,
            stall_mid_ms,
            cut_after,
            error_after,
            prompt_tokens,
            completion_tokens,
            cached_tokens,
            cache_write_tokens,
            cache_write_1h_tokens,
            service_tier,
            reasoning_tokens,
            size,
            no_usage,
            garbage_after,
            truncate_after,
            error_bytes
        )
    }

    /// Parses `key=value,key=value` (keys with `_` or `-`) and applies it on top of `self`.
    pub fn with_scenario(&self, opts: &str) -> Result<Behaviour, OptionError> {
        let mut b = *self;
        for item in opts.split(',').filter(|s| !s.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| OptionError(format!("scenario option {item:?} is not key=value")))?;
            b.set(key, value)?;
        }
        Ok(b)
    }

    /// Sets one option by name.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), OptionError> {
        let num = || {
            value.parse::<u64>().map_err(|_| OptionError(format!("scenario option {key}: {value:?} is not a number")))
        };
        let key = key.replace('-', "_");
        match key.as_str() {
            "status" => {
                let s = num()?;
                if !(200..=599).contains(&s) {
                    return Err(OptionError(format!("status {s} out of range 200..=599")));
                }
                self.status = Some(s as u16);
            }
            "retry_after" => self.retry_after = Some(num()?),
            "latency_ms" => self.latency_ms = Some(num()?),
            "jitter_ms" => self.jitter_ms = Some(num()?),
            "stall_ms" => self.stall_ms = Some(num()?),
            "chunks" => self.chunks = Some(num()?),
            "chunk_delay_ms" => self.chunk_delay_ms = Some(num()?),
            "stall_after" => self.stall_after = Some(num()?),
            "stall_mid_ms" => self.stall_mid_ms = Some(num()?),
            "cut_after" => self.cut_after = Some(num()?),
            "error_after" => self.error_after = Some(num()?),
            "prompt_tokens" => self.prompt_tokens = Some(num()?),
            "completion_tokens" => self.completion_tokens = Some(num()?),
            "cached_tokens" => self.cached_tokens = Some(num()?),
            "cache_write_tokens" => self.cache_write_tokens = Some(num()?),
            "cache_write_1h_tokens" => self.cache_write_1h_tokens = Some(num()?),
            "service_tier" => self.service_tier = Some(tier(value).map_err(OptionError)?),
            "reasoning_tokens" => self.reasoning_tokens = Some(num()?),
            "size" => self.size = Some(value.parse().map_err(OptionError)?),
            "no_usage" => self.no_usage = Some(num()?),
            "garbage_after" => self.garbage_after = Some(num()?),
            "truncate_after" => self.truncate_after = Some(num()?),
            "error_bytes" => self.error_bytes = Some(num()?),
            _ => return Err(OptionError(format!("unknown scenario option {key:?}"))),
        }
        Ok(())
    }

    /// The effective values, defaults filled in.
    pub fn resolve(&self) -> Effective {
        Effective {
            status: self.status.unwrap_or(200),
            retry_after: self.retry_after,
            latency_ms: self.latency_ms.unwrap_or(0),
            jitter_ms: self.jitter_ms.unwrap_or(0),
            stall_ms: self.stall_ms.unwrap_or(0),
            chunks: self.chunks.unwrap_or(8),
            chunk_delay_ms: self.chunk_delay_ms.unwrap_or(0),
            stall_after: self.stall_after,
            stall_mid_ms: self.stall_mid_ms.unwrap_or(600_000),
            cut_after: self.cut_after,
            error_after: self.error_after,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            cached_tokens: self.cached_tokens.unwrap_or(0),
            cache_write_tokens: self.cache_write_tokens.unwrap_or(0),
            cache_write_1h_tokens: self.cache_write_1h_tokens.unwrap_or(0),
            service_tier: self.service_tier,
            reasoning_tokens: self.reasoning_tokens.unwrap_or(0),
            size: self.size.unwrap_or_default(),
            no_usage: self.no_usage.unwrap_or(0) != 0,
            garbage_after: self.garbage_after,
            truncate_after: self.truncate_after,
            error_bytes: self.error_bytes,
        }
    }
}

/// Options with defaults applied; see [`Behaviour`] for their meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Effective {
    pub status: u16,
    pub retry_after: Option<u64>,
    pub latency_ms: u64,
    pub jitter_ms: u64,
    pub stall_ms: u64,
    pub chunks: u64,
    pub chunk_delay_ms: u64,
    pub stall_after: Option<u64>,
    pub stall_mid_ms: u64,
    pub cut_after: Option<u64>,
    pub error_after: Option<u64>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub cached_tokens: u64,
    pub cache_write_tokens: u64,
    pub cache_write_1h_tokens: u64,
    pub service_tier: Option<&'static str>,
    pub reasoning_tokens: u64,
    pub size: Size,
    pub no_usage: bool,
    pub garbage_after: Option<u64>,
    pub truncate_after: Option<u64>,
    pub error_bytes: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_overlays_defaults() {
        let defaults = Behaviour { chunks: Some(4), latency_ms: Some(5), ..Default::default() };
        let b = defaults.with_scenario("status=429,retry-after=3,size=large").unwrap();
        let e = b.resolve();
        assert_eq!(e.status, 429);
        assert_eq!(e.retry_after, Some(3));
        assert_eq!(e.chunks, 4);
        assert_eq!(e.latency_ms, 5);
        assert_eq!(e.size, Size::Large);
        assert_eq!(Behaviour::default().resolve().chunks, 8);
        assert!(defaults.with_scenario("bogus=1").is_err());
        assert!(defaults.with_scenario("chunks=x").is_err());
        assert!(defaults.with_scenario("status=99").is_err());
        assert_eq!(defaults.overlay(&b), b);
    }
}
