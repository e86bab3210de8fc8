//! The loaded rules: loading and hot-reloading the rules directory, the route table the
//! router reads, the broker subscriptions that follow it, and the status `GET /rules` shows.
//!
//! Reload keeps what works: an unchanged file keeps its worker; a changed file that compiles
//! (SQL and actions) gets a new worker while the old one finishes its messages; a file that
//! fails keeps the previous version running and records `last_error` (file:line:col).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use rulewire_actions::{Action, ActionConfig, ActionContext, build_action};
use rulewire_engine::topic::TopicTrie;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use crate::metrics::Metrics;
use crate::mqtt::MqttClient;
use crate::pipeline::{BatchBounds, Item, RuleRuntime, spawn_rule_worker};
use crate::rulefile::{self, ActionSpec, RuleFile, RuleFileError};

/// One routable (enabled and loaded) rule.
pub struct Route {
    pub name: String,
    pub filter: Option<String>,
    pub tx: UnboundedSender<Item>,
    /// This rule's `rulewire_topic_match_total` series (resolved once, not per message).
    pub topic_match: prometheus::IntCounter,
}

/// The rules the router sends messages to; replaced whole on reload. A topic-filter trie
/// indexes them, so a message costs only the rules whose filters can match its topic.
#[derive(Default)]
pub struct Routes {
    pub rules: Vec<Route>,
    trie: TopicTrie<usize>,
}

impl Routes {
    pub fn new(rules: Vec<Route>) -> Routes {
        let mut trie = TopicTrie::new();
        for (i, r) in rules.iter().enumerate() {
            if let Some(f) = &r.filter {
                trie.insert(f, i);
            }
        }
        Routes { rules, trie }
    }

    pub fn by_name(&self, name: &str) -> Option<&Route> {
        self.rules.iter().find(|r| r.name == name)
    }

    /// Calls `f` for every rule whose FROM filter matches `topic`.
    pub fn for_each_match(&self, topic: &str, mut f: impl FnMut(&Route)) {
        self.trie.for_each_match(topic, |&i| f(&self.rules[i]));
    }
}

/// A rule as `GET /rules` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleStatus {
    pub name: String,
    pub file: String,
    pub description: String,
    pub topic_filter: Option<String>,
    pub enabled: bool,
    /// A version of the rule is running (false if it never compiled).
    pub loaded: bool,
    pub sql_version: Option<String>,
    pub actions: Vec<String>,
    pub error_action: Option<String>,
    /// The last load error (file:line:col: message), cleared by a successful load.
    pub last_error: Option<String>,
}

struct Entry {
    path: PathBuf,
    file: Option<RuleFile>,
    tx: Option<UnboundedSender<Item>>,
    last_error: Option<String>,
}

/// What one (re)load did.
#[derive(Debug, Default)]
pub struct ReloadReport {
    pub errors: Vec<RuleFileError>,
    pub loaded: Vec<String>,
    pub removed: Vec<String>,
}

/// The broker subscriptions rulewire wants, and those it has made.
pub struct Subscriptions {
    client: MqttClient,
    shared_group: String,
    basic_ingest: bool,
    state: tokio::sync::Mutex<(BTreeSet<String>, BTreeSet<String>)>,
}

impl Subscriptions {
    pub fn new(client: MqttClient, shared_group: &str, basic_ingest: bool) -> Arc<Subscriptions> {
        Arc::new(Subscriptions {
            client,
            shared_group: shared_group.to_owned(),
            basic_ingest,
            state: tokio::sync::Mutex::new((BTreeSet::new(), BTreeSet::new())),
        })
    }

    fn wire(&self, filter: &str) -> String {
        if self.shared_group.is_empty() {
            filter.to_owned()
        } else {
            format!("$share/{}/{}", self.shared_group, filter)
        }
    }

    /// Sets the wanted rule filters and (un)subscribes the difference.
    pub async fn set_filters(&self, filters: BTreeSet<String>) {
        let mut wanted: BTreeSet<String> = filters.iter().map(|f| self.wire(f)).collect();
        if self.basic_ingest {
            // `#` never matches `$` topics, so Basic Ingest needs its own subscription.
            wanted.insert(self.wire("$aws/rules/#"));
        }
        let mut state = self.state.lock().await;
        state.0 = wanted;
        self.apply(&mut state).await;
    }

    /// After CONNACK: without a stored session the broker forgot every subscription.
    pub async fn on_connect(&self, session_present: bool) {
        let mut state = self.state.lock().await;
        if !session_present {
            state.1.clear();
        }
        self.apply(&mut state).await;
    }

    async fn apply(&self, state: &mut (BTreeSet<String>, BTreeSet<String>)) {
        let (wanted, active) = state;
        for f in wanted.difference(active).cloned().collect::<Vec<_>>() {
            match self.client.subscribe(&f, 1).await {
                Ok(()) => {
                    tracing::info!(filter = %f, "subscribing");
                    active.insert(f);
                }
                Err(e) => tracing::warn!(filter = %f, error = %e, "subscribe failed"),
            }
        }
        for f in active.difference(wanted).cloned().collect::<Vec<_>>() {
            if let Err(e) = self.client.unsubscribe(&f).await {
                tracing::warn!(filter = %f, error = %e, "unsubscribe failed");
            }
            tracing::info!(filter = %f, "unsubscribed");
            active.remove(&f);
        }
    }
}

/// Every rule of the rules directory.
pub struct Registry {
    dir: PathBuf,
    entries: Mutex<BTreeMap<String, Entry>>,
    routes: RwLock<Arc<Routes>>,
    ctx: ActionContext,
    error_ctx: ActionContext,
    bounds: BatchBounds,
    metrics: Arc<Metrics>,
    subscriptions: Option<Arc<Subscriptions>>,
}

impl Registry {
    pub fn new(
        dir: PathBuf,
        ctx: ActionContext,
        error_ctx: ActionContext,
        bounds: BatchBounds,
        metrics: Arc<Metrics>,
        subscriptions: Option<Arc<Subscriptions>>,
    ) -> Registry {
        Registry {
            dir,
            entries: Mutex::new(BTreeMap::new()),
            routes: RwLock::new(Arc::new(Routes::default())),
            ctx,
            error_ctx,
            bounds,
            metrics,
            subscriptions,
        }
    }

    pub fn dir(&self) -> &PathBuf {
        &self.dir
    }

    /// The current route table (a snapshot; reloads swap in a new one).
    pub fn routes(&self) -> Arc<Routes> {
        self.routes.read().unwrap().clone()
    }

    /// (Re)loads the directory, then updates routes and subscriptions. Errors are logged,
    /// counted, kept as `last_error`, and returned.
    pub async fn reload(&self) -> ReloadReport {
        let (files, errors) = rulefile::load_dir(&self.dir);
        let mut report = ReloadReport::default();
        let filters = {
            let mut entries = self.entries.lock().unwrap();
            let present: BTreeSet<String> = files
                .iter()
                .map(|f| f.name.clone())
                .chain(errors.iter().filter_map(|e| name_of(&e.path)))
                .collect();
            for name in entries
                .keys()
                .filter(|n| !present.contains(*n))
                .cloned()
                .collect::<Vec<_>>()
            {
                entries.remove(&name);
                report.removed.push(name);
            }
            for file in files {
                let name = file.name.clone();
                let entry = entries.entry(name.clone()).or_insert_with(|| Entry {
                    path: file.path.clone(),
                    file: None,
                    tx: None,
                    last_error: None,
                });
                if entry.file.as_ref().is_some_and(|f| f.source == file.source)
                    && entry.last_error.is_none()
                {
                    continue;
                }
                match self.runtime(&file) {
                    Ok(runtime) => {
                        entry.tx = file
                            .enabled
                            .then(|| spawn_rule_worker(runtime, self.bounds, self.metrics.clone()));
                        entry.file = Some(file);
                        entry.last_error = None;
                        report.loaded.push(name);
                    }
                    Err(e) => report.errors.push(e),
                }
            }
            for e in &report.errors {
                self.note_error(&mut entries, e);
            }
            for e in &errors {
                self.note_error(&mut entries, e);
            }
            report.errors.extend(errors);
            let routes = Routes::new(
                entries
                    .iter()
                    .filter_map(|(name, e)| {
                        let tx = e.tx.clone()?;
                        Some(Route {
                            name: name.clone(),
                            filter: e.file.as_ref()?.rule.topic_filter().map(str::to_owned),
                            tx,
                            topic_match: self.metrics.topic_match.with_label_values(&[name]),
                        })
                    })
                    .collect(),
            );
            let filters: BTreeSet<String> = routes
                .rules
                .iter()
                .filter_map(|r| r.filter.clone())
                .collect();
            *self.routes.write().unwrap() = Arc::new(routes);
            filters
        };
        if let Some(subs) = &self.subscriptions {
            subs.set_filters(filters).await;
        }
        for e in &report.errors {
            tracing::error!("{e}");
        }
        if !report.loaded.is_empty() || !report.removed.is_empty() {
            tracing::info!(loaded = ?report.loaded, removed = ?report.removed, "rules loaded");
        }
        report
    }

    fn note_error(&self, entries: &mut BTreeMap<String, Entry>, e: &RuleFileError) {
        self.metrics.rule_load_errors.inc();
        let Some(name) = name_of(&e.path) else { return };
        let entry = entries.entry(name).or_insert_with(|| Entry {
            path: e.path.clone(),
            file: None,
            tx: None,
            last_error: None,
        });
        entry.last_error = Some(e.to_string());
        if entry.file.is_some() {
            tracing::warn!(rule = %e.path.display(), "keeping the previously loaded version of this rule");
        }
    }

    /// Builds the actions of a compiled file.
    fn runtime(&self, file: &RuleFile) -> Result<Arc<RuleRuntime>, RuleFileError> {
        let actions = file
            .actions
            .iter()
            .map(|s| build_action_spec(file, s, &self.ctx))
            .collect::<Result<Vec<_>, _>>()?;
        let error_action = match &file.error_action {
            Some(spec) => Some(build_action_spec(file, spec, &self.error_ctx)?.1),
            None => None,
        };
        Ok(Arc::new(RuleRuntime {
            name: file.name.clone(),
            rule: file.rule.clone(),
            actions,
            error_action,
        }))
    }

    /// Every rule file seen, loaded or not, for `GET /rules`.
    pub fn statuses(&self) -> Vec<RuleStatus> {
        let entries = self.entries.lock().unwrap();
        entries
            .iter()
            .map(|(name, e)| {
                let f = e.file.as_ref();
                RuleStatus {
                    name: name.clone(),
                    file: e.path.display().to_string(),
                    description: f.map(|f| f.description.clone()).unwrap_or_default(),
                    topic_filter: f.and_then(|f| f.rule.topic_filter().map(str::to_owned)),
                    enabled: f.is_some_and(|f| f.enabled),
                    loaded: f.is_some(),
                    sql_version: f.map(|f| f.sql_version.as_str().to_owned()),
                    actions: f
                        .map(|f| f.actions.iter().map(kind_of).collect())
                        .unwrap_or_default(),
                    error_action: f.and_then(|f| f.error_action.as_ref().map(kind_of)),
                    last_error: e.last_error.clone(),
                }
            })
            .collect()
    }
}

fn kind_of(spec: &ActionSpec) -> String {
    spec.table
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or("?")
        .to_owned()
}

fn name_of(path: &std::path::Path) -> Option<String> {
    if path.extension().is_some_and(|e| e == "sql") {
        path.file_stem().and_then(|s| s.to_str()).map(str::to_owned)
    } else {
        None
    }
}

/// Builds one action of a rule file (this compiles its templates); errors point at the
/// action's header line. Used by the registry and by `rulewire check`.
pub fn build_action_spec(
    file: &RuleFile,
    spec: &ActionSpec,
    ctx: &ActionContext,
) -> Result<(String, Arc<dyn Action>), RuleFileError> {
    let err = |message: String| RuleFileError {
        path: file.path.clone(),
        line: spec.line,
        col: 4,
        message,
    };
    let cfg = ActionConfig::deserialize(toml::Value::Table(spec.table.clone()))
        .map_err(|e| err(format!("action: {}", e.message())))?;
    let action = build_action(&cfg, file.sql_version, ctx)
        .map_err(|e| err(format!("{} action: {e}", cfg.kind())))?;
    Ok((cfg.kind().to_owned(), action))
}
