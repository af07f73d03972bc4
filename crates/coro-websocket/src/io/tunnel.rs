//! Proxy tunnels: HTTP CONNECT (over TCP, or over TLS to an `https://` proxy) and SOCKS5
//! (tokio-socks). Which proxy to use is decided in `crate::proxy`; this module only opens the
//! tunnel and hands back a byte stream to the origin.

use std::net::IpAddr;

use base64::Engine;
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::conn::{tcp_with_control, Addrs, Conn, SocketControl};
use crate::error::Error;
use crate::proxy::{ProxyError, Route, Scheme};
use crate::tls::Tls;

/// Connects to the proxy and opens a tunnel through it to `host:port`. The addresses are those
/// of the TCP connection to the proxy.
pub(crate) async fn open(
    route: &Route,
    proxy_tls: &Tls,
    host: &str,
    port: u16,
) -> Result<(Conn, SocketControl, Addrs), Error> {
    let tcp = tokio::net::TcpStream::connect((route.host.as_str(), route.port))
        .await
        .map_err(|cause| ProxyError::Unreachable {
            proxy: route.address(),
            cause,
        })?;
    tcp.set_nodelay(true)?;
    let addrs = Addrs::of_tcp(&tcp);
    let (mut tcp, control) = tcp_with_control(tcp)?;
    let stream = match route.scheme {
        Scheme::Http => {
            http_connect(&mut tcp, route, host, port).await?;
            Conn::Tcp(tcp)
        }
        Scheme::Https => {
            let config = crate::tls::client_config(proxy_tls)?;
            let name = crate::tls::server_name(proxy_tls, &route.host)?;
            let connector = tokio_rustls::TlsConnector::from(config);
            let mut stream = connector
                .connect(name, tcp)
                .await
                .map_err(ProxyError::Tls)?;
            http_connect(&mut stream, route, host, port).await?;
            Conn::Other(Box::new(stream))
        }
        Scheme::Socks5 { remote_dns } => {
            Conn::Tcp(socks5(tcp, route, remote_dns, host, port).await?)
        }
    };
    Ok((stream, control, addrs))
}

/// The most of a CONNECT answer's head that is read.
const MAX_CONNECT_HEAD: usize = 16 << 10;

/// Asks an HTTP proxy for a tunnel (RFC 9110 §9.3.6) and reads its answer.
async fn http_connect<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    route: &Route,
    host: &str,
    port: u16,
) -> Result<(), ProxyError> {
    let authority = crate::url::authority(host, port);
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some((user, password)) = &route.auth {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(ProxyError::Io)?;
    stream.flush().await.map_err(ProxyError::Io)?;
    let mut buf = BytesMut::with_capacity(512);
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let status = response.code.unwrap_or(0);
                let reason = response.reason.unwrap_or("").to_owned();
                return match status {
                    200..=299 if len == buf.len() => Ok(()),
                    // The origin speaks only after our first bytes (TLS ClientHello or the GET):
                    // anything else here came from the proxy and would corrupt the tunnel.
                    200..=299 => Err(ProxyError::Malformed(
                        "data after the CONNECT answer".into(),
                    )),
                    407 => Err(ProxyError::AuthFailed { status }),
                    _ => Err(ProxyError::ConnectRefused { status, reason }),
                };
            }
            Ok(httparse::Status::Partial) if buf.len() > MAX_CONNECT_HEAD => {
                return Err(ProxyError::Malformed("CONNECT answer too large".into()));
            }
            Ok(httparse::Status::Partial) => {}
            Err(e) => return Err(ProxyError::Malformed(e.to_string())),
        }
        if stream.read_buf(&mut buf).await.map_err(ProxyError::Io)? == 0 {
            return Err(ProxyError::Malformed(
                "connection closed before the CONNECT answer".into(),
            ));
        }
    }
}

/// SOCKS5 CONNECT (RFC 1928) with optional username/password (RFC 1929), by tokio-socks.
async fn socks5(
    tcp: tokio::net::TcpStream,
    route: &Route,
    remote_dns: bool,
    host: &str,
    port: u16,
) -> Result<tokio::net::TcpStream, Error> {
    use tokio_socks::tcp::Socks5Stream;
    use tokio_socks::TargetAddr;
    let target: TargetAddr<'_> = match host.parse::<IpAddr>() {
        Ok(ip) => TargetAddr::Ip((ip, port).into()),
        // socks5h: the proxy resolves the name.
        Err(_) if remote_dns => TargetAddr::Domain(host.into(), port),
        // socks5: resolve here, send the address.
        Err(_) => {
            let addr = tokio::net::lookup_host((host, port))
                .await?
                .next()
                .ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::NotFound, "host name not found")
                })?;
            TargetAddr::Ip(addr)
        }
    };
    let result = match &route.auth {
        Some((user, password)) => {
            Socks5Stream::connect_with_password_and_socket(tcp, target, user, password).await
        }
        None => Socks5Stream::connect_with_socket(tcp, target).await,
    };
    result
        .map(Socks5Stream::into_inner)
        .map_err(|e| socks_error(e).into())
}

fn socks_error(e: tokio_socks::Error) -> ProxyError {
    use tokio_socks::Error as E;
    match e {
        E::Io(e) => ProxyError::Io(e),
        E::GeneralSocksServerFailure => ProxyError::SocksReply { code: 1 },
        E::ConnectionNotAllowedByRuleset => ProxyError::SocksReply { code: 2 },
        E::NetworkUnreachable => ProxyError::SocksReply { code: 3 },
        E::HostUnreachable => ProxyError::SocksReply { code: 4 },
        E::ConnectionRefused => ProxyError::SocksReply { code: 5 },
        E::TtlExpired => ProxyError::SocksReply { code: 6 },
        E::CommandNotSupported => ProxyError::SocksReply { code: 7 },
        E::AddressTypeNotSupported => ProxyError::SocksReply { code: 8 },
        E::PasswordAuthFailure(code) => ProxyError::AuthFailed {
            status: u16::from(code),
        },
        // The proxy wants credentials that were not given (or accepts no method offered).
        E::NoAcceptableAuthMethods | E::AuthorizationRequired => {
            ProxyError::AuthFailed { status: 0xff }
        }
        other => ProxyError::Malformed(other.to_string()),
    }
}
