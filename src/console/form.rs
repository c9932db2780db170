//! Reading a posted form, and the one error a failed form shows next to the field that caused it.

use crate::error::ApiError;

/// A decoded `application/x-www-form-urlencoded` body, fields in order (names may repeat).
#[derive(Debug, Default)]
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(bytes: &[u8]) -> Form {
        Form(serde_urlencoded::from_bytes::<Vec<(String, String)>>(bytes).unwrap_or_default())
    }

    /// The first value of `name`, trimmed; `None` when absent or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    /// The value as typed, untrimmed (passwords).
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// `get`, owned: a field of an API body built from the form.
    pub fn opt(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_string)
    }

    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_string()
    }

    /// Every value of `name`, in order, blanks included (rows of a repeated group).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.trim()).collect()
    }

    /// A checkbox: present means on.
    pub fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// A whole number, or an error naming the field.
    pub fn int(&self, name: &'static str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|v| {
                v.parse::<i64>().map_err(|_| ApiError::invalid(format!("`{v}` is not a whole number")).with_param(name))
            })
            .transpose()
    }

    /// A credit amount as exact decimal text (checked where it is used).
    pub fn credits(&self, name: &'static str) -> Result<Option<crate::billing::money::Credits>, ApiError> {
        self.get(name)
            .map(|v| {
                crate::billing::money::parse_credits(v)
                    .map(crate::billing::money::Credits)
                    .map_err(|e| ApiError::invalid(e).with_param(name))
            })
            .transpose()
    }
}

/// The error of a form that failed: shown next to its field when the page has that field,
/// else above the form.
#[derive(Debug, Default, Clone)]
pub struct Errors {
    field: Option<String>,
    message: Option<String>,
    /// The fields the page shows, so an error on another one is not lost.
    shown: &'static [&'static str],
}

impl Errors {
    pub fn none() -> Errors {
        Errors::default()
    }

    pub fn from_api(e: &ApiError, shown: &'static [&'static str]) -> Errors {
        Errors { field: e.param.map(str::to_string), message: Some(e.message.clone()), shown }
    }

    pub fn message(field: &'static str, message: impl Into<String>, shown: &'static [&'static str]) -> Errors {
        Errors { field: Some(field.to_string()), message: Some(message.into()), shown }
    }

    /// The message for `field`, if the error is about it.
    pub fn on(&self, field: &str) -> Option<&str> {
        (self.field.as_deref() == Some(field)).then_some(self.message.as_deref()).flatten()
    }

    /// The message when no shown field is its cause.
    pub fn general(&self) -> Option<&str> {
        match &self.field {
            Some(f) if self.shown.contains(&f.as_str()) => None,
            _ => self.message.as_deref(),
        }
    }

    /// `aria-invalid`/`aria-describedby` for an input, so screen readers tie the error to it.
    pub fn aria(&self, field: &str) -> String {
        if self.on(field).is_some() {
            format!("aria-invalid=\"true\" aria-describedby=\"{field}-error\"")
        } else {
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_places_errors() {
        let f = Form::parse(b"name=+a+&empty=&pw=+x+&t=1&t=&t=3&on=1");
        assert_eq!(f.get("name"), Some("a"));
        assert_eq!(f.get("empty"), None);
        assert_eq!(f.raw("pw"), Some(" x "));
        assert_eq!(f.all("t"), vec!["1", "", "3"]);
        assert!(f.checked("on") && !f.checked("off"));
        assert_eq!(f.int("t").unwrap(), Some(1));
        assert!(f.int("name").is_err());
        let e = Errors::from_api(&ApiError::invalid("bad").with_param("name"), &["name"]);
        assert_eq!(e.on("name"), Some("bad"));
        assert_eq!(e.general(), None);
        let e = Errors::from_api(&ApiError::invalid("bad").with_param("other"), &["name"]);
        assert_eq!(e.general(), Some("bad"));
    }
}
