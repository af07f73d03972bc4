//! Client TLS settings: the seed's `tls` option ([`Tls`], [`TlsConfig`]) and the rustls
//! configuration they make. Configuration only: the TLS handshake runs in `io`.

use std::fmt;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::error::Error;

/// Whether and how to use TLS: the seed's `tls` option (a boolean, or a table of settings).
#[derive(Debug, Clone, Default)]
pub enum Tls {
    /// Plain TCP (`ws://`).
    #[default]
    Off,
    /// TLS with the Mozilla root certificates (webpki-roots).
    On,
    /// TLS with custom settings.
    Config(TlsConfig),
}

impl Tls {
    /// Whether TLS is used.
    pub fn is_on(&self) -> bool {
        !matches!(self, Tls::Off)
    }
}

impl From<bool> for Tls {
    fn from(on: bool) -> Tls {
        if on {
            Tls::On
        } else {
            Tls::Off
        }
    }
}

impl From<TlsConfig> for Tls {
    fn from(config: TlsConfig) -> Tls {
        Tls::Config(config)
    }
}

/// Custom TLS settings for a client.
///
/// ```
/// use coro_websocket::TlsConfig;
/// let cfg = TlsConfig::new().server_name("localhost");
/// assert!(TlsConfig::new().add_root_pem(b"not a pem").is_err());
/// # let _ = cfg;
/// ```
#[derive(Clone, Default)]
pub struct TlsConfig {
    pub(crate) roots: Vec<CertificateDer<'static>>,
    pub(crate) webpki_roots: bool,
    pub(crate) native_roots: bool,
    pub(crate) client_auth: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
    pub(crate) server_name: Option<String>,
    pub(crate) accept_invalid_certs: bool,
    pub(crate) rustls: Option<Arc<rustls::ClientConfig>>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("roots", &self.roots.len())
            .field("webpki_roots", &self.webpki_roots)
            .field("native_roots", &self.native_roots)
            .field("client_auth", &self.client_auth.is_some())
            .field("server_name", &self.server_name)
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .field("rustls", &self.rustls.is_some())
            .finish()
    }
}

fn pem_error(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::TlsConfig(Box::new(e))
}

impl TlsConfig {
    /// Settings that trust no root yet: add roots, or call [`TlsConfig::with_webpki_roots`].
    pub fn new() -> TlsConfig {
        TlsConfig::default()
    }

    /// Also trusts the Mozilla root certificates (webpki-roots).
    pub fn with_webpki_roots(mut self) -> TlsConfig {
        self.webpki_roots = true;
        self
    }

    /// Also trusts the operating system's root certificates.
    pub fn with_native_roots(mut self) -> TlsConfig {
        self.native_roots = true;
        self
    }

    /// Trusts every certificate in a PEM bundle.
    ///
    /// # Errors
    /// [`Error::TlsConfig`] if the PEM holds no certificate or cannot be read.
    pub fn add_root_pem(mut self, pem: &[u8]) -> Result<TlsConfig, Error> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(pem_error)?;
        if certs.is_empty() {
            return Err(Error::TlsConfig(
                "no certificate found in the PEM data".into(),
            ));
        }
        self.roots.extend(certs);
        Ok(self)
    }

    /// Trusts one DER certificate.
    pub fn add_root_der(mut self, der: CertificateDer<'static>) -> TlsConfig {
        self.roots.push(der);
        self
    }

    /// Presents a client certificate chain and its private key, both PEM.
    ///
    /// # Errors
    /// [`Error::TlsConfig`] if either cannot be read.
    pub fn client_cert_pem(mut self, chain: &[u8], key: &[u8]) -> Result<TlsConfig, Error> {
        let certs = CertificateDer::pem_slice_iter(chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(pem_error)?;
        if certs.is_empty() {
            return Err(Error::TlsConfig(
                "no certificate found in the client chain".into(),
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(key).map_err(pem_error)?;
        self.client_auth = Some((certs, Arc::new(key)));
        Ok(self)
    }

    /// Sends this name in SNI and verifies the server's certificate against it, instead of the
    /// host connected to.
    pub fn server_name(mut self, name: impl Into<String>) -> TlsConfig {
        self.server_name = Some(name.into());
        self
    }

    /// **Dangerous:** accepts any server certificate, valid or not, for any name. The connection
    /// is encrypted but not authenticated: anyone on the path can read and change it. For tests
    /// against self-signed servers only.
    pub fn dangerous_accept_invalid_certs(mut self, accept: bool) -> TlsConfig {
        self.accept_invalid_certs = accept;
        self
    }

    /// Uses a complete rustls client configuration as is; the other settings, except
    /// [`TlsConfig::server_name`], are then ignored.
    pub fn rustls(mut self, config: Arc<rustls::ClientConfig>) -> TlsConfig {
        self.rustls = Some(config);
        self
    }

    /// The rustls client configuration these settings make: what [`connect`](crate::connect)
    /// uses, for a TLS stream of your own (e.g. under [`wrap_io`](crate::wrap_io)).
    ///
    /// ```
    /// use coro_websocket::TlsConfig;
    /// let config = TlsConfig::new().with_webpki_roots().client_config()?;
    /// assert!(config.alpn_protocols.is_empty());
    /// # Ok::<(), coro_websocket::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::TlsConfig`] if rustls refuses a root or the client certificate.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, Error> {
        custom_config(self)
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn builder() -> Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>, Error> {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::TlsConfig(Box::new(e)))
}

fn webpki_store() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// The rustls configuration for a `Tls` option (`Tls::On` is built once and shared).
pub(crate) fn client_config(tls: &Tls) -> Result<Arc<ClientConfig>, Error> {
    static DEFAULT: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    match tls {
        Tls::Off | Tls::On => {
            if let Some(c) = DEFAULT.get() {
                return Ok(c.clone());
            }
            let config = Arc::new(
                builder()?
                    .with_root_certificates(webpki_store())
                    .with_no_client_auth(),
            );
            Ok(DEFAULT.get_or_init(|| config).clone())
        }
        Tls::Config(c) => custom_config(c),
    }
}

pub(crate) fn custom_config(c: &TlsConfig) -> Result<Arc<ClientConfig>, Error> {
    if let Some(config) = &c.rustls {
        return Ok(config.clone());
    }
    let builder = builder()?;
    let builder = if c.accept_invalid_certs {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider())))
    } else {
        let mut store = RootCertStore::empty();
        // With no root named at all, trust the Mozilla roots as `Tls::On` does.
        if c.webpki_roots || (c.roots.is_empty() && !c.native_roots) {
            store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        if c.native_roots {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
        }
        for root in &c.roots {
            store
                .add(root.clone())
                .map_err(|e| Error::TlsConfig(Box::new(e)))?;
        }
        builder.with_root_certificates(store)
    };
    let config = match &c.client_auth {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain.clone(), key.clone_key())
            .map_err(|e| Error::TlsConfig(Box::new(e)))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The name to send in SNI and to verify: the override, else the host connected to.
pub(crate) fn server_name(tls: &Tls, host: &str) -> Result<ServerName<'static>, Error> {
    let name = match tls {
        Tls::Config(TlsConfig {
            server_name: Some(n),
            ..
        }) => n.as_str(),
        _ => host,
    };
    ServerName::try_from(name.to_owned()).map_err(|e| Error::TlsConfig(Box::new(e)))
}

/// The verifier behind `dangerous_accept_invalid_certs`: checks signatures, trusts any chain.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
