//! TLS hardening (issue 14): nothing sent in clear before the AUTH TLS handshake is executed
//! inside TLS (the STARTTLS injection class, CVE-2011-0411); a TLS data connection must resume
//! the session of the control connection that opened its port, not any session; and ALPN other
//! than `ftp` is refused (the ALPACA cross-protocol attacks).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;

use common::tls::{ClientOptions, Control, Pki, pki, tcp, try_tls_connect};
use common::{TestServer, random_bytes};
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

/// Two sessions from one IP: eve's client connects to the passive port of dave's RETR and offers
/// a session of its own (eve's). The data connection must be refused and dave's bytes never
/// reach eve; dave's own resuming data connection is served.
fn another_sessions_resumption_is_refused(options: ClientOptions<'_>) {
    let pki = pki();
    let server = server_with_users(&pki, |config| config.require_tls_session_reuse = true);
    let secret = random_bytes(100_000, 14);
    std::fs::write(server.path("dave/secret.bin"), &secret).unwrap();
    let dave_config = pki.client_config_with(options);
    let eve_config = pki.client_config_with(options);
    let mut dave = Control::explicit(&server, Arc::clone(&dave_config));
    dave.secure_login_as("dave", "davepw");
    let mut eve = Control::explicit(&server, Arc::clone(&eve_config));
    eve.secure_login_as("eve", "evepw");
    // eve's own data connection resumes eve's session: her client holds a resumable session.
    assert_eq!(eve.download("NLST", &eve_config), b"");

    // Twice: the refused handshake must not have handed eve a session of dave's either.
    for attempt in 1..=2 {
        let port = dave.epsv_port();
        dave.send("RETR secret.bin");
        let stolen = tcp(SocketAddr::new("127.0.0.1".parse().unwrap(), port));
        assert_eq!(dave.read_reply().code.0, 150);
        let mut received = Vec::new();
        if let Ok(mut tls) = try_tls_connect(&eve_config, stolen) {
            let _ = tls.read_to_end(&mut received);
        }
        assert!(
            received.is_empty(),
            "attempt {attempt}: eve received {} bytes of dave's file",
            received.len()
        );
        assert_eq!(dave.read_reply().code.0, 522, "attempt {attempt}");
    }

    let mine = dave.download("RETR secret.bin", &dave_config);
    assert_eq!(mine, secret, "dave's own data connection is served");
    let upload = random_bytes(70_000, 15);
    assert_eq!(dave.upload("STOR up.bin", &upload).code.0, 226);
    assert_eq!(std::fs::read(server.path("dave/up.bin")).unwrap(), upload);
}

#[test]
fn data_connection_must_resume_its_own_session_tls13() {
    another_sessions_resumption_is_refused(ClientOptions {
        versions: &[&rustls::version::TLS13],
        ..ClientOptions::default()
    });
}

#[test]
fn data_connection_must_resume_its_own_session_tls12_tickets() {
    another_sessions_resumption_is_refused(ClientOptions {
        versions: &[&rustls::version::TLS12],
        ..ClientOptions::default()
    });
}

#[test]
fn data_connection_must_resume_its_own_session_tls12_session_ids() {
    another_sessions_resumption_is_refused(ClientOptions {
        versions: &[&rustls::version::TLS12],
        tls12_session_ids_only: true,
        ..ClientOptions::default()
    });
}

#[test]
fn alpn_other_than_ftp_is_refused() {
    let pki = pki();
    let server = pki.server(|_| {});
    std::fs::write(server.path("f.txt"), b"alpn").unwrap();
    let http: &[&[u8]] = &[b"http/1.1"];
    let http = pki.client_config_with(ClientOptions {
        alpn: http,
        ..ClientOptions::default()
    });
    let ftp: &[&[u8]] = &[b"ftp"];
    let ftp = pki.client_config_with(ClientOptions {
        alpn: ftp,
        ..ClientOptions::default()
    });
    let none = pki.client_config(true);

    // Control connection, explicit: a client speaking another protocol is refused.
    let mut control = Control::explicit(&server, Arc::clone(&http));
    let error = control.try_auth().unwrap_err();
    assert!(
        error.to_string().contains("NoApplicationProtocol"),
        "refused for its ALPN: {error}"
    );

    // ALPN ftp, and no ALPN at all, are served on control and data connections.
    for config in [&ftp, &none] {
        let mut control = Control::explicit(&server, Arc::clone(config));
        control.secure_login();
        let chosen = control.tls.as_ref().unwrap().conn.alpn_protocol();
        let offered = config.alpn_protocols.first().map(Vec::as_slice);
        assert_eq!(chosen, offered, "the server chooses ftp when offered");
        assert_eq!(control.download("RETR f.txt", config), b"alpn");
        // A data connection offering only another protocol is refused.
        let data = control.data_tcp();
        control.expect("RETR f.txt", 150);
        assert!(try_tls_connect(&http, data).is_err());
        assert_eq!(control.read_reply().code.0, 522);
    }

    // Implicit FTPS likewise.
    let mut config = ferry_server::Config::for_folder(server.root.clone());
    config.tls = Some(pki.settings.clone());
    let implicit = TestServer::with_implicit(config);
    assert!(try_tls_connect(&http, tcp(implicit.addr)).is_err());
    let mut control = Control::implicit(implicit.addr, Arc::clone(&ftp));
    control.expect("USER anonymous", 331);
    control.expect("PASS x", 230);
}
