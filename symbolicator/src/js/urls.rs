//! Which uploaded JS artifact a script URL names: the rules of
//! `docs/protocol.md` §14, "Matching scripts to uploads". A frame is matched
//! to an upload only when these rules prove it is the same script; a shared
//! file name alone never does.
//!
//! Every URL is reduced to a [`UrlKey`]: where it is served from (its
//! [`Origin`]) and its path (query and fragment dropped, `.` and `..`
//! segments resolved, `\` read as `/`).
//!
//! | form | origin | path |
//! |---|---|---|
//! | `https://cdn.example/static/app.js` | `https://cdn.example` (scheme and host lower-cased) | `/static/app.js` |
//! | `app:///index.android.bundle` (any scheme with an empty host) | `app://` | `/index.android.bundle` |
//! | `file:///srv/www/app.js`, `file://localhost/srv/www/app.js` | local | `/srv/www/app.js` |
//! | `/srv/www/app.js` | local | `/srv/www/app.js` |
//! | `dist/app.js`, `./dist/app.js` (relative) | local | `/dist/app.js` |
//! | `~/static/app.js` (upload only, as sentry-cli writes it) | any | `/static/app.js` |
//!
//! An upload matches a frame when the two strings are equal, or their keys
//! are equal, or the upload's origin is "any" and the paths are equal.

/// Where a script is served from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `~/…`: any scheme and host (sentry-cli's `--url-prefix '~/'`).
    Any,
    /// `scheme://host`, lower-cased.
    Host(String),
    /// A scheme with an empty host (`app:///…`), lower-cased, without `://`.
    NoHost(String),
    /// A file on the device: `file://`, absolute and relative paths.
    Local,
}

/// A URL reduced to what the matching rules compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlKey {
    /// Where the script is served from.
    pub origin: Origin,
    /// Normalised path, starting with `/`.
    pub path: String,
}

/// Resolves `.` and `..` segments, drops empty ones, reads `\` as `/`.
fn normalize_path(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let path = path.replace('\\', "/");
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

fn scheme_len(url: &str) -> Option<usize> {
    let i = url.find("://")?;
    let scheme = &url[..i];
    let mut chars = scheme.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    ok.then_some(i)
}

/// The key of `url`; `None` for an empty URL or one without a path to
/// compare (`data:` URLs, a bare host).
pub fn url_key(url: &str) -> Option<UrlKey> {
    let url = url.trim();
    let url = url.split(['?', '#']).next().unwrap_or(url);
    if let Some(rest) = url.strip_prefix("~/") {
        return Some(UrlKey {
            origin: Origin::Any,
            path: normalize_path(rest),
        });
    }
    if let Some(i) = scheme_len(url) {
        let scheme = url[..i].to_ascii_lowercase();
        let rest = &url[i + 3..];
        let (host, path) = match rest.find('/') {
            Some(j) => (&rest[..j], &rest[j..]),
            None => (rest, ""),
        };
        if path.is_empty() {
            return None;
        }
        let host = host.to_ascii_lowercase();
        let origin = if scheme == "file" && (host.is_empty() || host == "localhost") {
            Origin::Local
        } else if host.is_empty() {
            Origin::NoHost(scheme)
        } else {
            Origin::Host(format!("{scheme}://{host}"))
        };
        return Some(UrlKey {
            origin,
            path: normalize_path(path),
        });
    }
    if url.is_empty() || url.starts_with("data:") || url == "~" {
        return None;
    }
    // Absolute or relative path on the device; a relative one is read
    // from the root (`dist/app.js` is `/dist/app.js`).
    Some(UrlKey {
        origin: Origin::Local,
        path: normalize_path(url),
    })
}

/// How well an upload's URL names a frame's script: `None` when it does
/// not, else a rank (higher is more specific): 3 the same string, 2 the
/// same origin and path, 1 an any-host upload (`~/`) with the same path.
pub fn match_rank(upload: &str, frame: &str) -> Option<u8> {
    if upload == frame {
        return Some(3);
    }
    let (u, f) = (url_key(upload)?, url_key(frame)?);
    if u.path != f.path {
        return None;
    }
    if u.origin == f.origin {
        Some(2)
    } else if u.origin == Origin::Any {
        Some(1)
    } else {
        None
    }
}

/// Resolves a `sourceMappingURL` relative to the script URL.
pub fn resolve_relative(base: &str, rel: &str) -> String {
    if scheme_len(rel).is_some() || rel.starts_with('~') || rel.starts_with('/') {
        return rel.to_string();
    }
    let base = base.split(['?', '#']).next().unwrap_or(base);
    match base.rfind('/') {
        Some(i) => format!("{}{}", &base[..=i], rel),
        None => rel.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(origin: Origin, path: &str) -> Option<UrlKey> {
        Some(UrlKey {
            origin,
            path: path.into(),
        })
    }

    #[test]
    fn keys() {
        assert_eq!(
            url_key("https://CDN.example.com/static/./app.js?v=1#x"),
            key(
                Origin::Host("https://cdn.example.com".into()),
                "/static/app.js"
            )
        );
        assert_eq!(
            url_key("~/static/app.js"),
            key(Origin::Any, "/static/app.js")
        );
        assert_eq!(
            url_key("app:///index.android.bundle"),
            key(Origin::NoHost("app".into()), "/index.android.bundle")
        );
        assert_eq!(
            url_key("file:///srv/www/app.js"),
            key(Origin::Local, "/srv/www/app.js")
        );
        assert_eq!(
            url_key("file://localhost/srv/www/app.js"),
            key(Origin::Local, "/srv/www/app.js")
        );
        assert_eq!(
            url_key("./dist/x/../app.js"),
            key(Origin::Local, "/dist/app.js")
        );
        assert_eq!(url_key("dist\\app.js"), key(Origin::Local, "/dist/app.js"));
        assert_eq!(url_key("data:application/json;base64,e30="), None);
        assert_eq!(url_key("https://host"), None);
        assert_eq!(url_key(""), None);
    }

    #[test]
    fn ranks() {
        let f = "https://cdn.example.com/static/app.js";
        assert_eq!(match_rank(f, f), Some(3));
        assert_eq!(
            match_rank("https://cdn.example.com/static/app.js?v=2", f),
            Some(2)
        );
        assert_eq!(match_rank("~/static/app.js", f), Some(1));
        assert_eq!(match_rank("https://other.example/static/app.js", f), None);
        assert_eq!(match_rank("~/app.js", f), None, "file name alone");
        assert_eq!(match_rank("~/other/app.js", f), None);
        assert_eq!(
            match_rank("/srv/dist/app.js", "file:///srv/dist/app.js"),
            Some(2)
        );
        assert_eq!(match_rank("dist/app.js", "/dist/app.js"), Some(2));
        assert_eq!(match_rank("~/dist/app.js", "dist/app.js"), Some(1));
        assert_eq!(match_rank("/srv/dist/app.js", "dist/app.js"), None);
        assert_eq!(match_rank("app:///main.jsbundle", "/main.jsbundle"), None);
        assert_eq!(
            match_rank("~/main.jsbundle", "app:///main.jsbundle"),
            Some(1)
        );
        // A frame never names "any host": `~/` only widens uploads.
        assert_eq!(match_rank("https://h/app.js", "~/app.js"), None);
    }

    #[test]
    fn relative_source_mapping_urls() {
        assert_eq!(
            resolve_relative("https://x/a/b.js?v=1", "b.js.map"),
            "https://x/a/b.js.map"
        );
        assert_eq!(resolve_relative("~/a/b.js", "b.js.map"), "~/a/b.js.map");
        assert_eq!(resolve_relative("b.js", "b.js.map"), "b.js.map");
        assert_eq!(
            resolve_relative("https://x/a/b.js", "https://y/b.map"),
            "https://y/b.map"
        );
    }
}
