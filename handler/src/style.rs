//! Stored styles: a name standing for a whole process string (`style/thumb`,
//! `key@!thumb`), from a TOML file of `name = "image/…"` lines or a DynamoDB table.

use crate::error::{ProcessError, Result};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub type StyleFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<String>>> + Send + 'a>>;

/// Where style names are looked up.
pub trait StyleSource: Send + Sync {
    fn get<'a>(&'a self, name: &'a str) -> StyleFuture<'a>;
}

/// A valid style name: `^[\w\-.]{1,63}$`.
pub fn is_valid_name(name: &str) -> bool {
    (1..=63).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Styles held in memory.
#[derive(Debug, Clone, Default)]
pub struct Styles(HashMap<String, String>);

impl Styles {
    /// Reads `name = "image/…"` pairs; every name and process is checked up front.
    pub fn from_toml(text: &str) -> Result<Self> {
        let table: HashMap<String, String> = toml::from_str(text)
            .map_err(|e| ProcessError::invalid(format!("styles file: expected name = \"image/...\" lines: {e}")))?;
        for (name, process) in &table {
            if !is_valid_name(name) {
                return Err(ProcessError::invalid(format!("styles file: \"{name}\" is not a valid style name")));
            }
            crate::process::check(process)
                .map_err(|e| ProcessError::invalid(format!("styles file: style \"{name}\": {}", e.message)))?;
        }
        Ok(Self(table))
    }
}

impl StyleSource for Styles {
    fn get<'a>(&'a self, name: &'a str) -> StyleFuture<'a> {
        Box::pin(std::future::ready(Ok(self.0.get(name).cloned())))
    }
}

/// The style table's partition key (the style name) and the attribute holding its process
/// string; `imgh style` and the template use these too.
pub const KEY_ATTRIBUTE: &str = "style";
pub const PROCESS_ATTRIBUTE: &str = "process";

/// Styles in a DynamoDB table (partition key `style`, attribute `process`), each lookup
/// cached for a short TTL so edits show up quickly without a read per request.
pub struct DynamoStyles {
    client: aws_sdk_dynamodb::Client,
    table: String,
    cache: moka::future::Cache<String, Option<String>>,
}

impl DynamoStyles {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>, ttl: Duration) -> Self {
        let cache = moka::future::Cache::builder().max_capacity(10_000).time_to_live(ttl).build();
        Self { client, table: table.into(), cache }
    }

    async fn fetch(&self, name: &str) -> Result<Option<String>> {
        use aws_sdk_dynamodb::types::AttributeValue;
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, AttributeValue::S(name.to_string()))
            .send()
            .await
            .map_err(|e| {
                tracing::error!(table = %self.table, error = %aws_sdk_dynamodb::error::DisplayErrorContext(&e), "style lookup failed");
                ProcessError::new(502, "StyleUnavailable", "the style table could not be read")
            })?;
        Ok(out.item().and_then(|i| i.get(PROCESS_ATTRIBUTE)).and_then(|v| v.as_s().ok()).cloned())
    }
}

impl StyleSource for DynamoStyles {
    fn get<'a>(&'a self, name: &'a str) -> StyleFuture<'a> {
        Box::pin(async move {
            self.cache
                .try_get_with(name.to_string(), self.fetch(name))
                .await
                .map_err(|e: std::sync::Arc<ProcessError>| (*e).clone())
        })
    }
}
