//! The PROXY protocol header (HAProxy, versions 1 and 2) that a TCP load balancer puts before
//! the client's bytes, telling the server who the client really is.
//!
//! [`parse`] takes the bytes seen so far (peeked, not consumed) and says whether they hold a
//! complete header, how long it is, and which address it names. It does NOT read sockets or
//! decide whom to trust: the listener only asks for a header from the balancer's addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The version 2 signature.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// A version 1 header is at most this long, CRLF included.
const V1_MAX: usize = 107;
/// The longest version 2 header we accept (addresses plus some TLVs).
pub const V2_MAX: usize = 16 + 512;

/// A complete header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyHeader {
    /// The client's address, or `None` for `UNKNOWN`/`LOCAL` (health checks from the
    /// balancer itself).
    pub source: Option<SocketAddr>,
    /// How many bytes the header takes; the client's own bytes follow.
    pub length: usize,
}

/// Why the bytes are not a PROXY header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// Not a PROXY header at all.
    #[error("no PROXY protocol header")]
    Missing,
    /// A header that breaks the specification.
    #[error("malformed PROXY protocol header")]
    Malformed,
}

/// Parses a header at the start of `bytes`. `Ok(None)`: not enough bytes yet.
pub fn parse(bytes: &[u8]) -> Result<Option<ProxyHeader>, ProxyError> {
    if bytes.len() < V2_SIGNATURE.len() {
        let could_be_v2 = V2_SIGNATURE.starts_with(bytes);
        let could_be_v1 = b"PROXY ".starts_with(&bytes[..bytes.len().min(6)]);
        return if could_be_v1 || could_be_v2 {
            Ok(None)
        } else {
            Err(ProxyError::Missing)
        };
    }
    if bytes.starts_with(&V2_SIGNATURE) {
        return parse_v2(bytes);
    }
    if bytes.starts_with(b"PROXY ") {
        return parse_v1(bytes);
    }
    Err(ProxyError::Missing)
}

fn parse_v1(bytes: &[u8]) -> Result<Option<ProxyHeader>, ProxyError> {
    let Some(end) = bytes.iter().take(V1_MAX).position(|&b| b == b'\n') else {
        return if bytes.len() >= V1_MAX {
            Err(ProxyError::Malformed)
        } else {
            Ok(None)
        };
    };
    let line = bytes[..end]
        .strip_suffix(b"\r")
        .ok_or(ProxyError::Malformed)?;
    let line = std::str::from_utf8(line).map_err(|_| ProxyError::Malformed)?;
    let words: Vec<&str> = line.split(' ').collect();
    let source = match words[..] {
        ["PROXY", "UNKNOWN", ..] => None,
        [
            "PROXY",
            family @ ("TCP4" | "TCP6"),
            source,
            destination,
            source_port,
            destination_port,
        ] => {
            let source: IpAddr = source.parse().map_err(|_| ProxyError::Malformed)?;
            let destination: IpAddr = destination.parse().map_err(|_| ProxyError::Malformed)?;
            let v4 = family == "TCP4";
            if source.is_ipv4() != v4 || destination.is_ipv4() != v4 {
                return Err(ProxyError::Malformed);
            }
            let port = |text: &str| {
                if text.len() > 1 && text.starts_with('0') {
                    return Err(ProxyError::Malformed);
                }
                text.parse::<u16>().map_err(|_| ProxyError::Malformed)
            };
            port(destination_port)?;
            Some(SocketAddr::new(source, port(source_port)?))
        }
        _ => return Err(ProxyError::Malformed),
    };
    Ok(Some(ProxyHeader {
        source,
        length: end + 1,
    }))
}

fn parse_v2(bytes: &[u8]) -> Result<Option<ProxyHeader>, ProxyError> {
    if bytes.len() < 16 {
        return Ok(None);
    }
    let version_command = bytes[12];
    if version_command >> 4 != 2 {
        return Err(ProxyError::Malformed);
    }
    let length = 16 + usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
    if length > V2_MAX {
        return Err(ProxyError::Malformed);
    }
    if bytes.len() < length {
        return Ok(None);
    }
    let body = &bytes[16..length];
    let source = match (version_command & 0x0F, bytes[13]) {
        // LOCAL: the balancer's own connection (health check); keep the real peer.
        (0x0, _) => None,
        (0x1, 0x11) => {
            let address = body.get(..12).ok_or(ProxyError::Malformed)?;
            let ip = Ipv4Addr::new(address[0], address[1], address[2], address[3]);
            Some(SocketAddr::new(
                IpAddr::V4(ip),
                u16::from_be_bytes([address[8], address[9]]),
            ))
        }
        (0x1, 0x21) => {
            let address = body.get(..36).ok_or(ProxyError::Malformed)?;
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&address[..16]);
            let port = u16::from_be_bytes([address[32], address[33]]);
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(octets)), port))
        }
        // UNSPEC or UNIX families: no usable address.
        (0x1, _) => None,
        _ => return Err(ProxyError::Malformed),
    };
    Ok(Some(ProxyHeader { source, length }))
}

/// Encodes a version 1 header (for tests and tools).
pub fn encode_v1(source: SocketAddr, destination: SocketAddr) -> String {
    let family = if source.is_ipv4() { "TCP4" } else { "TCP6" };
    format!(
        "PROXY {family} {} {} {} {}\r\n",
        source.ip(),
        destination.ip(),
        source.port(),
        destination.port()
    )
}

/// Encodes a version 2 PROXY header (for tests and tools).
pub fn encode_v2(source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
    let mut out = V2_SIGNATURE.to_vec();
    out.push(0x21);
    match (source, destination) {
        (SocketAddr::V4(source), SocketAddr::V4(destination)) => {
            out.push(0x11);
            out.extend_from_slice(&12u16.to_be_bytes());
            out.extend_from_slice(&source.ip().octets());
            out.extend_from_slice(&destination.ip().octets());
            out.extend_from_slice(&source.port().to_be_bytes());
            out.extend_from_slice(&destination.port().to_be_bytes());
        }
        _ => {
            let v6 = |a: SocketAddr| match a.ip() {
                IpAddr::V4(ip) => ip.to_ipv6_mapped(),
                IpAddr::V6(ip) => ip,
            };
            out.push(0x21);
            out.extend_from_slice(&36u16.to_be_bytes());
            out.extend_from_slice(&v6(source).octets());
            out.extend_from_slice(&v6(destination).octets());
            out.extend_from_slice(&source.port().to_be_bytes());
            out.extend_from_slice(&destination.port().to_be_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn v1() {
        let header = encode_v1(addr("192.0.2.7:51000"), addr("10.0.0.1:21"));
        let mut bytes = header.clone().into_bytes();
        bytes.extend_from_slice(b"USER x\r\n");
        let parsed = parse(&bytes).unwrap().unwrap();
        assert_eq!(parsed.source, Some(addr("192.0.2.7:51000")));
        assert_eq!(parsed.length, header.len());
        assert_eq!(parse(b"PROXY UNKNOWN\r\n").unwrap().unwrap().source, None);
        let six = encode_v1(addr("[2001:db8::1]:5"), addr("[::1]:21"));
        assert_eq!(
            parse(six.as_bytes()).unwrap().unwrap().source,
            Some(addr("[2001:db8::1]:5"))
        );
    }

    #[test]
    fn v1_incomplete_and_bad() {
        assert_eq!(parse(b"PROX"), Ok(None));
        assert_eq!(parse(b"PROXY TCP4 1.2.3.4"), Ok(None));
        assert_eq!(parse(b"USER anonymous\r\n"), Err(ProxyError::Missing));
        for bad in [
            &b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"[..],
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
            b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 70000 2\r\n",
            b"PROXY SCTP 1.2.3.4 5.6.7.8 1 2\r\n",
        ] {
            assert_eq!(
                parse(bad),
                Err(ProxyError::Malformed),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let endless = [b"PROXY ".as_slice(), &[b'1'; 200]].concat();
        assert_eq!(parse(&endless), Err(ProxyError::Malformed));
    }

    #[test]
    fn v2() {
        for (source, destination) in [
            (addr("198.51.100.2:40000"), addr("10.0.0.1:21")),
            (addr("[2001:db8::2]:40000"), addr("[2001:db8::1]:21")),
        ] {
            let mut bytes = encode_v2(source, destination);
            let length = bytes.len();
            assert_eq!(parse(&bytes[..length - 1]), Ok(None));
            bytes.extend_from_slice(b"extra");
            assert_eq!(
                parse(&bytes),
                Ok(Some(ProxyHeader {
                    source: Some(source),
                    length
                }))
            );
        }
        let mut local = V2_SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0, 0]);
        assert_eq!(
            parse(&local),
            Ok(Some(ProxyHeader {
                source: None,
                length: 16
            }))
        );
        let mut huge = V2_SIGNATURE.to_vec();
        huge.extend_from_slice(&[0x21, 0x11, 0xFF, 0xFF]);
        assert_eq!(parse(&huge), Err(ProxyError::Malformed));
        let mut short = V2_SIGNATURE.to_vec();
        short.extend_from_slice(&[0x21, 0x11, 0, 4, 1, 2, 3, 4]);
        assert_eq!(parse(&short), Err(ProxyError::Malformed));
    }
}
