//! Named S3 connections: the `[s3.connections.<name>]` tables of `rulewire.toml`.
//!
//! A rule's s3 action names a connection (`connection = "lake"`, default `"default"`); the
//! connection says where objects go and with which credentials, so rule files never hold
//! endpoints or secrets. Three backends, chosen by the URL scheme:
//!
//! - `s3://`: AWS S3 or any S3-compatible server (`endpoint`, path-style by default). Without
//!   explicit keys the standard chain applies (object_store's `AmazonS3Builder::from_env`:
//!   `AWS_*` environment variables, web identity, ECS/EKS container credentials, instance
//!   metadata). One client per (connection, bucket), built on first use and cached.
//! - `file:///abs/dir` or `file://rel/dir`: a local directory; the bucket is a subdirectory.
//! - `memory://`: in-process, for tests and dry runs; the bucket is a path prefix.
//!
//! Any string field may contain `${env:NAME}` (resolved once, when the service starts).
//! Secrets are redacted from `Debug` and never logged. Without a configured `default`
//! connection, `default` is the local directory `file://data/s3`.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex},
};

use object_store::{
    ClientOptions, ObjectStore, RetryConfig, aws::AmazonS3Builder, local::LocalFileSystem,
    memory::InMemory, path::Path,
};
use serde::{Deserialize, Serialize};

use crate::connections::{ConnectionConfig, ConnectionSection};

/// Where the implicit `default` connection writes when none is configured.
pub const DEFAULT_URL: &str = "file://data/s3";
/// Cached S3 clients (one per connection and bucket) beyond which the cache starts over.
const MAX_CACHED_BUCKETS: usize = 1024;

/// `[s3]` of the service config.
pub type S3Settings = ConnectionSection<S3ConnectionConfig>;

/// One `[s3.connections.<name>]` table. Empty strings mean "not set".
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3ConnectionConfig {
    /// `s3://`, `file:///path` (or `file://relative/path`) or `memory://`.
    pub url: String,
    /// AWS region; default: `AWS_REGION`/`AWS_DEFAULT_REGION`, else `us-east-1`.
    pub region: String,
    /// S3-compatible endpoint (MinIO, Ceph, moto), e.g. `http://127.0.0.1:9000`; also
    /// spelled `endpoint_url`.
    #[serde(alias = "endpoint_url")]
    pub endpoint: String,
    /// Static credentials; both empty: the standard AWS credential chain.
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// Allow `http://` endpoints.
    pub allow_http: bool,
    /// `https://<bucket>.<endpoint>` addressing instead of path-style `<endpoint>/<bucket>`.
    pub virtual_hosted_style: bool,
}

impl fmt::Debug for S3ConnectionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("S3ConnectionConfig")
            .field("url", &self.url)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &redact(&self.access_key_id))
            .field("secret_access_key", &redact(&self.secret_access_key))
            .field("session_token", &redact(&self.session_token))
            .field("allow_http", &self.allow_http)
            .field("virtual_hosted_style", &self.virtual_hosted_style)
            .finish()
    }
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
        })
    }
}

#[derive(Clone)]
enum Backend {
    S3(Box<S3ConnectionConfig>),
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
}

impl S3Connection {
    /// The store for `bucket`; an error is permanent (configuration).
    pub(crate) fn bucket(&self, bucket: &str) -> Result<Bucket, String> {
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
            Backend::S3(cfg) => {
                let mut cache = self.buckets.lock().expect("bucket cache lock");
                if let Some(b) = cache.get(bucket) {
                    return Ok(b.clone());
                }
                let store = s3_store(cfg, bucket)?;
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
        if cfg.access_key_id.is_empty() != cfg.secret_access_key.is_empty() {
            return Err("access_key_id and secret_access_key must be set together".to_owned());
        }
        s3_store(cfg, "probe-bucket")?; // validates region, endpoint... now, not at first message
        Ok(Backend::S3(Box::new(cfg.clone())))
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

/// An S3 client for one bucket. object_store's own retries are off: the action's retry
/// policy (backoff, metrics, error action) is the only one.
fn s3_store(cfg: &S3ConnectionConfig, bucket: &str) -> Result<Arc<dyn ObjectStore>, String> {
    let mut b = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_retry(RetryConfig {
            max_retries: 0,
            ..Default::default()
        })
        .with_client_options(ClientOptions::new().with_allow_http(cfg.allow_http))
        .with_virtual_hosted_style_request(cfg.virtual_hosted_style);
    let set =
        |b: AmazonS3Builder, value: &str, f: fn(AmazonS3Builder, String) -> AmazonS3Builder| {
            if value.is_empty() {
                b
            } else {
                f(b, value.to_owned())
            }
        };
    b = set(b, &cfg.region, |b, v| b.with_region(v));
    b = set(b, &cfg.endpoint, |b, v| b.with_endpoint(v));
    b = set(b, &cfg.access_key_id, |b, v| b.with_access_key_id(v));
    b = set(b, &cfg.secret_access_key, |b, v| {
        b.with_secret_access_key(v)
    });
    b = set(b, &cfg.session_token, |b, v| b.with_token(v));
    if cfg.allow_http {
        b = b.with_allow_http(true);
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
    fn parses_connections_and_resolves_env() {
        let s = settings(
            r#"
[connections.lake]
url = "s3://"
region = "eu-west-1"
endpoint = "http://127.0.0.1:9000"
access_key_id = "AKIA"
secret_access_key = "${env:LAKE_SECRET}"
allow_http = true
"#,
        );
        let conns =
            Connections::open_with_env(&s, |n| (n == "LAKE_SECRET").then(|| "s3cr3t".into()))
                .unwrap();
        assert_eq!(conns.names(), ["default", "lake"]);
        let Backend::S3(lake) = &conns.get("lake").unwrap().backend else {
            panic!("lake is an s3:// connection")
        };
        assert_eq!(lake.secret_access_key, "s3cr3t");

        let e = Connections::open_with_env(&s, |_| None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "[s3.connections.lake] secret_access_key: environment variable LAKE_SECRET is not set"
        );
    }

    #[test]
    fn debug_redacts_secrets() {
        let cfg = S3ConnectionConfig {
            url: "s3://".into(),
            access_key_id: "AKIAEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI".into(),
            session_token: "tok".into(),
            ..Default::default()
        };
        let text = format!(
            "{cfg:?} {:?}",
            S3Settings {
                connections: [("x".to_owned(), cfg.clone())].into()
            }
        );
        assert!(
            !text.contains("wJalrXUtnFEMI")
                && !text.contains("AKIAEXAMPLE")
                && !text.contains("tok\""),
            "{text}"
        );
        assert!(text.contains("<redacted>"));
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
        check(
            "[connections.a]\nurl = \"s3://\"\naccess_key_id = \"k\"",
            "must be set together",
        );
        check("[connections.a]\nurl = \"file://\"", "needs a directory");
        assert!(toml::from_str::<S3Settings>("[connections.a]\nurll = \"s3://\"").is_err());
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
        let b = default.bucket("my-bucket").unwrap();
        let root = Path::from_absolute_path(dir.path()).unwrap();
        assert_eq!(
            b.path("/a/b.json").unwrap().as_ref(),
            format!("{root}/my-bucket/a/b.json")
        );
        assert!(!b.attributes);
        assert!(conns.get("mem").unwrap().bucket("x").unwrap().attributes);
        let e = default.bucket("a/b").unwrap_err();
        assert!(e.contains("invalid bucket name"), "{e}");
        assert!(default.bucket("").unwrap_err().contains("rendered empty"));
        assert!(b.path("a//b").unwrap_err().contains("invalid object key"));
        assert!(b.path("/").unwrap_err().contains("rendered empty"));
    }
}
