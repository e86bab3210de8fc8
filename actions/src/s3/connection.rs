//! Named S3 connections: the `[s3.connections.<name>]` tables of `rulewire.toml`.
//!
//! A rule's s3 action names a connection (`connection = "lake"`, default `"default"`); the
//! connection says where objects go and with which credentials, so rule files never hold
//! endpoints or secrets. Three backends, chosen by the URL scheme:
//!
//! - `s3://`: AWS S3 or any S3-compatible server. Region, endpoint and credentials come from
//!   the AWS connection the table names (`aws = "..."`, default `default`), the block every
//!   AWS action shares (`crate::aws`); requests are signed with its credential chain
//!   (`credentials.rs`). Path-style addressing by default. One client per bucket, built on
//!   first use and cached.
//! - `file:///abs/dir` or `file://rel/dir`: a local directory; the bucket is a subdirectory.
//! - `memory://`: in-process, for tests and dry runs; the bucket is a path prefix.
//!
//! Any string field may contain `${env:NAME}` (resolved once, when the service starts).
//! Without a configured `default` connection, `default` is the local directory
//! `file://data/s3`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
};

use object_store::{
    ClientOptions, ObjectStore, RetryConfig,
    aws::{AmazonS3Builder, AwsCredentialProvider},
    local::LocalFileSystem,
    memory::InMemory,
    path::Path,
};
use serde::{Deserialize, Serialize};

use super::credentials::SdkCredentials;
use crate::{
    AwsConnection, AwsSettings, ConnectionError, DEFAULT_CONNECTION,
    connections::{ConnectionConfig, ConnectionSection},
};

/// Where the implicit `default` connection writes when none is configured.
pub const DEFAULT_URL: &str = "file://data/s3";
/// Cached S3 clients (one per connection and bucket) beyond which the cache starts over.
const MAX_CACHED_BUCKETS: usize = 1024;

/// `[s3]` of the service config.
pub type S3Settings = ConnectionSection<S3ConnectionConfig>;

/// One `[s3.connections.<name>]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3ConnectionConfig {
    /// `s3://`, `file:///path` (or `file://relative/path`) or `memory://`.
    pub url: String,
    /// For `s3://`: the `[aws.connections.<name>]` giving region, endpoint and credentials;
    /// empty means `default` (without that table: the standard AWS SDK environment).
    pub aws: String,
    /// `https://<bucket>.<endpoint>` addressing instead of path-style `<endpoint>/<bucket>`.
    pub virtual_hosted_style: bool,
}

impl ConnectionConfig for S3ConnectionConfig {
    const SECTION: &'static str = "s3";
    type Connection = S3Connection;

    /// `default`: the local directory `file://data/s3`.
    fn implicit_default() -> Option<Self> {
        Some(S3ConnectionConfig {
            url: DEFAULT_URL.to_owned(),
            ..Default::default()
        })
    }

    fn open(self) -> Result<S3Connection, String> {
        Ok(S3Connection {
            backend: backend(&self)?,
            buckets: Mutex::default(),
            credentials: OnceLock::new(),
        })
    }
}

#[derive(Clone)]
enum Backend {
    /// S3 through the AWS connection named `aws`.
    S3 {
        aws: String,
        virtual_hosted_style: bool,
    },
    /// The filesystem from `/`, and the configured directory as a path from there.
    Local(Arc<LocalFileSystem>, Path),
    Memory(Arc<InMemory>),
}

/// Where one bucket's objects go: a store and the path prefix the bucket maps to.
#[derive(Clone, Debug)]
pub(crate) struct Bucket {
    pub store: Arc<dyn ObjectStore>,
    /// `Some(bucket)` for the local and memory backends, where the bucket is a directory.
    prefix: Option<Path>,
    /// Whether the store accepts object attributes (the local filesystem does not).
    pub attributes: bool,
}

impl Bucket {
    /// The object path for `key` (a rendered key; leading and trailing `/` are dropped).
    pub(crate) fn path(&self, key: &str) -> Result<Path, String> {
        let key = Path::parse(key).map_err(|e| format!("invalid object key {key:?}: {e}"))?;
        if key.parts().next().is_none() {
            return Err("the object key rendered empty".to_owned());
        }
        Ok(match &self.prefix {
            Some(prefix) => prefix.parts().chain(key.parts()).collect(),
            None => key,
        })
    }
}

/// One open connection: where its buckets live, and the S3 clients made so far (one per
/// bucket, since object_store binds a client to a bucket).
pub struct S3Connection {
    backend: Backend,
    buckets: Mutex<HashMap<String, Bucket>>,
    /// `s3://`: the AWS connection's credentials, shared by the bucket clients.
    credentials: OnceLock<AwsCredentialProvider>,
}

impl S3Connection {
    /// For `s3://`: the name of the AWS connection the action must be bound with.
    pub(crate) fn aws_name(&self) -> Option<&str> {
        match &self.backend {
            Backend::S3 { aws, .. } => Some(aws),
            _ => None,
        }
    }

    /// The same backend with its own client cache and credentials (for an action that
    /// assumes its own role).
    pub(crate) fn with_own_clients(&self) -> S3Connection {
        S3Connection {
            backend: self.backend.clone(),
            buckets: Mutex::default(),
            credentials: OnceLock::new(),
        }
    }

    /// The store for `bucket` (`aws`: the connection `aws_name` names); an error is
    /// permanent (configuration).
    pub(crate) fn bucket(
        &self,
        bucket: &str,
        aws: Option<&Arc<AwsConnection>>,
    ) -> Result<Bucket, String> {
        if bucket.is_empty() {
            return Err("the bucket name rendered empty".to_owned());
        }
        match &self.backend {
            Backend::Local(fs, root) => {
                let prefix = root.parts().chain(bucket_dir(bucket)?.parts()).collect();
                Ok(Bucket {
                    store: fs.clone(),
                    prefix: Some(prefix),
                    attributes: false,
                })
            }
            Backend::Memory(mem) => Ok(Bucket {
                store: mem.clone(),
                prefix: Some(bucket_dir(bucket)?),
                attributes: true,
            }),
            Backend::S3 {
                virtual_hosted_style,
                ..
            } => {
                let aws = aws.ok_or("no AWS connection is bound to this s3:// connection")?;
                let mut cache = self.buckets.lock().expect("bucket cache lock");
                if let Some(b) = cache.get(bucket) {
                    return Ok(b.clone());
                }
                let credentials = self
                    .credentials
                    .get_or_init(|| Arc::new(SdkCredentials::new(aws.clone())));
                let store = s3_store(aws, credentials.clone(), *virtual_hosted_style, bucket)?;
                if cache.len() >= MAX_CACHED_BUCKETS {
                    cache.clear();
                }
                let b = Bucket {
                    store,
                    prefix: None,
                    attributes: true,
                };
                cache.insert(bucket.to_owned(), b.clone());
                Ok(b)
            }
        }
    }
}

/// Checks that every S3 connection's `aws` names a configured AWS connection (`default`
/// always exists), so a typo fails at startup and in `rulewire check`, not at rule load.
pub fn check_aws_references(s3: &S3Settings, aws: &AwsSettings) -> Result<(), ConnectionError> {
    let references = s3.connections.iter().map(|(name, t)| (name, &t.aws));
    crate::aws::check_aws_references("s3", references, aws)
}

/// A bucket name used as one directory (local and memory backends).
fn bucket_dir(bucket: &str) -> Result<Path, String> {
    let bad = bucket.contains('/') || bucket == "." || bucket == "..";
    let path = Path::parse(bucket).ok().filter(|_| !bad);
    path.ok_or_else(|| format!("invalid bucket name {bucket:?}"))
}

fn backend(cfg: &S3ConnectionConfig) -> Result<Backend, String> {
    let url = cfg.url.as_str();
    if let Some(rest) = url.strip_prefix("s3://") {
        if !rest.is_empty() {
            return Err(format!(
                "url: write just \"s3://\" (the bucket comes from the rule), not {url:?}"
            ));
        }
        let aws = match cfg.aws.as_str() {
            "" => DEFAULT_CONNECTION.to_owned(),
            name => name.to_owned(),
        };
        Ok(Backend::S3 {
            aws,
            virtual_hosted_style: cfg.virtual_hosted_style,
        })
    } else if let Some(dir) = url.strip_prefix("file://") {
        if dir.is_empty() {
            return Err(
                "url: file:// needs a directory, e.g. file:///var/lib/rulewire/s3".to_owned(),
            );
        }
        // Directories are created on the first write, so an unused `default` creates nothing.
        let abs =
            std::path::absolute(dir).map_err(|e| format!("url: bad directory {dir:?}: {e}"))?;
        let root = Path::from_absolute_path(&abs)
            .map_err(|e| format!("url: bad directory {dir:?}: {e}"))?;
        Ok(Backend::Local(Arc::new(LocalFileSystem::new()), root))
    } else if url == "memory://" {
        Ok(Backend::Memory(Arc::new(InMemory::new())))
    } else {
        Err(format!(
            "url: expected s3://, file://<dir> or memory://, got {url:?}"
        ))
    }
}

/// An S3 client for one bucket, with the AWS connection's region, endpoint (for S3) and
/// credentials. object_store's own retries are off: the action's retry policy (backoff,
/// metrics, error action) is the only one.
fn s3_store(
    aws: &AwsConnection,
    credentials: AwsCredentialProvider,
    virtual_hosted_style: bool,
    bucket: &str,
) -> Result<Arc<dyn ObjectStore>, String> {
    let endpoint = aws.endpoint_now("S3");
    let allow_http = endpoint
        .as_deref()
        .is_some_and(|e| e.starts_with("http://"));
    let mut b = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(aws.region_now())
        .with_credentials(credentials)
        .with_retry(RetryConfig {
            max_retries: 0,
            ..Default::default()
        })
        .with_client_options(ClientOptions::new().with_allow_http(allow_http))
        .with_virtual_hosted_style_request(virtual_hosted_style);
    if let Some(endpoint) = endpoint {
        b = b.with_endpoint(endpoint);
    }
    let store = b
        .build()
        .map_err(|e| format!("cannot configure the S3 client: {e}"))?;
    Ok(Arc::new(store))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connections::Connections;

    fn settings(text: &str) -> S3Settings {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn s3_connections_name_an_aws_connection() {
        let s = settings(
            "[connections.lake]\nurl = \"${env:LAKE_URL}\"\naws = \"prod\"\n[connections.plain]\nurl = \"s3://\"",
        );
        let conns =
            Connections::open_with_env(&s, |n| (n == "LAKE_URL").then(|| "s3://".into())).unwrap();
        assert_eq!(conns.names(), ["default", "lake", "plain"]);
        assert_eq!(conns.get("lake").unwrap().aws_name(), Some("prod"));
        assert_eq!(conns.get("plain").unwrap().aws_name(), Some("default"));
        assert_eq!(
            conns.get("default").unwrap().aws_name(),
            None,
            "a local directory"
        );
        let e = conns.get("lake").unwrap().bucket("b", None).err().unwrap();
        assert!(e.contains("no AWS connection is bound"), "{e}");

        let aws: AwsSettings =
            toml::from_str("[connections.prod]\nregion = \"eu-west-1\"").unwrap();
        assert_eq!(check_aws_references(&s, &aws), Ok(()));
        let e = check_aws_references(&s, &AwsSettings::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "[s3.connections.lake] aws: no [aws.connections.prod] in rulewire.toml (configured: default)"
        );
    }

    #[test]
    fn bad_connections_are_clear_errors() {
        let check = |text: &str, expected: &str| {
            let e = Connections::open_with_env(&settings(text), |_| None)
                .unwrap_err()
                .to_string();
            assert!(e.contains(expected), "{e}");
        };
        check(
            "[connections.a]\nurl = \"ftp://x\"",
            "expected s3://, file://<dir> or memory://",
        );
        check(
            "[connections.a]\nurl = \"s3://bucket\"",
            "write just \"s3://\"",
        );
        check("[connections.a]\nurl = \"file://\"", "needs a directory");
        assert!(toml::from_str::<S3Settings>("[connections.a]\nurll = \"s3://\"").is_err());
        let e = toml::from_str::<S3Settings>("[connections.a]\nurl = \"s3://\"\nregion = \"x\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `region`"), "{e}");
    }

    #[test]
    fn local_and_memory_buckets_are_directories() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().display());
        let s = settings(&format!(
            "[connections.default]\nurl = {url:?}\n[connections.mem]\nurl = \"memory://\""
        ));
        let conns = Connections::open(&s).unwrap();
        let default = conns.get("default").unwrap();
        let b = default.bucket("my-bucket", None).unwrap();
        let root = Path::from_absolute_path(dir.path()).unwrap();
        assert_eq!(
            b.path("/a/b.json").unwrap().as_ref(),
            format!("{root}/my-bucket/a/b.json")
        );
        assert!(!b.attributes);
        assert!(
            conns
                .get("mem")
                .unwrap()
                .bucket("x", None)
                .unwrap()
                .attributes
        );
        let e = default.bucket("a/b", None).unwrap_err();
        assert!(e.contains("invalid bucket name"), "{e}");
        assert!(
            default
                .bucket("", None)
                .unwrap_err()
                .contains("rendered empty")
        );
        assert!(b.path("a//b").unwrap_err().contains("invalid object key"));
        assert!(b.path("/").unwrap_err().contains("rendered empty"));
    }
}
