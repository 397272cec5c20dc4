//! `proxy::parse` (the PROXY protocol header, versions 1 and 2) on any bytes, read as a listener
//! peeks them: a growing prefix.
//!
//! Asserts: a header is never longer than the bytes nor than the limits; every prefix shorter than
//! a header asks for more bytes, and every longer one gives the same header (so peeking at any
//! moment decides the same); an error never turns into a header later; and `encode_v1`/`encode_v2`
//! of any two addresses of one family parse back to the source, whatever bytes follow.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use arbitrary::Arbitrary;
use ferry_proto::proxy::{self, V2_MAX};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    data: Vec<u8>,
    v6: bool,
    source: [u8; 16],
    destination: [u8; 16],
    ports: (u16, u16),
}

fn address(v6: bool, octets: [u8; 16], port: u16) -> SocketAddr {
    let ip: IpAddr = if v6 {
        Ipv6Addr::from(octets).into()
    } else {
        Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]).into()
    };
    SocketAddr::new(ip, port)
}

fuzz_target!(|input: Input| {
    let data = &input.data;
    let whole = proxy::parse(data);
    let limit = data.len().min(V2_MAX + 1);
    match whole {
        Ok(Some(header)) => {
            assert!(header.length <= data.len() && header.length <= V2_MAX);
            for n in 0..limit {
                let expected = if n < header.length { Ok(None) } else { whole };
                assert_eq!(proxy::parse(&data[..n]), expected, "prefix {n}");
            }
        }
        Ok(None) | Err(_) => {
            for n in 0..limit {
                let prefix = proxy::parse(&data[..n]);
                assert!(
                    matches!(prefix, Ok(None) | Err(_)),
                    "prefix {n}: {prefix:?}"
                );
                if let Err(error) = prefix {
                    assert_eq!(whole, Err(error), "prefix {n}");
                }
            }
        }
    }

    let source = address(input.v6, input.source, input.ports.0);
    let destination = address(input.v6, input.destination, input.ports.1);
    for mut header in [
        proxy::encode_v1(source, destination).into_bytes(),
        proxy::encode_v2(source, destination),
    ] {
        let length = header.len();
        header.extend_from_slice(data);
        let parsed = proxy::parse(&header)
            .expect("our header parses")
            .expect("complete");
        assert_eq!((parsed.source, parsed.length), (Some(source), length));
    }
});
