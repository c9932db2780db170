//! What every console page shows around its content: the language, the signed-in person,
//! the navigation, the CSRF token forms carry, and the versioned URLs of the static files.

use super::assets;
use super::i18n::Lang;
use crate::sessions::Session;

pub struct Chrome {
    pub lang: Lang,
    /// The page's path, to mark its navigation link and come back after a language switch.
    pub path: String,
    /// Empty on pages shown to someone not signed in (sign-in, errors).
    pub user_name: String,
    pub is_admin: bool,
    pub csrf: String,
}

impl Chrome {
    pub fn new(lang: Lang, path: &str, session: &Session) -> Chrome {
        Chrome {
            lang,
            path: path.to_string(),
            user_name: session.user.name.clone(),
            is_admin: session.is_admin(),
            csrf: session.csrf.clone(),
        }
    }

    /// For pages without a session (the sign-in form carries its own token).
    pub fn anonymous(lang: Lang, path: &str, csrf: &str) -> Chrome {
        Chrome { lang, path: path.to_string(), user_name: String::new(), is_admin: false, csrf: csrf.to_string() }
    }

    pub fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }

    /// The text of `{prefix}.{name}`: states, kinds and other values shown translated.
    /// A value without a text of its own is shown as it is.
    pub fn t_prefixed(&self, prefix: &str, name: &str) -> String {
        let key = format!("{prefix}.{name}");
        if super::i18n::has(&key) { self.lang.t(&key).to_string() } else { name.to_string() }
    }

    /// Text equality across the string types templates hold (for `selected`).
    pub fn same(&self, a: impl AsRef<str>, b: impl AsRef<str>) -> bool {
        a.as_ref() == b.as_ref()
    }

    pub fn asset(&self, name: &str) -> String {
        assets::url(name)
    }

    /// `aria-current="page"` on the link of the section being shown.
    pub fn current(&self, prefix: &str) -> &'static str {
        let here = self.path == prefix || (prefix != "/me" && self.path.starts_with(&format!("{prefix}/")));
        if here { "aria-current=\"page\"" } else { "" }
    }

    /// The language switch's links, each returning to this page.
    pub fn languages(&self) -> Vec<(&'static str, &'static str, String, bool)> {
        Lang::ALL
            .iter()
            .map(|l| {
                (l.code(), l.name(), format!("/lang/{}?next={}", l.code(), urlencode(&self.path)), *l == self.lang)
            })
            .collect()
    }

    /// The strings the page's script shows, as a JSON object.
    pub fn script_texts(&self) -> String {
        let keys = [
            "copied",
            "exporting",
            "exported",
            "export_failed",
            "no_data",
            "stats_failed",
            "chart_calls",
            "chart_tokens",
            "chart_cost",
            "chart_errors",
            "chart_latency",
            "chart_ttft",
            "calls",
            "input",
            "output",
            "cost",
            "error_rate",
        ];
        let map: serde_json::Map<String, serde_json::Value> =
            keys.iter().map(|k| (k.to_string(), self.t(&format!("js.{k}")).into())).collect();
        serde_json::Value::Object(map).to_string()
    }
}

pub fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)]).map(|e| e[1..].to_string()).unwrap_or_default()
}
