//! A self-signed certificate for loopback, made with rcgen at test time.

use std::path::PathBuf;

use ferry_server::tls::TlsSettings;
use tempfile::TempDir;

/// A self-signed certificate for `127.0.0.1`, `localhost` and `::1`, written with its key as
/// PEM files to a temporary folder (removed on drop); clients trust it as their CA file.
#[derive(Debug)]
pub struct TestCert {
    /// The certificate, PEM; also the CA file clients are given.
    pub cert: PathBuf,
    /// Its private key, PEM (PKCS#8).
    pub key: PathBuf,
    /// The certificate, DER, for a rustls root store.
    pub der: Vec<u8>,
    _folder: TempDir,
}

impl TestCert {
    /// Makes a new certificate and key.
    pub fn new() -> TestCert {
        let names = ["127.0.0.1", "localhost", "::1"].map(String::from).to_vec();
        let made = rcgen::generate_simple_self_signed(names).expect("rcgen makes a certificate");
        let folder = tempfile::tempdir().expect("a folder for the certificate");
        let cert = folder.path().join("cert.pem");
        let key = folder.path().join("key.pem");
        std::fs::write(&cert, made.cert.pem()).expect("write the certificate");
        std::fs::write(&key, made.signing_key.serialize_pem()).expect("write the key");
        TestCert {
            cert,
            key,
            der: made.cert.der().to_vec(),
            _folder: folder,
        }
    }

    /// ferryd's TLS settings for this certificate, read from its files as `--tls-cert` and
    /// `--tls-key` would.
    pub fn settings(&self) -> TlsSettings {
        TlsSettings::from_pem_files(&self.cert, &self.key)
            .expect("ferryd accepts the test certificate")
    }
}

impl Default for TestCert {
    fn default() -> TestCert {
        TestCert::new()
    }
}
