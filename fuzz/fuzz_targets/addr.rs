//! The address parsers of `ferry_proto::addr` on any text, and their formatters on any address.
//!
//! Asserts: whatever `parse_port`, `parse_pasv_reply`, `parse_eprt` and `parse_epsv_reply`
//! accept survives format-then-parse unchanged; and parse(format(x)) == x for any IPv4 or IPv6
//! address and port.
#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

use arbitrary::Arbitrary;
use ferry_proto::addr;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    text: String,
    v4: [u8; 4],
    v6: [u8; 16],
    port: u16,
}

fn port_round_trip(address: SocketAddrV4) {
    assert_eq!(addr::parse_port(&addr::format_port(address)), Some(address));
    assert_eq!(
        addr::parse_pasv_reply(&addr::format_pasv_reply(address)),
        Some(address)
    );
    let reply = format!("227 {}", addr::format_pasv_reply(address));
    assert_eq!(addr::parse_pasv_reply(&reply), Some(address));
}

fn eprt_round_trip(address: SocketAddr) {
    assert_eq!(addr::parse_eprt(&addr::format_eprt(address)), Some(address));
}

fn epsv_round_trip(port: u16) {
    assert_eq!(
        addr::parse_epsv_reply(&addr::format_epsv_reply(port)),
        Some(port)
    );
}

fuzz_target!(|input: Input| {
    let text = input.text.as_str();
    if let Some(address) = addr::parse_port(text) {
        port_round_trip(address);
    }
    if let Some(address) = addr::parse_pasv_reply(text) {
        port_round_trip(address);
    }
    if let Some(address) = addr::parse_eprt(text) {
        if let SocketAddr::V6(v6) = address {
            assert_eq!((v6.flowinfo(), v6.scope_id()), (0, 0));
        }
        eprt_round_trip(address);
    }
    if let Some(port) = addr::parse_epsv_reply(text) {
        epsv_round_trip(port);
    }

    let v4 = SocketAddrV4::new(Ipv4Addr::from(input.v4), input.port);
    port_round_trip(v4);
    eprt_round_trip(SocketAddr::V4(v4));
    eprt_round_trip(SocketAddr::new(Ipv6Addr::from(input.v6).into(), input.port));
    epsv_round_trip(input.port);
});
