//! ferryd in the background: a `ferry_server::Server` on a thread and tokio runtime of its own,
//! stopped (cancelled, its sessions drained, the thread joined) when its [`Ferryd`] is dropped.

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferry_server::Config;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How long the server thread may take to open its listeners, once the storage is ready.
const START_LIMIT: Duration = Duration::from_secs(20);

/// A running ferryd; stops when dropped.
#[derive(Debug)]
pub struct Ferryd {
    /// Where clients connect: the plain listener (AUTH TLS when the config has TLS), or the
    /// implicit-FTPS one when that is the only one.
    pub addr: SocketAddr,
    /// The implicit-FTPS listener (TLS from the first byte), if one was asked for.
    pub implicit: Option<SocketAddr>,
    /// The SFTP listener, if one was asked for.
    pub sftp: Option<SocketAddr>,
    /// The plain HTTP listener, if one was asked for.
    pub http: Option<SocketAddr>,
    /// The HTTPS listener, if one was asked for.
    pub https: Option<SocketAddr>,
    shutdown: CancellationToken,
    thread: Option<JoinHandle<()>>,
}

/// What [`Ferryd::builder`] starts: its listeners and whether to wait for the storage first.
#[derive(Debug)]
#[must_use = "nothing runs until `start`"]
pub struct FerrydBuilder {
    config: Config,
    plain: Option<String>,
    implicit: Option<String>,
    sftp: Option<String>,
    http: Option<String>,
    https: Option<String>,
    storage_ready: Option<Duration>,
}

impl Ferryd {
    /// Serves `config` on one plain listener at `bind` (such as `127.0.0.1:0` or `[::1]:0`).
    pub fn start(config: Config, bind: &str) -> Ferryd {
        Ferryd::builder(config).listen(bind).start()
    }

    /// A ferryd for `config`, with the listeners and waits the builder's methods add.
    pub fn builder(config: Config) -> FerrydBuilder {
        FerrydBuilder {
            config,
            plain: None,
            implicit: None,
            sftp: None,
            http: None,
            https: None,
            storage_ready: None,
        }
    }
}

impl FerrydBuilder {
    /// A plain listener at `bind` (AUTH TLS when the config has TLS).
    pub fn listen(mut self, bind: &str) -> FerrydBuilder {
        self.plain = Some(bind.to_string());
        self
    }

    /// An implicit-FTPS listener at `bind`.
    pub fn listen_implicit(mut self, bind: &str) -> FerrydBuilder {
        self.implicit = Some(bind.to_string());
        self
    }

    /// An SFTP listener at `bind`, with a host key made now when the config has none.
    pub fn listen_sftp(mut self, bind: &str) -> FerrydBuilder {
        if self.config.ssh_host_key.is_none() {
            let key = ferry_server::sftp::host_key::generate().expect("an SSH host key");
            self.config.ssh_host_key = Some(key);
        }
        self.sftp = Some(bind.to_string());
        self
    }

    /// A plain HTTP listener at `bind`.
    pub fn listen_http(mut self, bind: &str) -> FerrydBuilder {
        self.http = Some(bind.to_string());
        self
    }

    /// An HTTPS listener at `bind` (the config needs TLS).
    pub fn listen_https(mut self, bind: &str) -> FerrydBuilder {
        self.https = Some(bind.to_string());
        self
    }

    /// Waits up to `limit` for the storage to answer [`ferry_server::check_storage`] before
    /// serving (a fresh SeaweedFS creates its bucket a moment after its port opens).
    pub fn storage_ready_within(mut self, limit: Duration) -> FerrydBuilder {
        self.storage_ready = Some(limit);
        self
    }

    /// Starts the server thread and waits until it listens; fails the test if it cannot.
    pub fn start(self) -> Ferryd {
        let FerrydBuilder {
            config,
            plain,
            implicit,
            sftp,
            http,
            https,
            storage_ready,
        } = self;
        let binds = [plain, implicit, sftp, http, https];
        assert!(
            binds.iter().any(Option::is_some),
            "a ferryd needs a listener"
        );
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let (sender, receiver) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("ferryd".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a tokio runtime for ferryd");
                runtime.block_on(serve(config, binds, storage_ready, token, sender));
            })
            .expect("a thread for ferryd");
        let limit = START_LIMIT + storage_ready.unwrap_or_default();
        let started = match receiver.recv_timeout(limit) {
            Ok(started) => started,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                shutdown.cancel();
                panic!("ferryd did not start within {limit:?}");
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!("ferryd's thread ended before it listened (its panic is above)")
            }
        };
        match started {
            Ok([plain, implicit, sftp, http, https]) => Ferryd {
                addr: plain
                    .or(implicit)
                    .or(sftp)
                    .or(http)
                    .or(https)
                    .expect("a listener"),
                implicit,
                sftp,
                http,
                https,
                shutdown,
                thread: Some(thread),
            },
            Err(message) => {
                // The thread has ended, having said why.
                let _ = thread.join();
                panic!("{message}");
            }
        }
    }
}

/// The listeners' addresses (plain, implicit, SFTP, HTTP, HTTPS), or why the server did not
/// start.
type Started = Result<[Option<SocketAddr>; 5], String>;

/// The server thread's work: wait for the storage, open the listeners, report, serve until
/// `shutdown`, then wait for the sessions to end.
async fn serve(
    config: Config,
    binds: [Option<String>; 5],
    ready_within: Option<Duration>,
    shutdown: CancellationToken,
    report: mpsc::Sender<Started>,
) {
    if let Some(limit) = ready_within
        && let Err(error) = storage_ready(&config, limit).await
    {
        let _ = report.send(Err(format!("storage not ready: {error}")));
        return;
    }
    let server = match ferry_server::Server::new(config) {
        Ok(server) => server,
        Err(error) => {
            let _ = report.send(Err(format!("ferryd does not start: {error}")));
            return;
        }
    };
    let mut listeners = Vec::new();
    for wanted in binds {
        match bind(wanted).await {
            Ok(listener) => listeners.push(listener),
            Err(message) => {
                let _ = report.send(Err(message));
                return;
            }
        }
    }
    let Ok([plain, implicit, sftp, http, https]) = <[Option<TcpListener>; 5]>::try_from(listeners)
    else {
        return;
    };
    let address = |listener: &Option<TcpListener>| {
        listener
            .as_ref()
            .map(|listener| listener.local_addr().expect("a bound listener's address"))
    };
    if report
        .send(Ok([
            address(&plain),
            address(&implicit),
            address(&sftp),
            address(&http),
            address(&https),
        ]))
        .is_err()
    {
        return;
    }
    let serve_plain = async {
        if let Some(listener) = plain {
            server.serve(listener, shutdown.clone()).await;
        }
    };
    let serve_implicit = async {
        if let Some(listener) = implicit {
            server.serve_implicit(listener, shutdown.clone()).await;
        }
    };
    let serve_sftp = async {
        if let Some(listener) = sftp {
            server.serve_sftp(listener, shutdown.clone()).await;
        }
    };
    let serve_http = async {
        if let Some(listener) = http {
            server.serve_http(listener, shutdown.clone()).await;
        }
    };
    let serve_https = async {
        if let Some(listener) = https {
            server.serve_https(listener, shutdown.clone()).await;
        }
    };
    tokio::join!(
        serve_plain,
        serve_implicit,
        serve_sftp,
        serve_http,
        serve_https
    );
    server.wait().await;
}

/// A listener at `bind`, if one is asked for; a message saying what is missing if it fails.
async fn bind(bind: Option<String>) -> Result<Option<TcpListener>, String> {
    let Some(bind) = bind else { return Ok(None) };
    match TcpListener::bind(bind.as_str()).await {
        Ok(listener) => Ok(Some(listener)),
        Err(error) => Err(format!(
            "cannot bind {bind}: {error}. {}",
            if bind.starts_with('[') {
                "This machine has no IPv6 loopback (::1); the IPv6 tests need one \
                 (enable IPv6 on lo, e.g. `sysctl -w net.ipv6.conf.lo.disable_ipv6=0`)."
            } else {
                "Loopback must be available for the tests."
            }
        )),
    }
}

/// Waits until the storage `config` names answers [`ferry_server::check_storage`], trying every
/// 100 ms for up to `limit`; the last error if it never does.
pub async fn storage_ready(config: &Config, limit: Duration) -> io::Result<()> {
    let started = Instant::now();
    loop {
        match ferry_server::check_storage(config).await {
            Ok(()) => return Ok(()),
            Err(error) if started.elapsed() >= limit => return Err(error),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

impl Drop for Ferryd {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
