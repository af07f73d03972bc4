//! Negotiation (RFC 7692 §5, §7): the server picks the first acceptable offer, the client checks
//! the answer against what it offered.

use std::fmt::Write as _;

use super::extension::{check_params, parse_extensions};
use super::{Deflate, DeflateConfig, EXTENSION_NAME};

/// A server's answer to the client's offers: the first acceptable permessage-deflate offer wins.
///
/// Returns the agreed parameters (from the server's side) and the `Sec-WebSocket-Extensions`
/// value to answer with, or `None` to decline (no offer, or none acceptable).
///
/// ```
/// use coro_websocket::{proto::deflate::negotiate_server, DeflateConfig};
/// let offers = ["permessage-deflate; client_max_window_bits=10; server_max_window_bits=12"];
/// let (agreed, answer) = negotiate_server(offers.into_iter(), &DeflateConfig::default()).unwrap();
/// assert_eq!(answer, "permessage-deflate; server_max_window_bits=12; client_max_window_bits=10");
/// assert_eq!((agreed.local_max_window_bits, agreed.remote_max_window_bits), (12, 10));
pub fn negotiate_server<'a>(
    offers: impl Iterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Option<(Deflate, String)> {
    let extensions = parse_extensions(offers)?;
    for (name, params) in extensions {
        if !name.eq_ignore_ascii_case(EXTENSION_NAME) {
            continue;
        }
        // An invalid offer is declined; the next one may still be accepted (RFC 7692 §5).
        let Some(offer) = check_params(&params) else {
            continue;
        };
        let server_nct = offer.server_no_context_takeover || config.server_no_context_takeover;
        let client_nct = offer.client_no_context_takeover || config.client_no_context_takeover;
        let server_bits = match (offer.server_max_window_bits, config.server_max_window_bits) {
            (Some(o), Some(c)) => Some(o.min(c)),
            (o, c) => o.or(c),
        };
        // The server may limit the client's window only if the client said it accepts that.
        let client_bits = match (offer.client_max_window_bits, config.client_max_window_bits) {
            (Some(o), Some(c)) => Some(o.map_or(c, |o| o.min(c))),
            (Some(Some(o)), None) => Some(o),
            _ => None,
        };
        let mut answer = String::from(EXTENSION_NAME);
        if server_nct {
            answer.push_str("; server_no_context_takeover");
        }
        if client_nct {
            answer.push_str("; client_no_context_takeover");
        }
        if let Some(bits) = server_bits {
            let _ = write!(answer, "; server_max_window_bits={bits}");
        }
        if let Some(bits) = client_bits {
            let _ = write!(answer, "; client_max_window_bits={bits}");
        }
        let agreed = Deflate {
            local_no_context_takeover: server_nct,
            remote_no_context_takeover: client_nct,
            local_max_window_bits: server_bits.unwrap_or(15),
            remote_max_window_bits: client_bits.unwrap_or(15),
            threshold: config.threshold,
            level: config.level,
            max_ratio: config.max_ratio,
            ratio_floor: config.ratio_floor,
        };
        return Some((agreed, answer));
    }
    None
}

/// Why a client refuses a server's permessage-deflate answer (RFC 7692 §5, §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// The `Sec-WebSocket-Extensions` syntax is broken.
    #[error("malformed Sec-WebSocket-Extensions")]
    Malformed,
    /// Another extension, or more than one element.
    #[error("the server selected extensions that were not offered")]
    NotOffered,
    /// An unknown, repeated or malformed parameter.
    #[error("invalid permessage-deflate parameters")]
    InvalidParameters,
    /// `server_max_window_bits` above the offer's.
    #[error("server_max_window_bits larger than offered")]
    ServerWindowTooLarge,
    /// `client_max_window_bits` without a value (only an offer may leave it out).
    #[error("client_max_window_bits without a value in the answer")]
    ClientWindowWithoutValue,
    /// `client_max_window_bits` above the offer's.
    #[error("client_max_window_bits larger than offered")]
    ClientWindowTooLarge,
}

/// A client's check of the server's answer to its offer (RFC 7692 §5, §7.1).
///
/// `answer` is every `Sec-WebSocket-Extensions` value of the response. Returns `Ok(None)` when
/// the server declined, the agreed parameters when it accepted.
///
/// # Errors
/// An answer the client cannot accept: another extension, more than one element, an unknown or
/// repeated parameter, a window larger than offered, or a client window limit never allowed.
/// The [`AnswerError`] names what was wrong.
pub fn negotiate_client<'a>(
    answer: impl Iterator<Item = &'a str>,
    offered: &DeflateConfig,
) -> Result<Option<Deflate>, AnswerError> {
    let extensions = parse_extensions(answer).ok_or(AnswerError::Malformed)?;
    let Some((name, params)) = extensions.first() else {
        return Ok(None);
    };
    if extensions.len() > 1 || !name.eq_ignore_ascii_case(EXTENSION_NAME) {
        return Err(AnswerError::NotOffered);
    }
    let p = check_params(params).ok_or(AnswerError::InvalidParameters)?;
    if let (Some(got), Some(asked)) = (p.server_max_window_bits, offered.server_max_window_bits) {
        if got > asked {
            return Err(AnswerError::ServerWindowTooLarge);
        }
    }
    let client_bits = match p.client_max_window_bits {
        Some(None) => return Err(AnswerError::ClientWindowWithoutValue),
        Some(Some(bits)) => {
            if offered
                .client_max_window_bits
                .is_some_and(|asked| bits > asked)
            {
                return Err(AnswerError::ClientWindowTooLarge);
            }
            bits
        }
        None => offered.client_max_window_bits.unwrap_or(15),
    };
    Ok(Some(Deflate {
        local_no_context_takeover: p.client_no_context_takeover,
        remote_no_context_takeover: p.server_no_context_takeover,
        local_max_window_bits: client_bits,
        remote_max_window_bits: p.server_max_window_bits.unwrap_or(15),
        threshold: offered.threshold,
        level: offered.level,
        max_ratio: offered.max_ratio,
        ratio_floor: offered.ratio_floor,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_declines_invalid_offers_and_takes_the_next() {
        let cfg = DeflateConfig::default();
        for bad in [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=010",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; unknown_param",
            "x-webkit-deflate-frame",
        ] {
            assert!(negotiate_server([bad].into_iter(), &cfg).is_none(), "{bad}");
            let two = format!("{bad}, permessage-deflate");
            assert_eq!(
                negotiate_server([two.as_str()].into_iter(), &cfg)
                    .unwrap()
                    .1,
                "permessage-deflate",
                "{bad}"
            );
        }
    }

    #[test]
    fn server_limits_the_client_window_only_if_allowed() {
        let cfg = DeflateConfig {
            client_max_window_bits: Some(10),
            ..DeflateConfig::default()
        };
        let (_, a) = negotiate_server(["permessage-deflate"].into_iter(), &cfg).unwrap();
        assert_eq!(a, "permessage-deflate");
        let (d, a) = negotiate_server(
            ["permessage-deflate; client_max_window_bits"].into_iter(),
            &cfg,
        )
        .unwrap();
        assert_eq!(a, "permessage-deflate; client_max_window_bits=10");
        assert_eq!(d.remote_max_window_bits, 10);
        let (_, a) = negotiate_server(
            ["permessage-deflate; client_max_window_bits=\"9\""].into_iter(),
            &cfg,
        )
        .unwrap();
        assert_eq!(a, "permessage-deflate; client_max_window_bits=9");
    }

    #[test]
    fn client_refuses_answers_it_cannot_accept() {
        let cfg = DeflateConfig {
            server_max_window_bits: Some(10),
            ..DeflateConfig::default()
        };
        for bad in [
            "permessage-deflate; server_max_window_bits=12",
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; foo",
            "permessage-deflate, permessage-deflate",
            "x-other",
        ] {
            assert!(negotiate_client([bad].into_iter(), &cfg).is_err(), "{bad}");
        }
        let none = negotiate_client(std::iter::empty(), &cfg).unwrap();
        assert_eq!(none, None);
    }
}
