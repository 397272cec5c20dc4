//! TLS hardening (issue 14): nothing sent in clear before the AUTH TLS handshake is executed
//! inside TLS (the STARTTLS injection class, CVE-2011-0411); a TLS data connection must resume
//! the session of the control connection that opened its port, not any session; and ALPN other
//! than `ftp` is refused (the ALPACA cross-protocol attacks).
#![allow(clippy::unwrap_used)]

mod common;

use common::TestServer;
use common::tls::{Control, Pki, pki, try_tls_connect};
use ferry_server::{Anonymous, User};

/// A server with the users dave (home `dave/`) and eve (home `eve/`), no anonymous login.
fn server_with_users(pki: &Pki, configure: impl FnOnce(&mut ferry_server::Config)) -> TestServer {
    pki.server(|config| {
        config.anonymous = Anonymous::Off;
        for (name, password) in [("dave", "davepw"), ("eve", "evepw")] {
            std::fs::create_dir_all(config.root.join(name)).unwrap();
            config.users.users.insert(
                name.into(),
                User::new(password.as_bytes(), name.into(), false).unwrap(),
            );
        }
        configure(config);
    })
}

#[test]
fn commands_pipelined_with_auth_tls_are_never_executed() {
    let pki = pki();
    for require_tls in [false, true] {
        let server = server_with_users(&pki, |config| config.require_tls = require_tls);
        let smuggled: [&[u8]; 2] = [
            b"AUTH TLS\r\nUSER dave\r\nPASS davepw\r\n",
            // A line begun in clear and ended inside TLS would be executed just the same.
            b"AUTH TLS\r\nUSER da",
        ];
        for bytes in smuggled {
            let mut control = Control::explicit(&server, pki.client_config(true));
            control.send_raw(bytes);
            // The server refuses in clear and closes: no handshake, so nothing it read before
            // one can be taken for a command sent over TLS.
            let reply = control.read_reply();
            assert_eq!(reply.code.0, 421, "require_tls {require_tls}: {reply}");
            assert!(
                control.try_read_reply().is_none(),
                "require_tls {require_tls}: the connection is closed"
            );
            let plain = control.plain.take().unwrap();
            assert!(
                try_tls_connect(&control.config, plain).is_err(),
                "require_tls {require_tls}: no TLS session after a pipelined AUTH TLS"
            );
        }
        // An honest client, which waits for 234 and the handshake, logs in.
        let mut control = Control::explicit(&server, pki.client_config(true));
        control.auth();
        control.expect("USER dave", 331);
        control.expect("PASS davepw", 230);
    }
}
