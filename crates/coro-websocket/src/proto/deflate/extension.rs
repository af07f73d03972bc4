//! The `Sec-WebSocket-Extensions` grammar (RFC 6455 §9.1) and the checks on permessage-deflate's
//! parameters (RFC 7692 §7.1).

/// A parameter of an extension offer or answer (RFC 6455 §9.1).
pub(super) type Params<'a> = Vec<(&'a str, Option<String>)>;

/// Splits `Sec-WebSocket-Extensions` values into extensions and their parameters.
///
/// Returns `None` if the syntax is broken.
pub(super) fn parse_extensions<'a>(
    values: impl Iterator<Item = &'a str>,
) -> Option<Vec<(&'a str, Params<'a>)>> {
    let mut out = Vec::new();
    for value in values {
        for element in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let mut parts = element.split(';').map(str::trim);
            let name = parts.next().filter(|n| is_token(n))?;
            let mut params = Vec::new();
            for part in parts {
                let (key, val) = match part.split_once('=') {
                    Some((k, v)) => {
                        let v = v.trim();
                        let v = match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                            Some(inner) => inner.to_owned(),
                            None => v.to_owned(),
                        };
                        if !is_token(&v) {
                            return None;
                        }
                        (k.trim(), Some(v))
                    }
                    None => (part, None),
                };
                if !is_token(key) {
                    return None;
                }
                params.push((key, val));
            }
            out.push((name, params));
        }
    }
    Some(out)
}

pub(super) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Window bits in an offer or answer: 8–15, digits only.
pub(super) fn window_bits(value: &str) -> Option<u8> {
    if value.len() > 2 || !value.bytes().all(|b| b.is_ascii_digit()) || value.starts_with('0') {
        return None;
    }
    value.parse().ok().filter(|b| (8..=15).contains(b))
}

/// The parameters of one permessage-deflate element, checked (RFC 7692 §7.1).
#[derive(Default)]
pub(super) struct Parsed {
    pub(super) server_no_context_takeover: bool,
    pub(super) client_no_context_takeover: bool,
    pub(super) server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value.
    pub(super) client_max_window_bits: Option<Option<u8>>,
}

pub(super) fn check_params(params: &Params<'_>) -> Option<Parsed> {
    let mut p = Parsed::default();
    let mut seen = Vec::new();
    for (key, value) in params {
        let key = key.to_ascii_lowercase();
        // RFC 7692 §7: a parameter appearing more than once makes the element invalid.
        if seen.contains(&key) {
            return None;
        }
        match (key.as_str(), value) {
            ("server_no_context_takeover", None) => p.server_no_context_takeover = true,
            ("client_no_context_takeover", None) => p.client_no_context_takeover = true,
            ("server_max_window_bits", Some(v)) => p.server_max_window_bits = Some(window_bits(v)?),
            ("client_max_window_bits", None) => p.client_max_window_bits = Some(None),
            ("client_max_window_bits", Some(v)) => {
                p.client_max_window_bits = Some(Some(window_bits(v)?))
            }
            _ => return None,
        }
        seen.push(key);
    }
    Some(p)
}
