//! Model-name patterns: a configured model whose name holds one `*` (`claude-*`, `gpt-5*`,
//! `anthropic/*`) serves every requested name it matches. The `*` of a target's upstream model
//! is filled with what the name's `*` matched, so `claude-*` → `claude-*` forwards the
//! requested name and `anthropic/*` → `*` forwards the part after `anthropic/`; a target
//! without `*` sends every match to that one model. Exact names win over patterns, and among
//! patterns the one with more literal characters wins (ties: the smaller name, so the choice
//! never depends on load order).

/// A name with one `*`: what comes before and after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    prefix: String,
    suffix: String,
}

impl Pattern {
    /// `None` for a plain name; an error for a name with more than one `*`.
    pub fn parse(name: &str) -> Option<Result<Pattern, String>> {
        let (prefix, suffix) = name.split_once('*')?;
        if suffix.contains('*') {
            return Some(Err(format!("`{name}`: a model pattern may hold only one `*`")));
        }
        Some(Ok(Pattern { prefix: prefix.to_string(), suffix: suffix.to_string() }))
    }

    /// What the `*` matched in `name` (possibly empty), if `name` matches.
    pub fn capture<'a>(&self, name: &'a str) -> Option<&'a str> {
        let rest = name.strip_prefix(self.prefix.as_str())?;
        rest.strip_suffix(self.suffix.as_str())
    }

    /// Characters the pattern fixes: the longer, the more specific.
    pub fn literal_len(&self) -> usize {
        self.prefix.len() + self.suffix.len()
    }

    /// The name this pattern gives for a capture (the inverse of [`Pattern::capture`]).
    pub fn name_for(&self, capture: &str) -> String {
        format!("{}{capture}{}", self.prefix, self.suffix)
    }
}

/// A target's upstream model for a capture: its `*` replaced, or the template as it is.
pub fn fill(template: &str, capture: &str) -> String {
    match template.split_once('*') {
        Some((before, after)) => format!("{before}{capture}{after}"),
        None => template.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str) -> Pattern {
        Pattern::parse(name).unwrap().unwrap()
    }

    #[test]
    fn a_pattern_matches_by_its_literal_ends_and_captures_the_middle() {
        assert!(Pattern::parse("gpt-4o").is_none());
        assert!(Pattern::parse("a*b*").unwrap().is_err());
        assert_eq!(p("claude-*").capture("claude-haiku-4-5"), Some("haiku-4-5"));
        assert_eq!(p("claude-*").capture("gpt-4o"), None);
        assert_eq!(p("gpt-5*").capture("gpt-5"), Some(""));
        assert_eq!(p("anthropic/*").capture("anthropic/claude-sonnet-4-5"), Some("claude-sonnet-4-5"));
        assert_eq!(p("*-mini").capture("o4-mini"), Some("o4"));
        assert_eq!(p("ab*ba").capture("aba"), None, "the ends may not overlap");
        assert_eq!(p("*").capture("anything"), Some("anything"));
        assert!(p("claude-sonnet-*").literal_len() > p("claude-*").literal_len());
    }

    #[test]
    fn a_targets_star_is_filled_with_the_capture() {
        assert_eq!(fill("claude-*", "haiku-4-5"), "claude-haiku-4-5");
        assert_eq!(fill("*", "claude-sonnet-4-5"), "claude-sonnet-4-5");
        assert_eq!(fill("us.anthropic.claude-*-v1:0", "sonnet-4"), "us.anthropic.claude-sonnet-4-v1:0");
        assert_eq!(fill("fixed-model", "x"), "fixed-model");
        assert_eq!(p("anthropic/*").name_for("claude-x"), "anthropic/claude-x");
    }
}
