//! The console's static files, compiled into the binary. Each is served at
//! `/static/{version}/{name}` where the version is a digest of its bytes, so a page always
//! asks for exactly the files it was rendered with and browsers may cache them forever.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const FILES: &[Asset] = &[
    Asset { name: "console.css", content_type: "text/css; charset=utf-8", bytes: include_bytes!("static/console.css") },
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("static/console.js"),
    },
    Asset {
        name: "uPlot.iife.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("static/vendor/uplot/uPlot.iife.min.js"),
    },
    Asset {
        name: "uPlot.min.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("static/vendor/uplot/uPlot.min.css"),
    },
    Asset {
        name: "uPlot.LICENSE.txt",
        content_type: "text/plain; charset=utf-8",
        bytes: include_bytes!("static/vendor/uplot/LICENSE"),
    },
];

/// One version for the whole set: a digest of every file, short enough for a URL.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut h = Sha256::new();
    for f in FILES {
        h.update(f.name.as_bytes());
        h.update(f.bytes);
    }
    hex::encode(&h.finalize()[..6])
});

/// The URL of a static file as pages link it.
pub fn url(name: &str) -> String {
    format!("/static/{}/{name}", *VERSION)
}

/// `GET /static/{version}/{name}`: immutable when the version matches; a stale version (a page
/// rendered by an older binary) still gets the current file, but not cached for long.
pub async fn serve(Path((version, name)): Path<(String, String)>) -> Response {
    let Some(f) = FILES.iter().find(|f| f.name == name) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let cache =
        if version == *VERSION { "public, max-age=31536000, immutable" } else { "public, max-age=60, must-revalidate" };
    ([(header::CONTENT_TYPE, f.content_type), (header::CACHE_CONTROL, cache)], f.bytes).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_carry_the_version() {
        let u = super::url("console.css");
        assert!(u.starts_with("/static/") && u.ends_with("/console.css"));
        assert_eq!(u.split('/').nth(2).unwrap().len(), 12);
    }
}
