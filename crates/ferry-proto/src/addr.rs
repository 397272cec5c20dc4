//! Data connection addresses as FTP writes them.
//!
//! PORT and the PASV reply use `h1,h2,h3,h4,p1,p2` (RFC 959 section 4.1.2); EPRT uses
//! `|proto|address|port|` and the EPSV reply `(|||port|)` (RFC 2428). Parsers return `None` on
//! anything malformed; they never panic.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

/// Parses the argument of PORT, or the six numbers of a 227 reply.
pub fn parse_port(text: &str) -> Option<SocketAddrV4> {
    let numbers: Vec<u8> = text
        .trim()
        .split(',')
        .map(|n| n.trim().parse::<u8>())
        .collect::<Result<_, _>>()
        .ok()?;
    let [a, b, c, d, high, low] = numbers[..] else {
        return None;
    };
    Some(SocketAddrV4::new(
        Ipv4Addr::new(a, b, c, d),
        u16::from_be_bytes([high, low]),
    ))
}

/// Formats an IPv4 address and port as PORT and PASV write them.
pub fn format_port(addr: SocketAddrV4) -> String {
    let [a, b, c, d] = addr.ip().octets();
    let [high, low] = addr.port().to_be_bytes();
    format!("{a},{b},{c},{d},{high},{low}")
}

/// The text of a 227 reply for `addr`.
pub fn format_pasv_reply(addr: SocketAddrV4) -> String {
    format!("Entering Passive Mode ({}).", format_port(addr))
}

/// Finds the address in a 227 reply text: the first run of six comma-separated numbers (some
/// servers put them in parentheses, some do not).
pub fn parse_pasv_reply(text: &str) -> Option<SocketAddrV4> {
    text.split(|c: char| !(c.is_ascii_digit() || c == ','))
        .filter(|run| run.contains(','))
        .find_map(parse_port)
}

/// Parses the argument of EPRT: `<d>proto<d>address<d>port<d>` with any delimiter `d`.
pub fn parse_eprt(text: &str) -> Option<SocketAddr> {
    let text = text.trim();
    let delimiter = text.chars().next()?;
    if !(33..=126).contains(&(delimiter as u32)) || delimiter.is_ascii_digit() {
        return None;
    }
    let mut fields = text.split(delimiter);
    let (Some(""), Some(proto), Some(host), Some(port), Some(""), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return None;
    };
    let port: u16 = port.parse().ok()?;
    let ip: IpAddr = match proto {
        "1" => IpAddr::V4(host.parse().ok()?),
        "2" => IpAddr::V6(host.parse().ok()?),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Formats an address as the argument of EPRT.
pub fn format_eprt(addr: SocketAddr) -> String {
    let proto = if addr.is_ipv4() { 1 } else { 2 };
    format!("|{proto}|{}|{}|", addr.ip(), addr.port())
}

/// The text of a 229 reply for `port`.
pub fn format_epsv_reply(port: u16) -> String {
    format!("Entering Extended Passive Mode (|||{port}|)")
}

/// Finds the port in a 229 reply text: `(<d><d><d>port<d>)`.
pub fn parse_epsv_reply(text: &str) -> Option<u16> {
    let open = text.find('(')?;
    let inner = &text[open + 1..];
    let close = inner.find(')')?;
    let inner = &inner[..close];
    let delimiter = inner.chars().next()?;
    let fields: Vec<&str> = inner.split(delimiter).collect();
    match fields[..] {
        ["", "", "", port, ""] => port.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_round_trip() {
        let addr: SocketAddrV4 = "192.168.1.2:50000".parse().unwrap();
        assert_eq!(format_port(addr), "192,168,1,2,195,80");
        assert_eq!(parse_port(&format_port(addr)), Some(addr));
        assert_eq!(parse_pasv_reply(&format_pasv_reply(addr)), Some(addr));
        assert_eq!(
            parse_pasv_reply("227 =127,0,0,1,4,1"),
            "127.0.0.1:1025".parse().ok()
        );
    }

    #[test]
    fn port_rejects_garbage() {
        for bad in [
            "",
            "1,2,3,4,5",
            "1,2,3,4,5,6,7",
            "256,0,0,1,1,1",
            "a,b,c,d,e,f",
            "1,2,3,4,5,-1",
        ] {
            assert_eq!(parse_port(bad), None, "{bad}");
        }
    }

    #[test]
    fn eprt() {
        assert_eq!(
            parse_eprt("|1|132.235.1.2|6275|"),
            "132.235.1.2:6275".parse().ok()
        );
        assert_eq!(
            parse_eprt("|2|1080::8:800:200C:417A|5282|"),
            "[1080::8:800:200C:417A]:5282".parse().ok()
        );
        assert_eq!(parse_eprt("!1!10.0.0.1!21!"), "10.0.0.1:21".parse().ok());
        for bad in [
            "",
            "|1|::1|5|",
            "|2|1.2.3.4|5|",
            "|3|x|1|",
            "|1|1.2.3.4|70000|",
            "|1|1.2.3.4|5",
            "1|1.2.3.4|5|",
        ] {
            assert_eq!(parse_eprt(bad), None, "{bad}");
        }
        let addr: SocketAddr = "[::1]:2121".parse().unwrap();
        assert_eq!(parse_eprt(&format_eprt(addr)), Some(addr));
    }

    #[test]
    fn epsv() {
        assert_eq!(parse_epsv_reply(&format_epsv_reply(40000)), Some(40000));
        assert_eq!(parse_epsv_reply("Entering (!!!7!)"), Some(7));
        assert_eq!(parse_epsv_reply("Entering (|||x|)"), None);
        assert_eq!(parse_epsv_reply("no parens"), None);
    }
}
