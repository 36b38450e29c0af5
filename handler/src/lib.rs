//! imgh's image handler: Alibaba OSS `x-oss-process` over a store (S3 or a folder).
//!
//! The request path flows one way: [`request`] (URL → key + process text) →
//! [`process::parse`] (text → [`process::Plan`]) → [`engine::process`] (decode, steps,
//! encode) → [`serve`] (HTTP response). [`store`] fetches sources; [`guard`] holds limits;
//! [`picture`] is the decoded image that codecs make and steps change.

pub mod alloc;
pub mod codec;
pub mod config;
pub mod engine;
pub mod error;
pub mod guard;
pub mod picture;
pub mod process;
pub mod request;
pub mod serve;
pub mod store;
pub mod style;
pub mod video;

pub use error::ProcessError;
