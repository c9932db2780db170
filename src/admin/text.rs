//! What a stored string may hold: every name, URL, note and key the management API (and so
//! the console) writes is checked here — a length in bytes, and no control characters (NUL,
//! line breaks, escapes) or bidirectional-text controls (U+202A–U+202E, U+2066–U+2069 and the
//! marks), which would let a name hide or reorder what an operator reads in a list, a log
//! line or a CSV export. A refusal is a 400 naming the field.

use crate::error::ApiError;

/// Names: providers, credentials, models, users, keys, upstream model ids, regions.
pub(crate) const NAME_MAX: usize = 200;
/// URLs (`base_url`).
pub(crate) const URL_MAX: usize = 2048;
/// Free text (a ledger entry's note).
pub(crate) const NOTE_MAX: usize = 1000;
/// Items in a stored list (a key's models, a model's targets and fallbacks).
pub(crate) const LIST_MAX: usize = 1000;

/// A character no stored string may hold.
pub(crate) fn forbidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `v` fits `field`: at most `max` bytes, no forbidden character.
pub(crate) fn check(field: &'static str, v: &str, max: usize) -> Result<(), ApiError> {
    if v.len() > max {
        return Err(ApiError::invalid(format!("`{field}` must be at most {max} bytes")).with_param(field));
    }
    if let Some(c) = v.chars().find(|c| forbidden(*c)) {
        return Err(ApiError::invalid(format!(
            "`{field}` must not contain control or bidirectional-text characters (found U+{:04X})",
            c as u32
        ))
        .with_param(field));
    }
    Ok(())
}

/// An optional string, checked when present.
pub(crate) fn check_opt(field: &'static str, v: Option<&str>, max: usize) -> Result<(), ApiError> {
    v.map_or(Ok(()), |v| check(field, v, max))
}

/// A stored list: at most [`LIST_MAX`] items, each a name.
pub(crate) fn check_list(field: &'static str, items: &[String]) -> Result<(), ApiError> {
    if items.len() > LIST_MAX {
        return Err(ApiError::invalid(format!("`{field}` may hold at most {LIST_MAX} items")).with_param(field));
    }
    items.iter().try_for_each(|i| check(field, i, NAME_MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_and_long_strings_are_refused() {
        for bad in
            ["a\0b", "line\nbreak", "tab\there", "esc\u{1b}[31m", "\u{202E}gnp.exe", "x\u{2066}y", "\u{200F}", "\u{85}"]
        {
            let e = check("name", bad, NAME_MAX).unwrap_err();
            assert_eq!(e.param, Some("name"), "{bad:?}");
            assert!(e.message.contains("U+"), "{}", e.message);
        }
        assert!(check("name", &"a".repeat(NAME_MAX + 1), NAME_MAX).unwrap_err().message.contains("at most 200"));
        check("name", &"a".repeat(NAME_MAX), NAME_MAX).unwrap();
        // Other scripts, emoji and joiners are names like any other.
        for good in ["アリス", "张伟", "Zoë", "👩‍💻 dev", "عربي", "gpt-4o/mini:2024"] {
            check("name", good, NAME_MAX).unwrap();
        }
        assert!(check_list("models", &vec!["m".to_string(); LIST_MAX + 1]).is_err());
        assert!(check_list("models", &["ok".into(), "bad\0".into()]).is_err());
        check_opt("region", None, NAME_MAX).unwrap();
    }
}
