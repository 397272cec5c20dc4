//! FTPS (RFC 4217) settings: one rustls server configuration shared by every control and data
//! connection, so that a data connection can resume the control connection's TLS session.
//!
//! Certificates come from PEM files or are made at start (`--tls-self-signed`). TLS 1.2 and 1.3
//! only (rustls speaks nothing older). This module does NOT run handshakes: the session and the
//! transfer do, with a timeout.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::ServerSessionMemoryCache;

/// Sessions remembered for resumption by data connections. Each costs a few hundred bytes.
const SESSION_CACHE: usize = 16_384;
/// TLS 1.3 tickets sent on a control connection.
const CONTROL_TICKETS: usize = 8;

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
    /// `AB:CD:...`, for users to check what their client shows.
    pub fingerprint: String,
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
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE);
        // Stateless (encrypted) tickets can be presented more than once, as OpenSSL-based
        // clients such as curl do for every data connection of a session.
        config.ticketer = rustls::crypto::ring::Ticketer::new()?;
        // Enough tickets on the control connection for a run of uploads, which get none.
        config.send_tls13_tickets = CONTROL_TICKETS;
        let mut data_config = config.clone();
        data_config.send_tls13_tickets = 1;
        let mut upload_config = config.clone();
        upload_config.send_tls13_tickets = 0;
        Ok(TlsSettings {
            config: Arc::new(config),
            data_config: Arc::new(data_config),
            upload_config: Arc::new(upload_config),
            fingerprint,
        })
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
}
