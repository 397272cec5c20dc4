//! FTPS (RFC 4217) for the client: which TLS a connection uses, which certificates it trusts,
//! and the stream type that is either plain TCP or TLS over it.
//!
//! - [`TlsMode`]: none, explicit (`AUTH TLS` on the control port: `ftpes://`, or `--tls` with
//!   `ftp://`) or implicit (TLS from the first byte: `ftps://`).
//! - [`TlsTrust`]: the operating system's roots (read by `rustls-native-certs`), a PEM CA file
//!   instead, or no verification at all (`--insecure`, [`TlsTrust::danger_accept_any_certificate`]).
//!   The certificate store is read once per process, when the first TLS connection is made.
//! - [`TlsTrust::session_config`]: one `rustls::ClientConfig` per control connection, with a
//!   resumption store of its own, shared by that connection's data connections so they resume
//!   its session (vsftpd's `require_ssl_reuse`, ProFTPD's `NoSessionReuseRequired` off). A
//!   store shared between control connections would let one connection's data channel offer
//!   another's session, which those servers refuse.
//!
//! rustls with the `ring` provider; TLS 1.2 and 1.3. This module sends no FTP commands (see
//! [`crate::connection`]).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::Resumption;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;

use crate::ClientError;

/// How many sessions one control connection's store keeps (its own, plus TLS 1.3 tickets).
const SESSIONS_PER_CONNECTION: usize = 16;
/// The ALPN protocol offered on control and data connections.
const ALPN_FTP: &[u8] = b"ftp";

/// Whether and how a connection uses TLS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain FTP (`ftp://`).
    #[default]
    Off,
    /// `AUTH TLS` after the greeting, which the server must accept (`ftpes://`, or `--tls`).
    Explicit,
    /// TLS from the first byte, usually on port 990 (`ftps://`).
    Implicit,
}

impl TlsMode {
    /// True unless [`TlsMode::Off`].
    pub fn is_on(self) -> bool {
        self != TlsMode::Off
    }
}

/// Which server certificates a TLS connection accepts. Clones share the store once it is read.
#[derive(Clone, Default)]
pub struct TlsTrust {
    source: TrustSource,
    /// Built at the first TLS connection: the verifier and protocol settings, without a
    /// resumption store of its own (each connection gets one from [`TlsTrust::session_config`]).
    base: Arc<OnceLock<Result<Arc<ClientConfig>, String>>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum TrustSource {
    /// The operating system's store.
    #[default]
    System,
    /// Only the certificates in this PEM file.
    CaFile(PathBuf),
    /// Nothing is verified.
    AnyCertificate,
}

impl fmt::Debug for TlsTrust {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("TlsTrust")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl TlsTrust {
    /// The roots of the operating system's certificate store (`SSL_CERT_FILE` and
    /// `SSL_CERT_DIR` are honoured).
    pub fn system() -> TlsTrust {
        TlsTrust::default()
    }

    /// Only the certificates in a PEM file (a CA, or a server's self-signed certificate); the
    /// system's roots are not consulted, as with curl's `--cacert`.
    pub fn ca_file(path: impl Into<PathBuf>) -> TlsTrust {
        TlsTrust {
            source: TrustSource::CaFile(path.into()),
            base: Arc::default(),
        }
    }

    /// Accepts any certificate for any name (`--insecure`): the connection is encrypted but
    /// anyone on the path can impersonate the server. The handshake signatures are still
    /// checked against the certificate presented.
    pub fn danger_accept_any_certificate() -> TlsTrust {
        TlsTrust {
            source: TrustSource::AnyCertificate,
            base: Arc::default(),
        }
    }

    /// True for [`TlsTrust::danger_accept_any_certificate`].
    pub fn is_insecure(&self) -> bool {
        self.source == TrustSource::AnyCertificate
    }

    /// A config for one control connection and its data connections: shared verifier, a fresh
    /// in-memory resumption store.
    pub fn session_config(&self) -> Result<Arc<ClientConfig>, ClientError> {
        let base = self
            .base
            .get_or_init(|| build_base(&self.source).map(Arc::new))
            .clone()
            .map_err(ClientError::Tls)?;
        let mut config = ClientConfig::clone(&base);
        config.resumption = Resumption::in_memory_sessions(SESSIONS_PER_CONNECTION);
        Ok(Arc::new(config))
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn build_base(source: &TrustSource) -> Result<ClientConfig, String> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("cannot set up TLS: {error}"))?;
    let mut config = match source {
        TrustSource::System => builder
            .with_root_certificates(system_roots()?)
            .with_no_client_auth(),
        TrustSource::CaFile(path) => builder
            .with_root_certificates(file_roots(path)?)
            .with_no_client_auth(),
        TrustSource::AnyCertificate => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate {
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth(),
    };
    // ALPN "ftp" (RFC 9325; the ALPACA attacks): a server that checks it (vsftpd 3.0.4 and
    // later, ferryd) knows this is FTP; those that do not (Pure-FTPd, older vsftpd) ignore it.
    config.alpn_protocols = vec![ALPN_FTP.to_vec()];
    Ok(config)
}

fn system_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _unusable) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map(|error| format!(" ({error})"))
            .unwrap_or_default();
        return Err(format!(
            "no trusted certificates found in the system's store{why}; give one with --ca-file"
        ));
    }
    Ok(roots)
}

fn file_roots(path: &Path) -> Result<RootCertStore, String> {
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|error| format!("cannot read the CA file {shown}: {}", pem_error(&error)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("bad PEM in the CA file {shown}: {}", pem_error(&error)))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!("no usable certificate in the CA file {shown}"));
    }
    Ok(roots)
}

fn pem_error(error: &rustls::pki_types::pem::Error) -> String {
    match error {
        rustls::pki_types::pem::Error::Io(error) => error.to_string(),
        other => format!("{other:?}"),
    }
}

/// `--insecure`: accepts every certificate chain and name, but still checks that the server
/// signed the handshake with the key in the certificate it sent.
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCertificate {
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The TLS side of one control connection, kept for its data connections.
#[derive(Debug, Clone)]
pub(crate) struct TlsSession {
    /// The config the control connection used: its resumption store holds the session the data
    /// connections resume.
    pub(crate) config: Arc<ClientConfig>,
    /// The name the control connection verified; data connections must use the same one, or
    /// the store has no session for them.
    pub(crate) name: ServerName<'static>,
}

impl TlsSession {
    /// For a control connection to `host` (a DNS name or an IP address).
    pub(crate) fn new(trust: &TlsTrust, host: &str) -> Result<TlsSession, ClientError> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| ClientError::Tls(format!("{host:?} is not a usable TLS server name")))?;
        Ok(TlsSession {
            config: trust.session_config()?,
            name,
        })
    }

    /// Runs the client handshake over `tcp` (bounded by `timeout`). `what` names the
    /// connection in errors.
    pub(crate) async fn handshake(
        &self,
        tcp: TcpStream,
        timeout: std::time::Duration,
        what: &str,
    ) -> Result<Stream, ClientError> {
        let connector = tokio_rustls::TlsConnector::from(Arc::clone(&self.config));
        match tokio::time::timeout(timeout, connector.connect(self.name.clone(), tcp)).await {
            Ok(Ok(stream)) => Ok(Stream::Tls(Box::new(stream))),
            Ok(Err(error)) => Err(handshake_error(what, &error)),
            Err(_) => Err(ClientError::Timeout(format!(
                "in the TLS handshake ({what})"
            ))),
        }
    }
}

/// One line for a failed handshake, with what to do about an untrusted certificate.
fn handshake_error(what: &str, error: &io::Error) -> ClientError {
    let rustls_error = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let hint = match rustls_error {
        Some(rustls::Error::InvalidCertificate(_)) => {
            "; trust it with --ca-file PEM, or skip verification with --insecure"
        }
        _ => "",
    };
    ClientError::Tls(format!("handshake failed ({what}): {error}{hint}"))
}

/// A control or data connection: plain TCP, or TLS over it (shared with the server through
/// `ferry-net`; this name fixes the client's TLS role). `Closed` once taken away for an
/// upgrade to TLS that failed: every read and write is an error.
pub type Stream = ferry_net::Stream<tokio_rustls::client::TlsStream<TcpStream>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_connection_gets_its_own_resumption_store() {
        let trust = TlsTrust::danger_accept_any_certificate();
        let first = trust.session_config().unwrap();
        let second = trust.clone().session_config().unwrap();
        assert!(!Arc::ptr_eq(&first, &second));
        assert!(trust.is_insecure());
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_one_clear_line() {
        let folder = tempfile::tempdir().unwrap();
        let missing = TlsTrust::ca_file(folder.path().join("nope.pem"));
        let error = missing.session_config().unwrap_err().to_string();
        assert!(error.starts_with("TLS: cannot read the CA file"), "{error}");
        assert!(!error.contains('\n'));
        let empty = folder.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let error = TlsTrust::ca_file(&empty).session_config().unwrap_err();
        assert!(
            error.to_string().contains("no usable certificate"),
            "{error}"
        );
    }

    /// The server's ALPN choice after an in-memory handshake of a connection made with
    /// `client` against a server offering `alpn`.
    fn negotiated_alpn(client: Arc<ClientConfig>, alpn: &[&[u8]]) -> Option<Vec<u8>> {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
            rustls::pki_types::PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()),
        );
        let mut server_config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![made.cert.der().clone()], key)
            .unwrap();
        server_config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let mut server = rustls::ServerConnection::new(Arc::new(server_config)).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let mut client = rustls::ClientConnection::new(client, name).unwrap();
        for _ in 0..10 {
            if !client.is_handshaking() && !server.is_handshaking() {
                break;
            }
            let mut bytes = Vec::new();
            client.write_tls(&mut bytes).unwrap();
            server.read_tls(&mut &bytes[..]).unwrap();
            server.process_new_packets().unwrap();
            bytes.clear();
            server.write_tls(&mut bytes).unwrap();
            client.read_tls(&mut &bytes[..]).unwrap();
            client.process_new_packets().unwrap();
        }
        assert!(!client.is_handshaking() && !server.is_handshaking());
        server.alpn_protocol().map(<[u8]>::to_vec)
    }

    #[test]
    fn offers_alpn_ftp() {
        let trust = TlsTrust::danger_accept_any_certificate();
        let config = trust.session_config().unwrap();
        // A server that checks ALPN chooses ftp; one that ignores it still completes.
        assert_eq!(
            negotiated_alpn(Arc::clone(&config), &[b"ftp"]),
            Some(b"ftp".to_vec())
        );
        assert_eq!(negotiated_alpn(config, &[]), None);
    }

    #[test]
    fn names_and_addresses() {
        let trust = TlsTrust::danger_accept_any_certificate();
        assert!(TlsSession::new(&trust, "127.0.0.1").is_ok());
        assert!(TlsSession::new(&trust, "::1").is_ok());
        assert!(TlsSession::new(&trust, "ftp.example.org").is_ok());
        assert!(TlsSession::new(&trust, "bad name!").is_err());
    }
}
