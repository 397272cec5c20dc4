//! FTPS (RFC 4217) settings: one rustls server configuration shared by every control and data
//! connection, so that a data connection can resume the control connection's TLS session.
//!
//! Certificates come from PEM files or are made at start (`--tls-self-signed`). TLS 1.2 and 1.3
//! only (rustls speaks nothing older). This module does NOT run handshakes: the session and the
//! transfer do, with a timeout.
//!
//! Resumption is bound to the control connection (`SessionTls`): the session cache and the
//! ticket key are shared, but each control connection sees them through a random token of its
//! own, so that a data connection can resume only a session of the control connection that
//! opened it, never another client's (see docs/design-decisions.md).

use std::fmt::{self, Write as _};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ring::rand::SecureRandom;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{
    ClientHello, ProducesTickets, ResolvesServerCert, ServerSessionMemoryCache,
    StoresServerSessions,
};
use rustls::sign::CertifiedKey;

/// Sessions remembered for resumption by data connections. Each costs a few hundred bytes.
const SESSION_CACHE: usize = 16_384;
/// TLS 1.3 tickets sent on a control connection.
const CONTROL_TICKETS: usize = 8;
/// Bytes of a control connection's resumption token.
const TOKEN_LEN: usize = 16;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// rustls refused the certificate or key.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// Making a self-signed certificate failed.
    #[error("self-signed certificate: {0}")]
    SelfSigned(String),
}

/// A ready TLS configuration and the SHA-256 fingerprint of its certificate.
///
/// Sessions do not use these configurations as they are but through `TlsSettings::session`,
/// which binds resumption to one control connection.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// For control connections.
    pub config: Arc<ServerConfig>,
    /// For download and listing data connections: the same certificate, session cache and
    /// ticket keys as the control connection, so they resume its session; each gives the
    /// client one fresh ticket for the next data connection.
    pub data_config: Arc<ServerConfig>,
    /// For upload data connections: the same, but sending no TLS 1.3 tickets. An uploading
    /// client never reads what the server sends, and unread bytes turn its close into a TCP
    /// reset that destroys the end of the upload.
    pub upload_config: Arc<ServerConfig>,
    /// For HTTPS: the same certificate (a reload swaps it here too), ALPN `h2` and
    /// `http/1.1`, and a session cache and ticket key of its own, apart from FTPS's.
    pub http_config: Arc<ServerConfig>,
    /// `AB:CD:...`, for users to check what their client shows.
    pub fingerprint: String,
    /// The certificate every configuration above presents; [`TlsSettings::take_certificate`]
    /// replaces it for the handshakes that follow.
    certificate: Arc<Certificate>,
}

/// The certificate and key in use, swapped whole on reload: a handshake sees the old one or
/// the new one, never a mix. Sessions keep their cache and ticket keys across a swap.
#[derive(Debug)]
struct Certificate(std::sync::RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self
                .0
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        ))
    }
}

impl TlsSettings {
    /// Loads a certificate chain and a private key from PEM files.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<TlsSettings, TlsError> {
        let file_error = |path: &Path, message: String| TlsError::File {
            path: path.display().to_string(),
            message,
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .map_err(|e| file_error(cert, e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| file_error(cert, e.to_string()))?;
        if chain.is_empty() {
            return Err(file_error(cert, "no certificate found".into()));
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| file_error(key, e.to_string()))?;
        TlsSettings::build(chain, key)
    }

    /// Makes a self-signed certificate for `localhost`, `127.0.0.1` and `::1`.
    pub fn self_signed() -> Result<TlsSettings, TlsError> {
        let names = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ];
        let made = rcgen::generate_simple_self_signed(names)
            .map_err(|e| TlsError::SelfSigned(e.to_string()))?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
        TlsSettings::build(vec![made.cert.der().clone()], key)
    }

    fn build(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<TlsSettings, TlsError> {
        let fingerprint = fingerprint(&chain[0]);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = CertifiedKey::from_der(chain, key, &provider)?;
        let certificate = Arc::new(Certificate(std::sync::RwLock::new(Arc::new(key))));
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&certificate) as Arc<dyn ResolvesServerCert>);
        config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE);
        // Stateless (encrypted) tickets can be presented more than once, as OpenSSL-based
        // clients such as curl do for every data connection of a session.
        config.ticketer = rustls::crypto::ring::Ticketer::new()?;
        // Enough tickets on the control connection for a run of uploads, which get none.
        config.send_tls13_tickets = CONTROL_TICKETS;
        // ALPN "ftp" only (RFC 9325, the ALPACA attacks): a client that offers ALPN without it
        // (a browser sent here to talk HTTP) is refused with no_application_protocol; clients
        // that offer no ALPN at all, as FTP clients mostly do, are served.
        config.alpn_protocols = vec![b"ftp".to_vec()];
        let mut data_config = config.clone();
        data_config.send_tls13_tickets = 1;
        let mut upload_config = config.clone();
        upload_config.send_tls13_tickets = 0;
        let mut http_config = config.clone();
        http_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        http_config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE);
        http_config.ticketer = rustls::crypto::ring::Ticketer::new()?;
        http_config.send_tls13_tickets = 2;
        Ok(TlsSettings {
            config: Arc::new(config),
            data_config: Arc::new(data_config),
            upload_config: Arc::new(upload_config),
            http_config: Arc::new(http_config),
            fingerprint,
            certificate,
        })
    }

    /// Presents `other`'s certificate from the next handshake on (a reload that read new PEM
    /// files); the sessions and tickets stay valid. Returns the new fingerprint.
    pub fn take_certificate(&self, other: &TlsSettings) -> String {
        let key = Arc::clone(
            &other
                .certificate
                .0
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        *self
            .certificate
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = key;
        other.fingerprint.clone()
    }

    /// The TLS of one control connection and its data connections, under a new random token.
    pub(crate) fn session(&self) -> Result<SessionTls, TlsError> {
        let mut token = [0u8; TOKEN_LEN];
        ring::rand::SystemRandom::new()
            .fill(&mut token)
            .map_err(|_| TlsError::Config(rustls::Error::FailedToGetRandomBytes))?;
        let control = bind(
            &self.config,
            Binding {
                token,
                proven: None,
            },
        );
        Ok(SessionTls {
            token,
            control,
            data: Arc::clone(&self.data_config),
            upload: Arc::clone(&self.upload_config),
        })
    }
}

/// One control connection's TLS: what it and its data connections resume and issue is marked
/// with its token, and only sessions carrying that token are found. A data connection can thus
/// resume only a session made on this control connection or on one of its data connections.
pub(crate) struct SessionTls {
    token: [u8; TOKEN_LEN],
    control: Arc<ServerConfig>,
    /// The shared configurations the data connections' ones are made from.
    data: Arc<ServerConfig>,
    upload: Arc<ServerConfig>,
}

impl fmt::Debug for SessionTls {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("SessionTls").finish_non_exhaustive()
    }
}

impl SessionTls {
    /// For the control connection's handshake. Whatever it issues belongs to this session.
    pub(crate) fn control(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.control)
    }

    /// For one data connection's handshake (an upload's when `upload`). It issues a session
    /// marked with the token only once the client has presented one: a full handshake there,
    /// made by whoever reached the port first, must not hand out a session of this control
    /// connection for the next data connection.
    pub(crate) fn data_connection(&self, upload: bool) -> Arc<ServerConfig> {
        let base = if upload { &self.upload } else { &self.data };
        let binding = Binding {
            token: self.token,
            proven: Some(AtomicBool::new(false)),
        };
        bind(base, binding)
    }
}

/// `base` with its session cache and ticket key seen through `binding`.
fn bind(base: &ServerConfig, binding: Binding) -> Arc<ServerConfig> {
    let binding = Arc::new(binding);
    let mut config = base.clone();
    config.session_storage = Arc::new(BoundStore {
        binding: Arc::clone(&binding),
        inner: Arc::clone(&base.session_storage),
    });
    config.ticketer = Arc::new(BoundTicketer {
        binding,
        inner: Arc::clone(&base.ticketer),
    });
    Arc::new(config)
}

/// Whose sessions one connection finds and issues.
struct Binding {
    token: [u8; TOKEN_LEN],
    /// `None` on a control connection. On a data connection: whether the client presented a
    /// session of this control connection; until it has, nothing is issued under the token.
    proven: Option<AtomicBool>,
}

impl Binding {
    /// `bytes` behind the token.
    fn mark(&self, bytes: &[u8]) -> Vec<u8> {
        let mut marked = Vec::with_capacity(TOKEN_LEN + bytes.len());
        marked.extend_from_slice(&self.token);
        marked.extend_from_slice(bytes);
        marked
    }

    /// A session of this control connection was presented. rustls looks sessions up while it
    /// reads the ClientHello and issues new ones only after, so this comes first.
    fn found(&self) {
        if let Some(proven) = &self.proven {
            proven.store(true, Ordering::Relaxed);
        }
    }

    fn may_issue(&self) -> bool {
        self.proven
            .as_ref()
            .is_none_or(|proven| proven.load(Ordering::Relaxed))
    }
}

/// The shared session cache (TLS 1.2 session IDs), keyed by token and session ID.
struct BoundStore {
    binding: Arc<Binding>,
    inner: Arc<dyn StoresServerSessions>,
}

impl fmt::Debug for BoundStore {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("BoundStore").finish_non_exhaustive()
    }
}

impl StoresServerSessions for BoundStore {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.binding.may_issue() && self.inner.put(self.binding.mark(&key), value)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let value = self.inner.get(&self.binding.mark(key))?;
        self.binding.found();
        Some(value)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        let value = self.inner.take(&self.binding.mark(key))?;
        self.binding.found();
        Some(value)
    }

    fn can_cache(&self) -> bool {
        self.binding.may_issue() && self.inner.can_cache()
    }
}

/// The shared ticket key (TLS 1.3 tickets, TLS 1.2 session tickets): the token goes inside the
/// encrypted ticket, and a ticket without this connection's token does not decrypt.
struct BoundTicketer {
    binding: Arc<Binding>,
    inner: Arc<dyn ProducesTickets>,
}

impl fmt::Debug for BoundTicketer {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("BoundTicketer")
            .finish_non_exhaustive()
    }
}

impl ProducesTickets for BoundTicketer {
    fn enabled(&self) -> bool {
        self.inner.enabled()
    }

    fn lifetime(&self) -> u32 {
        self.inner.lifetime()
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        if !self.binding.may_issue() {
            return None;
        }
        self.inner.encrypt(&self.binding.mark(plain))
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        let marked = self.inner.decrypt(cipher)?;
        let plain = marked.strip_prefix(&self.binding.token[..])?.to_vec();
        self.binding.found();
        Some(plain)
    }
}

/// SHA-256 of a DER certificate as colon-separated hex.
fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, cert.as_ref());
    let mut out = String::new();
    for (index, byte) in digest.as_ref().iter().enumerate() {
        if index > 0 {
            out.push(':');
        }
        let _ = write!(out, "{byte:02X}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_and_pem_round_trip() {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        let settings = TlsSettings::from_pem_files(&cert, &key).unwrap();
        assert_eq!(settings.fingerprint.len(), 32 * 3 - 1);
        assert!(TlsSettings::from_pem_files(&key, &key).is_err());
        assert!(TlsSettings::self_signed().is_ok());
    }

    #[test]
    fn sessions_are_found_only_through_their_control_connection() {
        let settings = TlsSettings::self_signed().unwrap();
        let (a, b) = (settings.session().unwrap(), settings.session().unwrap());
        let ticket = a.control().ticketer.encrypt(b"state").unwrap();
        assert!(
            a.control()
                .session_storage
                .put(b"id".to_vec(), b"v".to_vec())
        );
        let (data_a, data_b) = (a.data_connection(false), b.data_connection(true));
        assert_eq!(data_b.ticketer.decrypt(&ticket), None);
        assert_eq!(data_b.session_storage.get(b"id"), None);
        // A data connection issues nothing under the token until its client presented a session
        // of its control connection.
        assert_eq!(data_a.ticketer.encrypt(b"next"), None);
        assert!(!data_a.session_storage.can_cache());
        assert!(!data_a.session_storage.put(b"id2".to_vec(), b"w".to_vec()));
        assert_eq!(data_a.ticketer.decrypt(&ticket), Some(b"state".to_vec()));
        let next = data_a.ticketer.encrypt(b"next").unwrap();
        assert_eq!(
            a.data_connection(true).ticketer.decrypt(&next),
            Some(b"next".to_vec())
        );
        let data_a = a.data_connection(false);
        assert_eq!(data_a.session_storage.get(b"id"), Some(b"v".to_vec()));
        assert!(data_a.session_storage.put(b"id2".to_vec(), b"w".to_vec()));
    }
}
