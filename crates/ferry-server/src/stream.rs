//! A connection that is plain TCP or TLS over TCP: the control connection after `AUTH TLS`, or a
//! data connection after `PROT P`. The type is shared with the client (`ferry-net`); the name
//! fixes its TLS role to the server's.

use tokio::net::TcpStream;

/// Plain or TLS, on the server's side.
pub(crate) type Stream = ferry_net::Stream<tokio_rustls::server::TlsStream<TcpStream>>;
