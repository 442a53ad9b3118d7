//! The board's script and stylesheet, embedded in the binary (no build
//! step, no CDN). Their URLs carry a hash of their content, so they are
//! cached for a year and a new binary's assets load at once; the ETag
//! answers revalidation with 304.

use std::sync::LazyLock;

use axum::{
    extract::Path,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};

const JS: &str = include_str!("assets/board.js");
const CSS: &str = include_str!("assets/board.css");

/// The script's URL (with its content hash).
pub static JS_URL: LazyLock<String> =
    LazyLock::new(|| format!("/assets/board.js?v={}", &tag(JS)[..12]));
/// The stylesheet's URL (with its content hash).
pub static CSS_URL: LazyLock<String> =
    LazyLock::new(|| format!("/assets/board.css?v={}", &tag(CSS)[..12]));

fn tag(content: &str) -> String {
    crate::auth::hash_key(content)
}

/// `GET /assets/{name}`.
pub async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let (body, kind) = match name.as_str() {
        "board.js" => (JS, "text/javascript; charset=utf-8"),
        "board.css" => (CSS, "text/css; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    let etag = format!("\"{}\"", &tag(body)[..16]);
    let cache = [
        (header::ETAG, etag.clone()),
        (
            header::CACHE_CONTROL,
            "public, max-age=31536000, immutable".to_owned(),
        ),
    ];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    if fresh {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (cache, [(header::CONTENT_TYPE, kind)], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::CSS;

    /// The `--name: #rrggbb` variables of each `:root { … }` block: the
    /// light scheme first, then the dark one.
    fn schemes() -> Vec<Vec<(String, [u8; 3])>> {
        CSS.split(":root {")
            .skip(1)
            .map(|block| {
                let block = block.split('}').next().unwrap_or("");
                block
                    .split(';')
                    .filter_map(|decl| {
                        let (name, value) = decl.trim().split_once(':')?;
                        let hex = value.trim().strip_prefix('#')?;
                        let byte = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
                        let rgb = [byte(0)?, byte(2)?, byte(4)?];
                        Some((name.trim().trim_start_matches("--").to_owned(), rgb))
                    })
                    .collect()
            })
            .collect()
    }

    /// WCAG 2's relative luminance and contrast ratio.
    fn contrast(a: [u8; 3], b: [u8; 3]) -> f64 {
        let luminance = |c: [u8; 3]| {
            let [r, g, b] = c.map(|v| {
                let v = f64::from(v) / 255.0;
                if v <= 0.03928 {
                    v / 12.92
                } else {
                    ((v + 0.055) / 1.055).powf(2.4)
                }
            });
            0.2126 * r + 0.7152 * g + 0.0722 * b
        };
        let (x, y) = (luminance(a), luminance(b));
        (x.max(y) + 0.05) / (x.min(y) + 0.05)
    }

    /// Every colour the stylesheet sets text in meets WCAG AA (4.5:1)
    /// against every background it is drawn on, in both schemes.
    #[test]
    fn text_colours_meet_wcag_aa_in_light_and_dark() {
        let schemes = schemes();
        assert_eq!(schemes.len(), 2, "a light and a dark :root block");
        let texts = [
            "text",
            "muted",
            "accent",
            "danger",
            "add",
            "del",
            "hunk",
            "todo",
            "inprogress",
            "inreview",
            "done",
            "cancelled",
        ];
        let mut pairs: Vec<(&str, &str)> = texts
            .iter()
            .flat_map(|t| [(*t, "bg"), (*t, "panel")])
            .collect();
        pairs.extend([("add", "add-bg"), ("del", "del-bg"), ("text", "line")]);
        for (n, scheme) in schemes.iter().enumerate() {
            let colour = |name: &str| {
                scheme
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, rgb)| *rgb)
                    .unwrap_or_else(|| panic!("scheme {n} sets no --{name}"))
            };
            for (fg, bg) in &pairs {
                let ratio = contrast(colour(fg), colour(bg));
                assert!(
                    ratio >= 4.5,
                    "scheme {n}: --{fg} on --{bg} is {ratio:.2}:1, under WCAG AA's 4.5:1"
                );
            }
        }
    }
}
