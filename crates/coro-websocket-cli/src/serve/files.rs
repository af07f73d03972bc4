//! `serve --static DIR`: GET and HEAD answered with files from DIR, so that a page and its
//! WebSocket share one origin.
//!
//! A request path names a file only through its own segments: each is percent-decoded, and one
//! that decodes to `..`, to something with a separator, or to an absolute or prefixed
//! component is refused, so no request reaches outside DIR (symbolic links inside DIR are
//! followed). Files are read whole: this is a page server for tests and demos, not a CDN.

use std::path::{Component, Path, PathBuf};

use bytes::Bytes;
use coro_websocket::upgrade::Body;
use http::{header, HeaderValue, Method, StatusCode};
use percent_encoding::percent_decode_str;

/// The answer to a non-WebSocket request for `path` (the URL's path, still percent-encoded).
pub async fn answer(root: &Path, method: &Method, path: &str) -> http::Response<Body> {
    if method != Method::GET && method != Method::HEAD {
        let mut response = status(StatusCode::METHOD_NOT_ALLOWED);
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let Some(relative) = file_path(path) else {
        return status(StatusCode::FORBIDDEN);
    };
    let mut file = root.join(relative);
    match tokio::fs::metadata(&file).await {
        Ok(meta) if meta.is_dir() => {
            if !path.ends_with('/') {
                // Relative links in DIR/index.html resolve against the directory only with
                // the slash.
                return redirect(&format!("{path}/"));
            }
            file.push("index.html");
        }
        Ok(_) => {}
        Err(e) => return failure(&e),
    }
    match tokio::fs::read(&file).await {
        Ok(bytes) => found(
            Bytes::from(bytes),
            content_type(&file),
            method == Method::HEAD,
        ),
        Err(e) => failure(&e),
    }
}

/// The file a URL path names, relative to the served directory; `None` if a segment would
/// leave it.
fn file_path(path: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for segment in path.split('/') {
        let decoded = percent_decode_str(segment).decode_utf8().ok()?;
        if decoded.is_empty() || decoded == "." {
            continue;
        }
        if decoded.contains(['/', '\\', '\0']) {
            return None;
        }
        let mut components = Path::new(decoded.as_ref()).components();
        match (components.next(), components.next()) {
            (Some(Component::Normal(name)), None) => out.push(name),
            // `..`, or a drive or root on Windows.
            _ => return None,
        }
    }
    Some(out)
}

/// The `Content-Type` of a file, by its extension.
fn content_type(file: &Path) -> &'static str {
    let extension = file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("ico") => "image/x-icon",
        Some("wasm") => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// 200 with the file (or, for HEAD, only its length and type).
fn found(bytes: Bytes, content_type: &'static str, head: bool) -> http::Response<Body> {
    let length = HeaderValue::from(bytes.len());
    let mut response = http::Response::new(Body::new(if head { Bytes::new() } else { bytes }));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_LENGTH, length);
    response
}

/// 404 for a missing file, 403 for one the server may not read, 500 otherwise.
fn failure(error: &std::io::Error) -> http::Response<Body> {
    status(match error.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory => StatusCode::NOT_FOUND,
        std::io::ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        _ => {
            tracing::debug!("--static: {error}");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    })
}

/// 301 to `location`.
fn redirect(location: &str) -> http::Response<Body> {
    let mut response = status(StatusCode::MOVED_PERMANENTLY);
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// A body-less answer with `status`.
fn status(status: StatusCode) -> http::Response<Body> {
    let mut response = http::Response::new(Body::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_directory() {
        assert_eq!(file_path("/"), Some(PathBuf::new()));
        assert_eq!(file_path("/a/./b.html"), Some(PathBuf::from("a/b.html")));
        assert_eq!(
            file_path("/sp%20ace.txt"),
            Some(PathBuf::from("sp ace.txt"))
        );
        for escape in [
            "/../x",
            "/a/../../x",
            "/%2e%2e/x",
            "/a%2f..%2f..%2fx",
            "/..%5cx",
            "/%00",
        ] {
            assert_eq!(file_path(escape), None, "{escape}");
        }
    }

    #[test]
    fn types_by_extension() {
        assert_eq!(
            content_type(Path::new("a.MJS")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("a.wasm")), "application/wasm");
        assert_eq!(
            content_type(Path::new("README")),
            "application/octet-stream"
        );
    }
}
