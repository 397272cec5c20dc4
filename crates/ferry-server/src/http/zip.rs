//! `GET /dir/?zip`: a folder, recursively, as one zip archive made while it is sent;
//! `?zip&files=a,b` only those entries of the folder (names, comma-separated,
//! percent-encoded; a name with `/` or `..` is refused).
//!
//! Nothing is staged: each file's bytes go from the storage to the client in pieces of
//! [`CHUNK`] through the download limits, STORED (no compression), with the CRC-32 and sizes
//! in a data descriptor after the bytes (general-purpose flag bit 3), so no seek back is
//! needed. ZIP64 records are written where a size, an offset or the number of entries does not
//! fit the classic fields (per entry for files of 4 GiB and more; at the end for archives past
//! 4 GiB or 65,535 entries). Memory is one chunk plus a small record per entry for the central
//! directory (name, CRC, size, offset: about 40 bytes and the name), whatever the sizes.
//!
//! Rights: the folder needs `list` (else 403); inside, folders the user may not list and files
//! the user may not download are left out, as are symbolic links. Names are the stored bytes,
//! flagged UTF-8 (bit 11) when they are UTF-8.
//!
//! Our own writer (format: PKWARE APPNOTE 6.3.x, sections 4.3 and 4.5): the part of the format
//! needed here is small, and a crate would have to stream without seeking to fit.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use ferry_proto::VirtualPath;
use ferry_proto::listing::{Entry, EntryKind};
use ferry_storage::{Download, ErrorKind, ListStream};

use super::body::PullBody;
use super::errors::{Fault, plain};
use super::path::Target;
use crate::service::rules::Right;
use crate::service::{FileError, FileService, Meter};

/// The largest piece of a file read and sent at once.
const CHUNK: usize = 256 * 1024;
/// Central directory records sent in one piece.
const DIRECTORY_BATCH: usize = 512;
/// The most names `files=` may list.
const MAX_CHOSEN: usize = 10_000;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const DATA_DESCRIPTOR: u32 = 0x0807_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const ZIP64_END: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const END: u32 = 0x0605_4b50;
/// Version 4.5: ZIP64.
const VERSION_ZIP64: u16 = 45;
/// Version 2.0: folders and data descriptors.
const VERSION_PLAIN: u16 = 20;
/// Made by: Unix (3), version 4.5.
const MADE_BY: u16 = (3 << 8) | VERSION_ZIP64;
const FLAG_DESCRIPTOR: u16 = 1 << 3;
const FLAG_UTF8: u16 = 1 << 11;
const ZIP64_EXTRA: u16 = 0x0001;
const MAX32: u64 = 0xFFFF_FFFF;
const MAX16: u64 = 0xFFFF;

/// True when `query` asks for a zip (`zip` or `zip=...` among its pairs).
pub(crate) fn wanted(query: Option<&str>) -> bool {
    query.is_some_and(|query| {
        query
            .split('&')
            .any(|pair| pair == "zip" || pair.starts_with("zip="))
    })
}

/// The response to `GET`/`HEAD` of `target` (a folder) with `?zip`.
pub(crate) async fn folder(
    files: &Arc<FileService>,
    target: &Target,
    query: &str,
    head: bool,
) -> Response {
    let view = &target.view;
    if !files.rights_in(view).allows(Right::List) {
        let error = FileError::Denied {
            right: Right::List,
            folder: view.to_string(),
        };
        return Fault::File(&error).response();
    }
    let mut archive = Archive {
        files: Arc::clone(files),
        chosen: VecDeque::new(),
        base: view.clone(),
        listing: None,
        folders: VecDeque::new(),
        current: None,
        records: Vec::new(),
        written: 0,
        phase: Phase::Entries,
        directory_start: 0,
    };
    match chosen(query) {
        Err(text) => return plain(StatusCode::BAD_REQUEST, text.into()),
        Ok(None) => archive.folders.push_back((view.clone(), Vec::new())),
        Ok(Some(names)) => {
            for name in names {
                let Ok(path) = view.join(&name) else {
                    return plain(StatusCode::BAD_REQUEST, "name not allowed".into());
                };
                match files.stat(&path).await {
                    Ok(mut entry) => {
                        entry.name = name;
                        archive.chosen.push_back(entry);
                    }
                    Err(error) => return Fault::File(&error).response(),
                }
            }
        }
    }
    let folder_name = view
        .file_name()
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .unwrap_or_else(|| "files".into());
    let mut response = Response::new(Body::empty());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(&disposition(&folder_name)) {
        headers.insert(CONTENT_DISPOSITION, value);
    }
    *response.status_mut() = StatusCode::OK;
    if !head {
        let body = PullBody::new(archive, |state| Box::pin(step(state)), None);
        *response.body_mut() = Body::new(body);
    }
    response
}

/// `attachment` with `NAME.zip`: a plain-ASCII `filename` and the exact UTF-8 `filename*`
/// (RFC 6266).
fn disposition(folder: &str) -> String {
    let name = format!("{folder}.zip");
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// The names of `files=` in `query`: `None` without it; refused when one holds `/` or is `.`
/// or `..` (or holds `..`).
fn chosen(query: &str) -> Result<Option<Vec<Vec<u8>>>, &'static str> {
    let Some(list) = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("files="))
    else {
        return Ok(None);
    };
    let mut names = Vec::new();
    for raw in list.split(',') {
        if raw.is_empty() {
            continue;
        }
        let name = unescape(raw.as_bytes()).ok_or("malformed percent-encoding in files=")?;
        if name.is_empty()
            || name.contains(&b'/')
            || name.contains(&b'\\')
            || name.contains(&0)
            || name.windows(2).any(|w| w == b"..")
            || name == b"."
        {
            return Err("names in files= may not hold / or ..");
        }
        names.push(name);
        if names.len() > MAX_CHOSEN {
            return Err("too many names in files=");
        }
    }
    if names.is_empty() {
        return Err("files= names nothing");
    }
    Ok(Some(names))
}

/// Percent-decoding (and `+` as a space, as forms send it).
fn unescape(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter();
    while let Some(&byte) = bytes.next() {
        match byte {
            b'%' => {
                let high = (*bytes.next()? as char).to_digit(16)?;
                let low = (*bytes.next()? as char).to_digit(16)?;
                out.push((high * 16 + low) as u8);
            }
            b'+' => out.push(b' '),
            other => out.push(other),
        }
    }
    Some(out)
}

/// An archive being sent.
struct Archive {
    files: Arc<FileService>,
    /// Entries of `base` chosen by `files=` and not written yet.
    chosen: VecDeque<Entry>,
    base: VirtualPath,
    /// The folder being read: its listing, its path, and its names' prefix in the archive.
    listing: Option<(ListStream, VirtualPath, Vec<u8>)>,
    /// Folders found and not read yet, with their prefixes.
    folders: VecDeque<(VirtualPath, Vec<u8>)>,
    /// The file whose bytes are being sent.
    current: Option<Member>,
    /// One per entry written, for the central directory.
    records: Vec<Record>,
    /// Bytes sent so far (the offset of the next).
    written: u64,
    phase: Phase,
    directory_start: u64,
}

enum Phase {
    Entries,
    /// Central directory records from this index on.
    Directory(usize),
    Done,
}

/// A file being sent.
struct Member {
    download: Download,
    meter: Meter,
    left: u64,
    crc: Crc32,
    /// Its record in [`Archive::records`].
    record: usize,
}

/// What the central directory says of an entry.
struct Record {
    name: Vec<u8>,
    crc: u32,
    size: u64,
    offset: u64,
    folder: bool,
    time: u16,
    date: u16,
}

impl Record {
    /// Whether the entry's sizes need ZIP64 (decided before its bytes, from the size).
    fn big(&self) -> bool {
        self.size >= MAX32
    }

    fn flags(&self) -> u16 {
        let mut flags = 0;
        if !self.folder {
            flags |= FLAG_DESCRIPTOR;
        }
        if std::str::from_utf8(&self.name).is_ok() {
            flags |= FLAG_UTF8;
        }
        flags
    }
}

fn put16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// A 32-bit field: the value, or all ones when it does not fit (the real one is in ZIP64).
fn field32(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// The local file header (APPNOTE 4.3.7): CRC and sizes zero (they follow the bytes, bit 3),
/// with a ZIP64 extra field of zeros for files of 4 GiB and more.
fn local_header(record: &Record, out: &mut Vec<u8>) {
    let big = record.big();
    put32(out, LOCAL_HEADER);
    put16(out, if big { VERSION_ZIP64 } else { VERSION_PLAIN });
    put16(out, record.flags());
    put16(out, 0); // STORED
    put16(out, record.time);
    put16(out, record.date);
    put32(out, 0);
    let size = if big { u32::MAX } else { 0 };
    put32(out, size);
    put32(out, size);
    put16(out, record.name.len() as u16);
    put16(out, if big { 20 } else { 0 });
    out.extend_from_slice(&record.name);
    if big {
        put16(out, ZIP64_EXTRA);
        put16(out, 16);
        put64(out, 0);
        put64(out, 0);
    }
}

/// The data descriptor (APPNOTE 4.3.9), with 8-byte sizes when the local header had ZIP64.
fn descriptor(record: &Record, out: &mut Vec<u8>) {
    put32(out, DATA_DESCRIPTOR);
    put32(out, record.crc);
    if record.big() {
        put64(out, record.size);
        put64(out, record.size);
    } else {
        put32(out, record.size as u32);
        put32(out, record.size as u32);
    }
}

/// A central directory header (APPNOTE 4.3.12) with a ZIP64 extra field holding the values
/// that do not fit.
fn central_header(record: &Record, out: &mut Vec<u8>) {
    let mut extra = Vec::new();
    if record.size >= MAX32 {
        put64(&mut extra, record.size);
        put64(&mut extra, record.size);
    }
    if record.offset >= MAX32 {
        put64(&mut extra, record.offset);
    }
    put32(out, CENTRAL_HEADER);
    put16(out, MADE_BY);
    put16(
        out,
        if extra.is_empty() {
            VERSION_PLAIN
        } else {
            VERSION_ZIP64
        },
    );
    put16(out, record.flags());
    put16(out, 0);
    put16(out, record.time);
    put16(out, record.date);
    put32(out, record.crc);
    put32(out, field32(record.size));
    put32(out, field32(record.size));
    put16(out, record.name.len() as u16);
    put16(
        out,
        if extra.is_empty() {
            0
        } else {
            4 + extra.len() as u16
        },
    );
    put16(out, 0); // comment
    put16(out, 0); // disk
    put16(out, 0); // internal attributes
    let attributes: u32 = if record.folder {
        (0o040_755 << 16) | 0x10
    } else {
        0o100_644 << 16
    };
    put32(out, attributes);
    put32(out, field32(record.offset));
    out.extend_from_slice(&record.name);
    if !extra.is_empty() {
        put16(out, ZIP64_EXTRA);
        put16(out, extra.len() as u16);
        out.extend_from_slice(&extra);
    }
}

/// The end records (APPNOTE 4.3.14 to 4.3.16): ZIP64's when a count, size or offset does not
/// fit the classic record.
fn end(entries: u64, start: u64, size: u64, out: &mut Vec<u8>) {
    if entries >= MAX16 || start >= MAX32 || size >= MAX32 {
        let zip64_end = start + size;
        put32(out, ZIP64_END);
        put64(out, 44);
        put16(out, MADE_BY);
        put16(out, VERSION_ZIP64);
        put32(out, 0);
        put32(out, 0);
        put64(out, entries);
        put64(out, entries);
        put64(out, size);
        put64(out, start);
        put32(out, ZIP64_LOCATOR);
        put32(out, 0);
        put64(out, zip64_end);
        put32(out, 1);
    }
    put32(out, END);
    put16(out, 0);
    put16(out, 0);
    let count = entries.min(MAX16) as u16;
    put16(out, count);
    put16(out, count);
    put32(out, field32(size));
    put32(out, field32(start));
    put16(out, 0);
}

/// MS-DOS time and date (UTC) of `secs` since the epoch; 1980-01-01 for anything earlier or
/// unknown.
fn dos_time(secs: Option<i64>) -> (u16, u16) {
    let Some(secs) = secs.filter(|&secs| secs >= 315_532_800) else {
        return (0, (1 << 5) | 1);
    };
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let year = (year - 1980).clamp(0, 127);
    let time = ((of_day / 3600) << 11) | (((of_day % 3600) / 60) << 5) | ((of_day % 60) / 2);
    let date = (year << 9) | (month << 5) | day;
    (time as u16, date as u16)
}

/// One step: the next piece of the archive.
async fn step(mut archive: Archive) -> (Archive, Option<io::Result<Bytes>>) {
    let piece = archive.next_piece().await;
    match piece {
        Ok(Some(bytes)) => {
            archive.written += bytes.len() as u64;
            (archive, Some(Ok(Bytes::from(bytes))))
        }
        Ok(None) => (archive, None),
        Err(error) => {
            tracing::warn!(user = archive.files.name(), folder = %archive.base, %error, protocol = "http", "zip cut");
            archive.phase = Phase::Done;
            (archive, Some(Err(error)))
        }
    }
}

impl Archive {
    async fn next_piece(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            match self.phase {
                Phase::Done => return Ok(None),
                Phase::Directory(from) => {
                    let mut out = Vec::new();
                    let to = (from + DIRECTORY_BATCH).min(self.records.len());
                    for record in &self.records[from..to] {
                        central_header(record, &mut out);
                    }
                    if to == self.records.len() {
                        let size = self.written + out.len() as u64 - self.directory_start;
                        end(
                            self.records.len() as u64,
                            self.directory_start,
                            size,
                            &mut out,
                        );
                        self.phase = Phase::Done;
                        tracing::info!(user = self.files.name(), folder = %self.base, entries = self.records.len(), bytes = self.written + out.len() as u64, protocol = "http", "zip sent");
                    } else {
                        self.phase = Phase::Directory(to);
                    }
                    return Ok(Some(out));
                }
                Phase::Entries => {}
            }
            if self.current.is_some() {
                return self.file_piece().await.map(Some);
            }
            let Some((parent, prefix, entry)) = self.next_entry().await? else {
                self.directory_start = self.written;
                self.phase = Phase::Directory(0);
                continue;
            };
            let Ok(path) = parent.join(&entry.name) else {
                continue;
            };
            let mut name = prefix;
            name.extend_from_slice(&entry.name);
            let (time, date) = dos_time(entry.modified);
            match entry.kind {
                EntryKind::Link => continue,
                // Folders the user may not list are left out, name and all.
                EntryKind::Dir if !self.files.rights_in(&path).allows(Right::List) => continue,
                EntryKind::Dir => {
                    let mut folder_name = name.clone();
                    folder_name.push(b'/');
                    self.folders.push_back((path, folder_name.clone()));
                    let record = Record {
                        name: folder_name,
                        crc: 0,
                        size: 0,
                        offset: self.written,
                        folder: true,
                        time,
                        date,
                    };
                    let mut out = Vec::new();
                    local_header(&record, &mut out);
                    self.records.push(record);
                    return Ok(Some(out));
                }
                EntryKind::File => {
                    let (download, meter) = match self.files.read(&path, 0).await {
                        Ok(opened) => opened,
                        Err(FileError::Denied { .. }) => continue,
                        Err(FileError::Storage(error)) if error.kind() == ErrorKind::NotFound => {
                            continue;
                        }
                        Err(error) => return Err(io::Error::other(error.to_string())),
                    };
                    let size = download.size;
                    let record = Record {
                        name,
                        crc: 0,
                        size,
                        offset: self.written,
                        folder: false,
                        time,
                        date,
                    };
                    let mut out = Vec::new();
                    local_header(&record, &mut out);
                    self.records.push(record);
                    let member = Member {
                        download,
                        meter,
                        left: size,
                        crc: Crc32::new(),
                        record: self.records.len() - 1,
                    };
                    if size == 0 {
                        self.end_member(member, &mut out);
                    } else {
                        self.current = Some(member);
                    }
                    return Ok(Some(out));
                }
            }
        }
    }

    /// The next piece of the current file's bytes (and its descriptor after the last).
    async fn file_piece(&mut self) -> io::Result<Vec<u8>> {
        let Some(mut member) = self.current.take() else {
            return Ok(Vec::new());
        };
        let max = (member.left.min(CHUNK as u64) as usize).min(member.meter.step().max(1));
        let mut out = Vec::with_capacity(max);
        let read = member.download.read_append(&mut out, max).await?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "a file became shorter while it was zipped",
            ));
        }
        member.crc.update(&out);
        member.left -= read as u64;
        member.meter.pace(read).await;
        if member.left == 0 {
            self.end_member(member, &mut out);
        } else {
            self.current = Some(member);
        }
        Ok(out)
    }

    fn end_member(&mut self, member: Member, out: &mut Vec<u8>) {
        if let Some(record) = self.records.get_mut(member.record) {
            record.crc = member.crc.finish();
            descriptor(record, out);
        }
    }

    /// The next entry to write: its folder, its prefix in the archive, and the entry.
    async fn next_entry(&mut self) -> io::Result<Option<(VirtualPath, Vec<u8>, Entry)>> {
        loop {
            if let Some(entry) = self.chosen.pop_front() {
                return Ok(Some((self.base.clone(), Vec::new(), entry)));
            }
            if let Some((listing, path, prefix)) = &mut self.listing {
                match listing.next().await {
                    Some(Ok(entry)) => return Ok(Some((path.clone(), prefix.clone(), entry))),
                    Some(Err(error)) => return Err(io::Error::other(error.to_string())),
                    None => self.listing = None,
                }
                continue;
            }
            let Some((path, prefix)) = self.folders.pop_front() else {
                return Ok(None);
            };
            match self.files.list(&path).await {
                Ok(listing) => self.listing = Some((listing, path, prefix)),
                // Folders the user may not list are left out.
                Err(FileError::Denied { .. }) => {}
                Err(error) => return Err(io::Error::other(error.to_string())),
            }
        }
    }
}

/// CRC-32 (ISO-HDLC, as zip uses it), eight bytes at a time.
struct Crc32 {
    state: u32,
}

/// The slicing-by-8 tables, made at compile time.
static TABLES: [[u32; 256]; 8] = tables();

const fn tables() -> [[u32; 256]; 8] {
    let mut tables = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
            bit += 1;
        }
        tables[0][i] = crc;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut k = 1;
        while k < 8 {
            let previous = tables[k - 1][i];
            tables[k][i] = (previous >> 8) ^ tables[0][(previous & 0xFF) as usize];
            k += 1;
        }
        i += 1;
    }
    tables
}

impl Crc32 {
    fn new() -> Crc32 {
        Crc32 { state: !0 }
    }

    fn update(&mut self, bytes: &[u8]) {
        let mut crc = self.state;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let low = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) ^ crc;
            let high = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
            crc = TABLES[7][(low & 0xFF) as usize]
                ^ TABLES[6][((low >> 8) & 0xFF) as usize]
                ^ TABLES[5][((low >> 16) & 0xFF) as usize]
                ^ TABLES[4][(low >> 24) as usize]
                ^ TABLES[3][(high & 0xFF) as usize]
                ^ TABLES[2][((high >> 8) & 0xFF) as usize]
                ^ TABLES[1][((high >> 16) & 0xFF) as usize]
                ^ TABLES[0][(high >> 24) as usize];
        }
        for &byte in chunks.remainder() {
            crc = (crc >> 8) ^ TABLES[0][((crc ^ u32::from(byte)) & 0xFF) as usize];
        }
        self.state = crc;
    }

    fn finish(&self) -> u32 {
        !self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_values() {
        let mut crc = Crc32::new();
        crc.update(b"123456789");
        assert_eq!(crc.finish(), 0xCBF4_3926);
        // Pieces of any length give the same as one piece.
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        let mut whole = Crc32::new();
        whole.update(&data);
        let mut pieces = Crc32::new();
        for piece in data.chunks(13) {
            pieces.update(piece);
        }
        assert_eq!(whole.finish(), pieces.finish());
    }

    #[test]
    fn dos_times() {
        // 2024-02-29 13:45:30 UTC
        let (time, date) = dos_time(Some(1_709_214_330));
        assert_eq!(date, ((2024 - 1980) << 9) | (2 << 5) | 29);
        assert_eq!(time, (13 << 11) | (45 << 5) | 15);
        assert_eq!(dos_time(None), (0, (1 << 5) | 1));
    }

    #[test]
    fn chosen_names() {
        assert_eq!(chosen("zip"), Ok(None));
        assert_eq!(
            chosen("zip&files=a,b%20c,d%2Ce"),
            Ok(Some(vec![b"a".to_vec(), b"b c".to_vec(), b"d,e".to_vec()]))
        );
        assert!(chosen("zip&files=a/b").is_err());
        assert!(chosen("zip&files=..").is_err());
        assert!(chosen("zip&files=a%2Fb").is_err());
        assert!(chosen("zip&files=%2e%2e").is_err());
        assert!(chosen("zip&files=").is_err());
    }

    #[test]
    fn end_record_switches_to_zip64() {
        let mut small = Vec::new();
        end(3, 100, 50, &mut small);
        assert_eq!(small.len(), 22);
        let mut big = Vec::new();
        end(70_000, 100, 50, &mut big);
        assert_eq!(big.len(), 56 + 20 + 22);
    }
}
