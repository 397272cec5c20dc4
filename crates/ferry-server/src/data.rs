//! Data connections: passive listeners (PASV/EPSV) and active connects (PORT/EPRT).
//!
//! Security rules of RFC 2577 apply here. A passive listener accepts only connections from the
//! control connection's IP; any other peer is dropped and logged (no port stealing). Active
//! connects go only to the control connection's IP and never to a privileged port (no FTP
//! bounce); the session checks that before it stores the address. Both wait at most the data
//! timeout. A passive listener lives only while a transfer is pending.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// How the next transfer's data connection is made.
#[derive(Debug)]
pub(crate) enum DataSetup {
    /// We listen; the client connects.
    Passive(TcpListener),
    /// We connect to the client.
    Active(SocketAddr),
}

/// Opens a passive listener on `local_ip`, in `ports` if given.
pub(crate) fn listen_passive(
    local_ip: IpAddr,
    ports: Option<(u16, u16)>,
) -> io::Result<TcpListener> {
    let Some((low, high)) = ports else {
        return bind(SocketAddr::new(local_ip, 0));
    };
    // Start at a spread-out point so that sessions do not all probe the same ports first.
    let span = u32::from(high - low) + 1;
    let start = (std::process::id().wrapping_mul(2_654_435_761) ^ nanos()) % span;
    for step in 0..span {
        let port = low + ((start + step) % span) as u16;
        match bind(SocketAddr::new(local_ip, port)) {
            Ok(listener) => return Ok(listener),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free passive port",
    ))
}

fn nanos() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(addr)?;
    // One connection is expected; a few more may knock (and be refused).
    socket.listen(8)
}

/// Makes the data connection for `setup`; only `peer_ip` may be on the other end.
pub(crate) async fn connect(
    setup: DataSetup,
    peer_ip: IpAddr,
    timeout: Duration,
) -> io::Result<TcpStream> {
    let work = async {
        match setup {
            DataSetup::Passive(listener) => loop {
                let (stream, from) = listener.accept().await?;
                if from.ip().to_canonical() == peer_ip {
                    break Ok(stream);
                }
                tracing::warn!(%from, expected = %peer_ip, "data connection from a foreign address refused");
            },
            DataSetup::Active(addr) => TcpStream::connect(addr).await,
        }
    };
    let stream = tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "data connection timed out"))??;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}
