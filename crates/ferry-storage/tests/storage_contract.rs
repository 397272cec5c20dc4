//! The storage contract (`tests/contract/`), run against every backend. A new backend joins
//! with one line here: `contract::suite!(NAME, kit::CONSTRUCTOR);`, the constructor being an
//! `async fn(test_name: &str) -> Backend` in `tests/kit/mod.rs` that gives each test a fresh,
//! empty root and the backend's `Facts`.

mod contract;
mod kit;

contract::suite!(local, crate::kit::local);
#[cfg(feature = "s3")]
contract::suite!(s3_seaweedfs, crate::kit::seaweedfs);
#[cfg(feature = "s3")]
contract::suite!(s3_s3s_fs, crate::kit::s3s_fs);
