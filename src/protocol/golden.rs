//! Test support: golden files under `tests/fixtures/protocol/`. A test compares its output
//! with the file; `UPDATE_GOLDEN=1 cargo test --lib protocol` rewrites the files instead,
//! and the diff is then reviewed by reading it.

use serde_json::Value;

fn path(name: &str) -> String {
    format!("{}/tests/fixtures/protocol/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A fixture's text.
pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(path(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// A fixture parsed as JSON.
pub fn json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// Checks `actual` against the golden text file `name`.
pub fn check_text(name: &str, actual: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path(name), actual).expect("golden file written");
        return;
    }
    let expected = fixture(name);
    assert!(expected == actual, "golden {name} differs:\n--- expected\n{expected}\n--- actual\n{actual}");
}

/// Checks `actual` against the golden JSON file `name` (compared as JSON values).
pub fn check_json(name: &str, actual: &Value) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let text = serde_json::to_string_pretty(actual).expect("JSON serializes") + "\n";
        std::fs::write(path(name), text).expect("golden file written");
        return;
    }
    let expected = json(name);
    assert!(&expected == actual, "golden {name} differs:\n--- expected\n{expected:#}\n--- actual\n{actual:#}");
}
