//! C ABI over the `object_store` crate for lancer's storage layer (see lancer_object_store.h for the
//! contract). Every call blocks the calling thread on one shared tokio runtime; calls from many
//! threads run concurrently. Errors come back as a code and a message with the caller's secret
//! option values replaced by "***". A panic aborts (panic = "abort"): nothing unwinds into C++.

use std::collections::HashSet;
use std::ffi::{c_char, c_void, CStr, CString};
use std::ops::Range;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::buffered::BufWriter;
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{BackoffConfig, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig};
use tokio::io::AsyncWriteExt;

pub const LOS_OK: i32 = 0;
pub const LOS_NOT_FOUND: i32 = 1;
pub const LOS_ALREADY_EXISTS: i32 = 2;
pub const LOS_INVALID: i32 = 3;
pub const LOS_IO: i32 = 4;
pub const LOS_NOT_SUPPORTED: i32 = 5;
pub const LOS_PERMISSION: i32 = 6;

// Lance 14's read policy (lance-io object_store.rs / scheduler.rs): ranges closer than 64 KiB are
// fetched as one request, requests are cut at 16 MiB, 64 requests in flight.
const COALESCE_GAP: u64 = 64 * 1024;
const MAX_REQUEST: u64 = 16 * 1024 * 1024;
const IN_FLIGHT: usize = 64;
// Lance's writer: single PUT below 5 MiB, else multipart with 5 MiB parts, 10 in flight.
const PART_SIZE: usize = 5 * 1024 * 1024;
const UPLOADS_IN_FLIGHT: usize = 10;

pub struct Store {
    inner: Arc<dyn ObjectStore>,
    secrets: Vec<String>,
}

pub struct Writer {
    store: *const Store,
    inner: Option<BufWriter>,
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .thread_name("lancer-object-store")
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

fn scrub(message: String, secrets: &[String]) -> String {
    let mut m = message;
    for s in secrets {
        if s.len() >= 4 {
            m = m.replace(s.as_str(), "***");
        }
    }
    m
}

unsafe fn set_err(err: *mut *mut c_char, message: String) {
    if !err.is_null() {
        let clean = message.replace('\0', " ");
        *err = CString::new(clean).map(|c| c.into_raw()).unwrap_or(std::ptr::null_mut());
    }
}

fn code_of(e: &object_store::Error) -> i32 {
    use object_store::Error as E;
    match e {
        E::NotFound { .. } => LOS_NOT_FOUND,
        E::AlreadyExists { .. } | E::Precondition { .. } => LOS_ALREADY_EXISTS,
        E::NotSupported { .. } | E::NotImplemented { .. } => LOS_NOT_SUPPORTED,
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => LOS_PERMISSION,
        E::InvalidPath { .. } | E::UnknownConfigurationKey { .. } => LOS_INVALID,
        _ => LOS_IO,
    }
}

unsafe fn fail(store: &Store, err: *mut *mut c_char, what: &str, e: object_store::Error) -> i32 {
    let code = code_of(&e);
    set_err(err, scrub(format!("{what}: {e}"), &store.secrets));
    code
}

unsafe fn cstr<'a>(p: *const c_char) -> &'a str {
    if p.is_null() {
        ""
    } else {
        CStr::from_ptr(p).to_str().unwrap_or("")
    }
}

fn truthy(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
}

fn secret_key(k: &str) -> bool {
    ["secret", "token", "key", "sas", "password", "credential", "signature"].iter().any(|w| k.contains(w))
}

fn env_secrets() -> Vec<String> {
    std::env::vars()
        .filter(|(k, _)| {
            let k = k.to_ascii_lowercase();
            (k.starts_with("aws_") || k.starts_with("google_") || k.starts_with("azure_")) && secret_key(&k)
        })
        .map(|(_, v)| v)
        .collect()
}

// Lance's retry knobs (lance-io object_store.rs): client_max_retries (default 3) and
// client_retry_timeout in seconds (default 180), from the options or OBJECT_STORE_CLIENT_*.
fn retry_config(options: &[(String, String)]) -> Result<RetryConfig, String> {
    let pick = |key: &str, env: &str, default: u64| -> Result<u64, String> {
        let v = options.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).or_else(|| std::env::var(env).ok());
        match v {
            None => Ok(default),
            Some(v) => v.trim().parse::<u64>().map_err(|_| format!("storage option {key}: not a number: {v:?}")),
        }
    };
    let retries = pick("client_max_retries", "OBJECT_STORE_CLIENT_MAX_RETRIES", 3)?;
    let timeout = pick("client_retry_timeout", "OBJECT_STORE_CLIENT_RETRY_TIMEOUT", 180)?;
    Ok(RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: retries as usize,
        retry_timeout: Duration::from_secs(timeout),
    })
}

fn build(url: &str, options: &[(String, String)]) -> Result<Arc<dyn ObjectStore>, (i32, String)> {
    let parsed = url::Url::parse(url).map_err(|e| (LOS_INVALID, format!("{url}: not a URI: {e}")))?;
    let retry = retry_config(options).map_err(|m| (LOS_INVALID, m))?;
    // Lance reads any key containing "allow_http"; object_store knows it as the client key.
    let mut keys: Vec<(String, String)> = Vec::new();
    for (k, v) in options {
        if k.contains("allow_http") {
            keys.push(("allow_http".into(), truthy(v).to_string()));
        } else if k != "client_max_retries" && k != "client_retry_timeout" {
            keys.push((k.clone(), v.clone()));
        }
    }
    let invalid = |e: object_store::Error| (LOS_INVALID, format!("{e}"));
    // The builder of a scheme, from the environment, then the options its key parser knows
    // (others are ignored, as Lance ignores them).
    macro_rules! store {
        ($builder:ty, $key:ty) => {{
            let mut b = <$builder>::from_env().with_url(url).with_retry(retry);
            for (k, v) in &keys {
                if let Ok(key) = <$key>::from_str(k) {
                    b = b.with_config(key, v);
                }
            }
            Ok(Arc::new(b.build().map_err(invalid)?) as Arc<dyn ObjectStore>)
        }};
    }
    match parsed.scheme() {
        "s3" | "s3a" => store!(AmazonS3Builder, AmazonS3ConfigKey),
        "gs" | "gcs" => store!(GoogleCloudStorageBuilder, GoogleConfigKey),
        "az" | "azure" | "adl" | "abfs" | "abfss" => store!(MicrosoftAzureBuilder, AzureConfigKey),
        "memory" => Ok(Arc::new(InMemory::new())),
        other => Err((LOS_NOT_SUPPORTED, format!("{url}: the object store backend does not know the scheme {other}://"))),
    }
}

/// Opens the store of `url` (scheme://bucket); keys/values are the storage options (lower-cased
/// here, as Lance does). Environment variables fill in what the options leave unset.
#[no_mangle]
pub unsafe extern "C" fn lancer_os_open(
    url: *const c_char,
    keys: *const *const c_char,
    values: *const *const c_char,
    n: usize,
    out: *mut *mut Store,
    err: *mut *mut c_char,
) -> i32 {
    let url = cstr(url);
    let mut options = Vec::with_capacity(n);
    let mut secrets = env_secrets();
    for i in 0..n {
        let k = cstr(*keys.add(i)).to_ascii_lowercase();
        let v = cstr(*values.add(i)).to_string();
        if secret_key(&k) {
            secrets.push(v.clone());
        }
        options.push((k, v));
    }
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    match build(url, &options) {
        Ok(inner) => {
            *out = Box::into_raw(Box::new(Store { inner, secrets }));
            LOS_OK
        }
        Err((code, m)) => {
            set_err(err, scrub(m, &secrets));
            code
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn lancer_os_close(store: *mut Store) {
    if !store.is_null() {
        drop(Box::from_raw(store));
    }
}

#[no_mangle]
pub unsafe extern "C" fn lancer_os_free_string(s: *mut c_char) {
    if !s.is_null() {
        drop(CString::from_raw(s));
    }
}

#[no_mangle]
pub unsafe extern "C" fn lancer_os_free_bytes(data: *mut u8, len: usize) {
    if !data.is_null() {
        drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(data, len)));
    }
}

// The object path of `key`, or return the error code from the calling FFI function.
macro_rules! path_or_return {
    ($store:expr, $key:expr, $err:expr) => {
        match key_path($store, $key, $err) {
            Ok(p) => p,
            Err(code) => return code,
        }
    };
}

unsafe fn key_path(store: &Store, key: *const c_char, err: *mut *mut c_char) -> Result<Path, i32> {
    let k = cstr(key);
    Path::parse(k).map_err(|e| {
        set_err(err, scrub(format!("{k}: not a valid object key: {e}"), &store.secrets));
        LOS_INVALID
    })
}

#[no_mangle]
pub unsafe extern "C" fn lancer_os_head(store: *const Store, key: *const c_char, size: *mut u64, err: *mut *mut c_char) -> i32 {
    let store = &*store;
    let path = path_or_return!(store, key, err);
    match runtime().block_on(store.inner.head(&path)) {
        Ok(meta) => {
            *size = meta.size;
            LOS_OK
        }
        Err(e) => fail(store, err, "HEAD", e),
    }
}

/// The whole object, in a buffer the caller frees with lancer_os_free_bytes.
#[no_mangle]
pub unsafe extern "C" fn lancer_os_get(
    store: *const Store,
    key: *const c_char,
    data: *mut *mut u8,
    len: *mut usize,
    err: *mut *mut c_char,
) -> i32 {
    let store = &*store;
    let path = path_or_return!(store, key, err);
    let got = runtime().block_on(async { store.inner.get(&path).await?.bytes().await });
    match got {
        Ok(b) => {
            let boxed: Box<[u8]> = b.to_vec().into_boxed_slice();
            *len = boxed.len();
            *data = Box::into_raw(boxed) as *mut u8;
            LOS_OK
        }
        Err(e) => fail(store, err, "GET", e),
    }
}

// Requests sorted by start, merged across gaps up to COALESCE_GAP, then cut into pieces of at
// most MAX_REQUEST bytes. Returns the pieces.
fn plan_requests(ranges: &[Range<u64>]) -> Vec<Range<u64>> {
    let mut sorted: Vec<Range<u64>> = ranges.iter().filter(|r| r.end > r.start).cloned().collect();
    sorted.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<u64>> = Vec::new();
    for r in sorted {
        match merged.last_mut() {
            Some(m) if r.start <= m.end + COALESCE_GAP => m.end = m.end.max(r.end),
            _ => merged.push(r),
        }
    }
    let mut pieces = Vec::new();
    for m in merged {
        let mut s = m.start;
        while s < m.end {
            let e = (s + MAX_REQUEST).min(m.end);
            pieces.push(s..e);
            s = e;
        }
    }
    pieces
}

/// Reads `n` byte ranges of one object into the caller's buffers (outs[i] holds lens[i] bytes),
/// coalesced and in flight together as Lance reads.
#[no_mangle]
pub unsafe extern "C" fn lancer_os_get_ranges(
    store: *const Store,
    key: *const c_char,
    n: usize,
    starts: *const u64,
    lens: *const u64,
    outs: *const *mut u8,
    err: *mut *mut c_char,
) -> i32 {
    let store = &*store;
    let path = path_or_return!(store, key, err);
    let ranges: Vec<Range<u64>> = (0..n).map(|i| *starts.add(i)..*starts.add(i) + *lens.add(i)).collect();
    let pieces = plan_requests(&ranges);
    let inner = store.inner.clone();
    let fetched: Result<Vec<(Range<u64>, Bytes)>, object_store::Error> = runtime().block_on(async {
        futures::stream::iter(pieces.into_iter().map(|p| {
            let inner = inner.clone();
            let path = path.clone();
            async move { inner.get_range(&path, p.clone()).await.map(|b| (p, b)) }
        }))
        .buffer_unordered(IN_FLIGHT)
        .try_collect()
        .await
    });
    let mut fetched = match fetched {
        Ok(f) => f,
        Err(e) => return fail(store, err, "GET range", e),
    };
    fetched.sort_by_key(|(r, _)| r.start);
    // Both lists sorted by start: each request copies from the pieces that overlap it.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| ranges[i].start);
    let mut first = 0usize;
    for i in order {
        let r = &ranges[i];
        if r.end == r.start {
            continue;
        }
        while first < fetched.len() && fetched[first].0.end <= r.start {
            first += 1;
        }
        let mut j = first;
        while j < fetched.len() && fetched[j].0.start < r.end {
            let (p, b) = &fetched[j];
            let s = r.start.max(p.start);
            let e = r.end.min(p.end);
            if (b.len() as u64) < e - p.start {
                set_err(err, format!("GET range: {} returned {} bytes, wanted {}", path, b.len(), p.end - p.start));
                return LOS_IO;
            }
            let dst = (*outs.add(i)).add((s - r.start) as usize);
            std::ptr::copy_nonoverlapping(b.as_ptr().add((s - p.start) as usize), dst, (e - s) as usize);
            j += 1;
        }
    }
    LOS_OK
}

/// One PUT of `len` bytes; `if_absent` != 0 sends it conditionally (If-None-Match: *) and answers
/// LOS_ALREADY_EXISTS when the key exists. Never multipart: a manifest must be one request.
#[no_mangle]
pub unsafe extern "C" fn lancer_os_put(
    store: *const Store,
    key: *const c_char,
    data: *const u8,
    len: usize,
    if_absent: i32,
    err: *mut *mut c_char,
) -> i32 {
    let store = &*store;
    let path = path_or_return!(store, key, err);
    let bytes = if len == 0 { Bytes::new() } else { Bytes::copy_from_slice(std::slice::from_raw_parts(data, len)) };
    let mode = if if_absent != 0 { PutMode::Create } else { PutMode::Overwrite };
    let opts = PutOptions { mode, ..Default::default() };
    match runtime().block_on(store.inner.put_opts(&path, PutPayload::from_bytes(bytes), opts)) {
        Ok(_) => LOS_OK,
        Err(e) => fail(store, err, "PUT", e),
    }
}

/// A streaming upload: one PUT if it stays under 5 MiB, else a multipart upload (5 MiB parts,
/// 10 in flight), completed by lancer_os_writer_finish. Nothing is visible before that.
#[no_mangle]
pub unsafe extern "C" fn lancer_os_writer_open(
    store: *const Store,
    key: *const c_char,
    out: *mut *mut Writer,
    err: *mut *mut c_char,
) -> i32 {
    let s = &*store;
    let path = path_or_return!(s, key, err);
    let w = BufWriter::with_capacity(s.inner.clone(), path, PART_SIZE).with_max_concurrency(UPLOADS_IN_FLIGHT);
    *out = Box::into_raw(Box::new(Writer { store, inner: Some(w) }));
    LOS_OK
}

#[no_mangle]
pub unsafe extern "C" fn lancer_os_writer_write(w: *mut Writer, data: *const u8, len: usize, err: *mut *mut c_char) -> i32 {
    let w = &mut *w;
    let store = &*w.store;
    let Some(inner) = w.inner.as_mut() else {
        set_err(err, "write after finish".into());
        return LOS_INVALID;
    };
    if len == 0 {
        return LOS_OK;
    }
    let slice = std::slice::from_raw_parts(data, len);
    match runtime().block_on(inner.write_all(slice)) {
        Ok(()) => LOS_OK,
        Err(e) => {
            set_err(err, scrub(format!("upload: {e}"), &store.secrets));
            LOS_IO
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn lancer_os_writer_finish(w: *mut Writer, err: *mut *mut c_char) -> i32 {
    let w = &mut *w;
    let store = &*w.store;
    let Some(mut inner) = w.inner.take() else {
        set_err(err, "finish twice".into());
        return LOS_INVALID;
    };
    match runtime().block_on(inner.shutdown()) {
        Ok(()) => LOS_OK,
        Err(e) => {
            set_err(err, scrub(format!("completing the upload: {e}"), &store.secrets));
            LOS_IO
        }
    }
}

/// Frees the writer; an unfinished multipart upload is aborted (best effort).
#[no_mangle]
pub unsafe extern "C" fn lancer_os_writer_free(w: *mut Writer) {
    if w.is_null() {
        return;
    }
    let mut w = Box::from_raw(w);
    if let Some(mut inner) = w.inner.take() {
        let _ = runtime().block_on(inner.abort());
    }
}

pub type ListCallback = unsafe extern "C" fn(ctx: *mut c_void, key: *const c_char, size: u64, is_prefix: i32);

/// Lists the objects under `prefix` (a folder: "a/b"). `recursive` == 0 lists one level: objects
/// and, with is_prefix = 1, the sub-folders. Keys are full keys.
#[no_mangle]
pub unsafe extern "C" fn lancer_os_list(
    store: *const Store,
    prefix: *const c_char,
    recursive: i32,
    cb: ListCallback,
    ctx: *mut c_void,
    err: *mut *mut c_char,
) -> i32 {
    let store = &*store;
    let p = cstr(prefix);
    let path = if p.is_empty() {
        None
    } else {
        match Path::parse(p) {
            Ok(x) => Some(x),
            Err(e) => {
                set_err(err, format!("{p}: not a valid object prefix: {e}"));
                return LOS_INVALID;
            }
        }
    };
    let emit = |key: &str, size: u64, is_prefix: i32| {
        if let Ok(c) = CString::new(key) {
            cb(ctx, c.as_ptr(), size, is_prefix);
        }
    };
    if recursive != 0 {
        let listed: Result<Vec<_>, _> = runtime().block_on(store.inner.list(path.as_ref()).try_collect());
        match listed {
            Ok(v) => {
                for m in v {
                    emit(m.location.as_ref(), m.size, 0);
                }
                LOS_OK
            }
            Err(e) => fail(store, err, "LIST", e),
        }
    } else {
        match runtime().block_on(store.inner.list_with_delimiter(path.as_ref())) {
            Ok(r) => {
                let mut seen = HashSet::new();
                for d in r.common_prefixes {
                    if seen.insert(d.to_string()) {
                        emit(d.as_ref(), 0, 1);
                    }
                }
                for m in r.objects {
                    emit(m.location.as_ref(), m.size, 0);
                }
                LOS_OK
            }
            Err(e) => fail(store, err, "LIST", e),
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn lancer_os_delete(store: *const Store, key: *const c_char, err: *mut *mut c_char) -> i32 {
    let store = &*store;
    let path = path_or_return!(store, key, err);
    match runtime().block_on(store.inner.delete(&path)) {
        Ok(()) => LOS_OK,
        Err(e) => fail(store, err, "DELETE", e),
    }
}

/// Deletes `n` keys with as few requests as the store allows (S3: DeleteObjects, 1,000 a time);
/// keys that are already gone are fine.
#[no_mangle]
pub unsafe extern "C" fn lancer_os_delete_many(
    store: *const Store,
    keys: *const *const c_char,
    n: usize,
    err: *mut *mut c_char,
) -> i32 {
    let store = &*store;
    let mut paths = Vec::with_capacity(n);
    for i in 0..n {
        paths.push(Ok(path_or_return!(store, *keys.add(i), err)));
    }
    let results: Vec<_> = runtime().block_on(
        store.inner.delete_stream(futures::stream::iter(paths).boxed()).collect::<Vec<_>>(),
    );
    for r in results {
        match r {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return fail(store, err, "DELETE", e),
        }
    }
    LOS_OK
}

#[cfg(test)]
mod tests {
    use super::plan_requests;

    #[test]
    fn coalesces_and_splits() {
        let p = plan_requests(&[0..10, 20..30, 200_000..200_010]);
        assert_eq!(p, vec![0..30, 200_000..200_010]);
        let big = plan_requests(&[0..(40 << 20)]);
        assert_eq!(big.len(), 3);
        assert_eq!(big[2].end, 40 << 20);
    }
}
