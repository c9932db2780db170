//! The console's languages: English, Chinese and Japanese, chosen by the `tollgate_lang`
//! cookie (the switch on every page) or else `Accept-Language`. Every string has all three
//! translations side by side in `i18n/catalog.rs`, so none can be forgotten.

use axum::http::HeaderMap;

mod catalog;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
    Ja,
}

/// The cookie the language switch sets.
pub const COOKIE: &str = "tollgate_lang";

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::En, Lang::Zh, Lang::Ja];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
            Lang::Ja => "ja",
        }
    }

    /// The language's own name, as the switch shows it.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Zh => "中文",
            Lang::Ja => "日本語",
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.code() == code)
    }

    /// The switch's choice, else the first supported language of `Accept-Language` by weight.
    pub fn negotiate(headers: &HeaderMap) -> Lang {
        if let Some(l) = crate::sessions::cookie(headers, COOKIE).and_then(Lang::from_code) {
            return l;
        }
        let accept = headers.get("accept-language").and_then(|v| v.to_str().ok()).unwrap_or("");
        Lang::from_accept_language(accept)
    }

    fn from_accept_language(accept: &str) -> Lang {
        let mut best: Option<(f32, usize, Lang)> = None;
        for (i, part) in accept.split(',').enumerate() {
            let mut bits = part.trim().split(';');
            let tag = bits.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = bits.find_map(|b| b.trim().strip_prefix("q=")).and_then(|q| q.parse::<f32>().ok()).unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            let Some(lang) = Lang::from_code(primary) else { continue };
            // Highest weight wins; among equal weights, the one listed first.
            if q > 0.0 && best.is_none_or(|(bq, bi, _)| q > bq || (q == bq && i < bi)) {
                best = Some((q, i, lang));
            }
        }
        best.map_or(Lang::En, |(_, _, l)| l)
    }

    /// The text of `key` in this language (the key itself if it is missing: a test checks
    /// that every key the templates use exists).
    /// The notice a redirect's `?ok=KIND` names (`notice.KIND` in the catalog).
    pub fn notice(self, ok: Option<&str>) -> Option<&'static str> {
        ok.map(|k| self.t(&format!("notice.{k}")))
    }

    pub fn t(self, key: &str) -> &'static str {
        match catalog::lookup(key) {
            Some((en, zh, ja)) => match self {
                Lang::En => en,
                Lang::Zh => zh,
                Lang::Ja => ja,
            },
            None => {
                tracing::warn!(key, "console text missing");
                "…"
            }
        }
    }
}

/// Whether the catalog has a text for `key`.
pub fn has(key: &str) -> bool {
    catalog::lookup(key).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_supported() {
        assert_eq!(Lang::from_accept_language(""), Lang::En);
        assert_eq!(Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"), Lang::Zh);
        assert_eq!(Lang::from_accept_language("fr-FR, ja;q=0.5, en;q=0.4"), Lang::Ja);
        assert_eq!(Lang::from_accept_language("en-US;q=0.5, zh-TW;q=0.9"), Lang::Zh);
        assert_eq!(Lang::from_accept_language("de, fr"), Lang::En);
    }

    #[test]
    fn every_key_used_by_templates_and_code_exists() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/src/console");
        let mut missing = Vec::new();
        let mut files = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(root)];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "html" || x == "rs") && !p.ends_with("catalog.rs") {
                    files.push(p);
                }
            }
        }
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for (i, _) in text.match_indices(".t(\"") {
                let rest = &text[i + 4..];
                let key = &rest[..rest.find('"').unwrap()];
                if key.contains('.') && catalog::lookup(key).is_none() {
                    missing.push(format!("{}: {key}", f.display()));
                }
            }
        }
        assert!(missing.is_empty(), "console texts missing from the catalog:\n{}", missing.join("\n"));
    }
}
