//! What the tests of ferry-server, ferry-client and ferry-interop share (a dev-dependency of
//! each, never published): a ferryd running in the background ([`Ferryd`]), a certificate for
//! loopback written as PEM files ([`TestCert`]), deterministic test bytes ([`test_bytes`]) and
//! the checks on files that go with them, and running other programs within a time limit
//! ([`wait_bounded`], [`run`]) or failing, never skipping, when one is missing ([`tool`]).
//!
//! Each crate's `tests/common` re-exports these under the names its tests use and adds what
//! only it needs (the server's raw control and TLS clients, the client's fake servers and
//! `ferry` runner, the interop suite's S3 view and peer servers).
//!
//! Every helper fails the test (panics with what went wrong) rather than returning an error.

mod cert;
mod ferryd;
mod files;
mod process;

pub use cert::TestCert;
pub use ferryd::{Ferryd, FerrydBuilder, storage_ready};
pub use files::{assert_bytes, names_in, test_bytes};
pub use process::{on_ci, run, run_bounded, run_with_input, tool, wait_bounded};
