//! Security (RFC 4217): AUTH TLS and the control connection's handshake, PBSZ, PROT.

use ferry_proto::{ProtLevel, Reply, ReplyCode};
use tokio::net::TcpStream;

use crate::Shared;
use crate::stream::Stream;
use crate::tls::SessionTls;

use super::replies::{Fault, refuse};
use super::{Flow, Session, reply};

/// The server side of a TLS handshake on the control connection, bounded by the login timeout;
/// the stream and the TLS its data connections will use.
pub(super) async fn tls_handshake(
    shared: &Shared,
    tcp: TcpStream,
) -> std::io::Result<(Stream, SessionTls)> {
    let Some(settings) = &shared.config.tls else {
        return Err(std::io::Error::other("TLS is not configured"));
    };
    let tls = settings.session().map_err(std::io::Error::other)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.control());
    let handshake = tokio::time::timeout(shared.config.login_timeout, acceptor.accept(tcp));
    let resumed = |stream: &tokio_rustls::server::TlsStream<TcpStream>| {
        stream.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
    };
    let result = match handshake.await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(error)) => Err(error),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "TLS handshake timed out",
        )),
    };
    shared
        .observer
        .tls_handshake(result.is_ok(), result.as_ref().is_ok_and(resumed));
    Ok((Stream::Tls(Box::new(result?)), tls))
}

impl Session {
    /// AUTH TLS: 234, then the TLS handshake on the control connection.
    pub(super) async fn auth(&mut self, mechanism: &[u8]) -> std::io::Result<Flow> {
        let mechanism = String::from_utf8_lossy(mechanism)
            .trim()
            .to_ascii_uppercase();
        let refusal = if self.shared.config.tls.is_none() {
            Some(reply(
                ReplyCode::NOT_IMPLEMENTED,
                "TLS is not configured on this server.",
            ))
        } else if self.stream.is_tls() {
            Some(reply(ReplyCode::BAD_SEQUENCE, "TLS is already on."))
        } else if !matches!(mechanism.as_str(), "TLS" | "TLS-C" | "SSL" | "TLS-P") {
            Some(reply(ReplyCode::PARAMETER_NOT_IMPLEMENTED, "Use AUTH TLS."))
        } else {
            None
        };
        if let Some(refusal) = refusal {
            self.send(&refusal).await?;
            return Ok(Flow::Continue);
        }
        // Bytes that came in clear after AUTH (in the same write, or while a transfer ran) are
        // not commands of the TLS session to come, and executing them after the handshake is
        // the STARTTLS injection (CVE-2011-0411). An honest client waits for 234, so the
        // session ends here: nothing read before a handshake may be in the buffers after it.
        if !self.lines.is_empty() || !self.deferred.is_empty() {
            tracing::warn!(
                peer = %self.peer,
                "bytes sent after AUTH before the TLS handshake (command injection?); closing"
            );
            self.send(&refuse(Fault::CommandsBeforeHandshake)).await?;
            return Ok(Flow::Close);
        }
        self.send(&reply(
            ReplyCode::AUTH_OK,
            format!("AUTH {mechanism} ok; start the TLS handshake."),
        ))
        .await?;
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Closed) else {
            return Ok(Flow::Close);
        };
        match tls_handshake(&self.shared, tcp).await {
            Ok((stream, tls)) => {
                self.stream = stream;
                self.tls = Some(tls);
                // A new security state: PBSZ and PROT must be given again (RFC 4217 section 4).
                self.pbsz = false;
                self.prot = ProtLevel::Clear;
                Ok(Flow::Continue)
            }
            Err(error) => {
                tracing::warn!(peer = %self.peer, %error, "TLS handshake failed");
                Ok(Flow::Close)
            }
        }
    }

    pub(super) fn pbsz(&mut self) -> Reply {
        if !self.stream.is_tls() {
            return reply(ReplyCode::BAD_SEQUENCE, "PBSZ needs AUTH TLS first.");
        }
        self.pbsz = true;
        reply(ReplyCode::OK, "PBSZ=0")
    }

    pub(super) fn prot(&mut self, level: ProtLevel) -> Reply {
        if !self.stream.is_tls() || !self.pbsz {
            return reply(
                ReplyCode::BAD_SEQUENCE,
                "PROT needs AUTH TLS and PBSZ first.",
            );
        }
        match level {
            ProtLevel::Clear if self.shared.config.require_tls => reply(
                ReplyCode::DENIED_FOR_POLICY,
                "PROT C refused: data must be protected here.",
            ),
            ProtLevel::Clear | ProtLevel::Private => {
                self.prot = level;
                reply(
                    ReplyCode::OK,
                    if level == ProtLevel::Private {
                        "PROT now Private."
                    } else {
                        "PROT now Clear."
                    },
                )
            }
            ProtLevel::Safe | ProtLevel::Confidential => reply(
                ReplyCode::PROT_LEVEL_NOT_SUPPORTED,
                "PROT level not supported by TLS; use C or P.",
            ),
        }
    }
}
