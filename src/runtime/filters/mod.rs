//! The third floor: nginx's output filters. The header filters, in nginx's order — not
//! modified (`not_modified`), headers (`add_header`, `expires`: `headers`), `charset`,
//! `gzip`, byte ranges (`range`) — and the head itself with the chunked decision (`head`);
//! then the one body writer every response leaves through (`body`: gzip, chunked framing,
//! the write).
//!
//! Filters read the request and the response head and evaluate templates; they never choose
//! a location or talk to an upstream.

pub mod body;
pub mod charset;
pub mod gzip;
pub mod head;
pub mod headers;
pub mod not_modified;
pub mod range;
