//! Data connection set-up (RFC 959 section 4.1.2, RFC 2428): PASV, EPSV, PORT, EPRT.

use std::net::{IpAddr, SocketAddr};

use ferry_proto::{EpsvArg, Reply, ReplyCode, addr};

use crate::data::{self, DataSetup};

use super::{Session, reply};

impl Session {
    pub(super) fn pasv(&mut self) -> Reply {
        if self.epsv_all {
            return reply(ReplyCode::BAD_SEQUENCE, "EPSV ALL in effect; use EPSV.");
        }
        let advertised = match (
            self.shared.config.passive_address,
            self.local.ip().to_canonical(),
        ) {
            (Some(IpAddr::V4(ip)), _) | (None, IpAddr::V4(ip)) => ip,
            _ => return reply(ReplyCode::CANT_OPEN_DATA, "PASV needs IPv4; use EPSV."),
        };
        match self.open_passive() {
            Ok(port) => reply(
                ReplyCode::PASSIVE_MODE,
                addr::format_pasv_reply(std::net::SocketAddrV4::new(advertised, port)),
            ),
            Err(answer) => answer,
        }
    }

    pub(super) fn epsv(&mut self, arg: EpsvArg) -> Reply {
        match arg {
            EpsvArg::All => {
                self.epsv_all = true;
                return reply(ReplyCode::OK, "EPSV ALL ok.");
            }
            EpsvArg::Protocol(protocol) => {
                let ours = if self.local.ip().to_canonical().is_ipv4() {
                    1
                } else {
                    2
                };
                if protocol != ours {
                    return reply(
                        ReplyCode::NETWORK_PROTOCOL_NOT_SUPPORTED,
                        format!("Network protocol not supported, use ({ours})."),
                    );
                }
            }
            EpsvArg::Any => {}
        }
        match self.open_passive() {
            Ok(port) => reply(
                ReplyCode::EXTENDED_PASSIVE_MODE,
                addr::format_epsv_reply(port),
            ),
            Err(answer) => answer,
        }
    }

    pub(super) fn open_passive(&mut self) -> Result<u16, Reply> {
        self.data = None;
        match data::listen_passive(self.local.ip(), self.shared.config.passive_ports) {
            Ok((listener, port)) => {
                self.data = Some(DataSetup::Passive(listener));
                Ok(port)
            }
            Err(error) => {
                tracing::warn!(peer = %self.peer, %error, "passive listener failed");
                Err(reply(
                    ReplyCode::CANT_OPEN_DATA,
                    "Can't open passive connection.",
                ))
            }
        }
    }

    pub(super) fn active(&mut self, target: SocketAddr) -> Reply {
        if self.epsv_all {
            return reply(ReplyCode::BAD_SEQUENCE, "EPSV ALL in effect; use EPSV.");
        }
        // RFC 2577: no bounce to other hosts or to privileged ports.
        if target.ip().to_canonical() != self.peer.ip().to_canonical() {
            tracing::warn!(peer = %self.peer, %target, "PORT to a foreign address refused");
            return reply(
                ReplyCode::SYNTAX_ERROR_ARGS,
                "Rejected: data connection to a foreign address.",
            );
        }
        if target.port() < 1024 {
            return reply(ReplyCode::SYNTAX_ERROR_ARGS, "Rejected: privileged port.");
        }
        self.data = Some(DataSetup::Active(target));
        reply(ReplyCode::OK, "PORT command successful.")
    }
}
