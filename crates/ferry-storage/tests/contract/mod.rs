//! The storage contract: one test per behaviour of the `Storage` API, written once and run
//! against every backend (`tests/storage_contract.rs` lists them, one line each).
//!
//! Each test takes a fresh [`Backend`]. Where a backend differs on purpose, the test asserts
//! each side through the backend's [`Facts`](crate::kit::Facts), never by skipping. What only one
//! backend can show (symlinks, FIFOs, locks across processes, S3 prefixes) is NOT here: it is in
//! `tests/local.rs` and `tests/s3.rs`.
#![allow(clippy::unwrap_used)]

pub(crate) mod files;
pub(crate) mod folders;
pub(crate) mod uploads;

#[allow(unused_imports)]
use crate::kit::Backend;

/// Every contract test, once per backend: `suite!(module_name, constructor)`, where the
/// constructor is an `async fn(test_name: &str) -> Backend` (see `tests/kit/mod.rs`).
macro_rules! suite {
    ($backend:ident, $open:path) => {
        $crate::contract::suite!(@tests $backend, $open;
            files::stat_tells_kind_size_and_time,
            files::read_starts_at_the_offset,
            files::wrong_kind_is_refused,
            files::remove_file_deletes,
            files::set_modified_sets_the_time_where_supported,
            files::reserved_names_are_refused,
            files::control_characters_are_refused_in_new_names,
            files::names_each_backend_can_store,
            uploads::upload_is_invisible_until_commit,
            uploads::multipart_sized_files_round_trip,
            uploads::aborted_or_dropped_upload_publishes_nothing,
            uploads::resume_after_an_interrupted_upload,
            uploads::resume_keeps_the_first_bytes_of_the_file,
            uploads::append_extends_the_file,
            uploads::one_upload_per_file_at_a_time,
            uploads::unique_never_replaces,
            uploads::unique_skips_names_being_uploaded,
            uploads::stor_into_a_missing_folder,
            folders::folders_are_made_listed_and_removed,
            folders::listing_hides_uploads_and_streams_past_a_page,
            folders::rename_moves_files_and_folders,
        );
    };
    (@tests $backend:ident, $open:path; $($group:ident :: $test:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let backend = $open(stringify!($test)).await;
                    $crate::contract::$group::$test(&backend).await;
                }
            )*
        }
    };
}
pub(crate) use suite;
