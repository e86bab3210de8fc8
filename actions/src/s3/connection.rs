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
    collections::{BTreeMap, HashMap},
    fmt,
    sync::{Arc, Mutex},
};

use object_store::{
    ClientOptions, ObjectStore, RetryConfig, aws::AmazonS3Builder, local::LocalFileSystem,
    memory::InMemory, path::Path,
};
use serde::{Deserialize, Serialize};

/// The connection a rule gets when it names none.
pub const DEFAULT_CONNECTION: &str = "default";
/// Where the implicit `default` connection writes when none is configured.
pub const DEFAULT_URL: &str = "file://data/s3";
/// Cached S3 clients (one per connection and bucket) beyond which the cache starts over.
const MAX_CACHED_BUCKETS: usize = 1024;

/// `[s3]` of the service config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Settings {
    /// `[s3.connections.<name>]`.
    pub connections: BTreeMap<String, S3ConnectionConfig>,
}

/// One `[s3.connections.<name>]` table. Empty strings mean "not set".
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3ConnectionConfig {
    /// `s3://`, `file:///path` (or `file://relative/path`) or `memory://`.
    pub url: String,
    /// AWS region; default: `AWS_REGION`/`AWS_DEFAULT_REGION`, else `us-east-1`.
    pub region: String,
    /// S3-compatible endpoint (MinIO, Ceph, moto), e.g. `http://127.0.0.1:9000`.
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

/// A connection table that can't be used; the message names the connection and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[s3.connections.{connection}] {message}")]
pub struct S3ConfigError {
    pub connection: String,
    pub message: String,
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

/// All named connections, shared by every s3 action (`ActionContext::s3`). The default has
/// none, not even the implicit `default`; `from_settings` adds that.
#[derive(Default)]
pub struct S3Connections {
    backends: HashMap<String, Backend>,
    buckets: Mutex<HashMap<(String, String), Bucket>>,
}

impl fmt::Debug for S3Connections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.backends.keys().collect();
        names.sort();
        f.debug_struct("S3Connections")
            .field("names", &names)
            .finish()
    }
}

impl S3Connections {
    /// Resolves `${env:NAME}` references and validates every connection; adds the implicit
    /// `default` (`file://data/s3`) when none is configured.
    pub fn from_settings(settings: &S3Settings) -> Result<S3Connections, S3ConfigError> {
        Self::from_settings_with_env(settings, |name| std::env::var(name).ok())
    }

    /// `from_settings` with the environment given as a function (for tests).
    pub fn from_settings_with_env(
        settings: &S3Settings,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<S3Connections, S3ConfigError> {
        let mut backends = HashMap::new();
        let (implicit_name, implicit) = (
            DEFAULT_CONNECTION.to_owned(),
            S3ConnectionConfig {
                url: DEFAULT_URL.to_owned(),
                ..Default::default()
            },
        );
        let default = (!settings.connections.contains_key(DEFAULT_CONNECTION))
            .then_some((&implicit_name, &implicit));
        for (name, cfg) in settings.connections.iter().chain(default) {
            let err = |message: String| S3ConfigError {
                connection: name.clone(),
                message,
            };
            let cfg = resolve_env(cfg, &env).map_err(err)?;
            backends.insert(name.clone(), backend(&cfg).map_err(err)?);
        }
        Ok(S3Connections {
            backends,
            buckets: Mutex::default(),
        })
    }

    /// The names of the configured connections, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.backends.keys().cloned().collect();
        names.sort();
        names
    }

    /// The store for `bucket` on connection `name`; an error is permanent (configuration).
    pub(crate) fn bucket(&self, name: &str, bucket: &str) -> Result<Bucket, String> {
        let backend = self
            .backends
            .get(name)
            .ok_or_else(|| format!("no S3 connection named {name:?} is configured"))?;
        if bucket.is_empty() {
            return Err("the bucket name rendered empty".to_owned());
        }
        match backend {
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
                let cache_key = (name.to_owned(), bucket.to_owned());
                let mut cache = self.buckets.lock().expect("bucket cache lock");
                if let Some(b) = cache.get(&cache_key) {
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
                cache.insert(cache_key, b.clone());
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

/// Replaces `${env:NAME}` in every string field; an unset variable is an error naming it.
fn resolve_env(
    cfg: &S3ConnectionConfig,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<S3ConnectionConfig, String> {
    let sub = |field: &str, text: &str| crate::env::substitute(field, text, env);
    Ok(S3ConnectionConfig {
        url: sub("url", &cfg.url)?,
        region: sub("region", &cfg.region)?,
        endpoint: sub("endpoint", &cfg.endpoint)?,
        access_key_id: sub("access_key_id", &cfg.access_key_id)?,
        secret_access_key: sub("secret_access_key", &cfg.secret_access_key)?,
        session_token: sub("session_token", &cfg.session_token)?,
        ..cfg.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let lake = &s.connections["lake"];
        let resolved =
            resolve_env(lake, &|n| (n == "LAKE_SECRET").then(|| "s3cr3t".to_owned())).unwrap();
        assert_eq!(resolved.secret_access_key, "s3cr3t");
        let conns = S3Connections::from_settings_with_env(&s, |n| {
            (n == "LAKE_SECRET").then(|| "s3cr3t".into())
        })
        .unwrap();
        assert_eq!(conns.names(), ["default", "lake"]);

        let e = S3Connections::from_settings_with_env(&s, |_| None).unwrap_err();
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
            let e = S3Connections::from_settings_with_env(&settings(text), |_| None)
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
        let conns = S3Connections::from_settings(&s).unwrap();
        let b = conns.bucket("default", "my-bucket").unwrap();
        let root = Path::from_absolute_path(dir.path()).unwrap();
        assert_eq!(
            b.path("/a/b.json").unwrap().as_ref(),
            format!("{root}/my-bucket/a/b.json")
        );
        assert!(!b.attributes);
        assert!(conns.bucket("mem", "x").unwrap().attributes);
        assert!(
            conns
                .bucket("default", "a/b")
                .unwrap_err()
                .contains("invalid bucket name")
        );
        assert!(
            conns
                .bucket("default", "")
                .unwrap_err()
                .contains("rendered empty")
        );
        assert!(
            conns
                .bucket("nope", "b")
                .unwrap_err()
                .contains("no S3 connection named \"nope\"")
        );
        assert!(b.path("a//b").unwrap_err().contains("invalid object key"));
        assert!(b.path("/").unwrap_err().contains("rendered empty"));
    }
}
