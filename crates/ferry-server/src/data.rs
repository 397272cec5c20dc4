//! Data connections: passive listeners (PASV/EPSV) and active connects (PORT/EPRT).
//!
//! Security rules of RFC 2577 apply here. A passive listener accepts only connections from the
//! control connection's IP; any other peer is dropped and logged (no port stealing). Active
//! connects go only to the control connection's IP and never to a privileged port (no FTP
//! bounce); the session checks that before it stores the address. Both wait at most the data
//! timeout. A passive listener lives only while a transfer is pending.
//!
//! A passive listener is a plain non-blocking socket, not registered with the event loop: most
//! clients connect right after the 227/229 reply and before RETR or STOR, so the connection is
//! usually waiting in the accept queue when the transfer starts. A registered listener would
//! wake the event loop when that connection arrives, for nothing, and the client's connect(2)
//! pays for the wake-up (14 of 35 µs on loopback). Only when the accept queue is still empty is
//! the listener handed to the event loop to wait.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpStream;

/// How the next transfer's data connection is made.
#[derive(Debug)]
pub(crate) enum DataSetup {
    /// We listen; the client connects. The listener is non-blocking.
    Passive(TcpListener),
    /// We connect to the client.
    Active(SocketAddr),
    /// The connection is made already (non-blocking, not yet registered with the event loop)
    /// and the session has sent its 150.
    Ready(std::net::TcpStream),
}

/// Opens a passive listener on `local_ip`, in `ports` if given.
///
/// Without `ports` the port is still picked by us, at random in the kernel's ephemeral range, as
/// vsftpd does: `bind` to port 0 makes the kernel scan the range past every port held by a
/// TIME-WAIT socket (one per finished transfer, for a minute), which cost more than the rest of
/// a small transfer when thousands of files went by. A random port is also one an attacker
/// cannot guess (RFC 2577's port stealing). Returns the listener and its port.
pub(crate) fn listen_passive(
    local_ip: IpAddr,
    ports: Option<(u16, u16)>,
) -> io::Result<(TcpListener, u16)> {
    let (low, high) = ports.unwrap_or_else(ephemeral_range);
    let span = u32::from(high.saturating_sub(low)) + 1;
    // The whole configured range is tried; in the ephemeral range a few picks, then the kernel.
    let tries = if ports.is_some() { span } else { span.min(16) };
    let start = random_u32() % span;
    for step in 0..tries {
        let Ok(port) = u16::try_from(u32::from(low) + (start + step) % span) else {
            continue;
        };
        match bind(SocketAddr::new(local_ip, port)) {
            Ok(listener) => return Ok((listener, port)),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e),
        }
    }
    if ports.is_none() {
        let listener = bind(SocketAddr::new(local_ip, 0))?;
        let port = listener.local_addr()?.port();
        return Ok((listener, port));
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free passive port",
    ))
}

/// The kernel's ephemeral port range (`net.ipv4.ip_local_port_range`), read once.
fn ephemeral_range() -> (u16, u16) {
    static RANGE: std::sync::OnceLock<(u16, u16)> = std::sync::OnceLock::new();
    *RANGE.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|text| {
                let mut numbers = text.split_whitespace().map(str::parse::<u16>);
                match (numbers.next(), numbers.next()) {
                    (Some(Ok(low)), Some(Ok(high))) if 1024 <= low && low <= high => {
                        Some((low, high))
                    }
                    _ => None,
                }
            })
            .unwrap_or((32768, 60999))
    })
}

/// Four bytes from the system's random generator (the clock if that ever fails).
fn random_u32() -> u32 {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 4];
    match ring::rand::SystemRandom::new().fill(&mut bytes) {
        Ok(()) => u32::from_ne_bytes(bytes),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos()),
    }
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    // Ports whose only other sockets are in TIME-WAIT (each finished transfer leaves one for a
    // minute) may be taken again, as vsftpd does: thousands of small files in a row would
    // otherwise use up the port range. Linux still refuses a port another socket listens on.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    // One connection is expected; a few more may knock (and be refused).
    socket.listen(8)?;
    Ok(socket.into())
}

/// Makes the data connection for `setup`; only `peer_ip` may be on the other end. `nodelay`
/// turns Nagle off, for connections whose last write must go out at once.
pub(crate) async fn connect(
    setup: DataSetup,
    peer_ip: IpAddr,
    timeout: Duration,
    nodelay: bool,
) -> io::Result<TcpStream> {
    let work = async {
        let stream = match setup {
            // Accepted by the session.
            DataSetup::Ready(stream) => TcpStream::from_std(stream)?,
            DataSetup::Passive(listener) => {
                if let Some(stream) = accept_queued(&listener, peer_ip)? {
                    TcpStream::from_std(stream)?
                } else {
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    loop {
                        let (stream, from) = listener.accept().await?;
                        if from.ip().to_canonical() == peer_ip {
                            break stream;
                        }
                        refused(from, peer_ip);
                    }
                }
            }
            DataSetup::Active(addr) => TcpStream::connect(addr).await?,
        };
        if nodelay {
            let _ = stream.set_nodelay(true);
        }
        Ok(stream)
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "data connection timed out"))?
}

/// The passive connection from `peer_ip` if one is waiting in the accept queue (others are
/// dropped), taken without the event loop; `None` if none is waiting yet. The stream is
/// non-blocking and not registered with the event loop, so a transfer that completes at once
/// never needs it to be.
pub(crate) fn accept_queued(
    listener: &TcpListener,
    peer_ip: IpAddr,
) -> io::Result<Option<std::net::TcpStream>> {
    use rustix::net::SocketFlags;
    loop {
        match rustix::net::acceptfrom_with(listener, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC) {
            Ok((fd, from)) => {
                let stream = std::net::TcpStream::from(fd);
                let from = match from.map(SocketAddr::try_from) {
                    Some(Ok(from)) => from,
                    _ => stream.peer_addr()?,
                };
                if from.ip().to_canonical() == peer_ip {
                    return Ok(Some(stream));
                }
                refused(from, peer_ip);
            }
            Err(rustix::io::Errno::AGAIN) => return Ok(None),
            Err(rustix::io::Errno::INTR | rustix::io::Errno::CONNABORTED) => {}
            Err(error) => return Err(error.into()),
        }
    }
}

fn refused(from: SocketAddr, expected: IpAddr) {
    tracing::warn!(%from, %expected, "data connection from a foreign address refused");
}
