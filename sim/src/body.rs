//! A request body as the peer reads it: gunzipped when `Content-Encoding: gzip` says so
//! (RFC 9110 §8.4), as every HTTP peer the simulators imitate accepts.

use std::io::Read;

use axum::http::HeaderMap;

/// The body's bytes, decompressed if need be; `None` for a gzip body that does not
/// decompress (each peer answers that its own way).
pub fn decoded(headers: &HeaderMap, body: &[u8]) -> Option<Vec<u8>> {
    let gzip = headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    if !gzip {
        return Some(body.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .ok()
        .map(|_| out)
}
