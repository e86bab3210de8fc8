//! The loaded rules: loading and hot-reloading the rules directory, building the route table
//! the router reads (`ingest::router`) and setting the broker subscriptions that follow it
//! (`ingest::subscriptions`), and the status `GET /rules` shows.
//!
//! Rules with the same FROM topic filter form a group, evaluated together (see `pipeline`).
//! Reload keeps what works: a group whose rules are all unchanged is kept as it is; a group
//! with a changed, added or removed rule is rebuilt, and messages already routed finish with
//! the rules they were routed to; a file that fails keeps the previous version running and
//! records `last_error` (file:line:col).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use rulewire_actions::{
    Action, ActionBinding, ActionContext, BufferStatus, BuildError, CheckContext, CheckedAction,
    ConnectionNames, check_action,
};
use rulewire_engine::Lookups;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use crate::ingest::Subscriptions;
use crate::ingest::router::{GroupRoute, Route, Routes};
use crate::ops::metrics::{Metrics, RuleActionHooks, RuleMetrics};
use crate::ops::trace::Tracer;
use crate::pipeline::{BatchBounds, GroupRuntime, Item, RuleRuntime, Workers};
use crate::rulefile::{self, ActionSpec, RuleFile, RuleFileError};

/// What makes rules one group: the same FROM filter. A rule without one (reachable by
/// Basic Ingest only) is a group of its own.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum GroupKey {
    Filter(String),
    Rule(String),
}

/// A loaded group: the rule versions it was built from, and its worker's queue.
struct Group {
    rules: Vec<Arc<RuleRuntime>>,
    runtime: Arc<GroupRuntime>,
    tx: UnboundedSender<Item>,
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
    /// The statement (without the header).
    pub sql: Option<String>,
    pub actions: Vec<String>,
    pub error_action: Option<String>,
    /// The last load error (file:line:col: message), cleared by a successful load.
    pub last_error: Option<String>,
    /// The disk buffers of the running version's actions, by action slot (`"0-http"`,
    /// `"error-republish"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub buffers: BTreeMap<String, BufferStatus>,
}

struct Entry {
    path: PathBuf,
    file: Option<RuleFile>,
    /// The loaded version, when the rule is enabled.
    runtime: Option<Arc<RuleRuntime>>,
    last_error: Option<String>,
}

/// What one (re)load did.
#[derive(Debug, Default)]
pub struct ReloadReport {
    pub errors: Vec<RuleFileError>,
    pub loaded: Vec<String>,
    pub removed: Vec<String>,
}

/// Every rule of the rules directory.
pub struct Registry {
    dir: PathBuf,
    entries: Mutex<BTreeMap<String, Entry>>,
    groups: Mutex<BTreeMap<GroupKey, Group>>,
    /// Read by every message (twice with a republish): an `ArcSwap`, whose read takes no
    /// lock and touches no shared reference count, where a `RwLock<Arc<_>>` took both.
    routes: ArcSwap<Routes>,
    ctx: ActionContext,
    workers: Workers,
    metrics: Arc<Metrics>,
    subscriptions: Option<Arc<Subscriptions>>,
    /// What rules' `get_thing_shadow()` reads (the shadow store, when shadows are on).
    lookups: Option<Arc<dyn Lookups>>,
    /// Live traces of rules (the console).
    tracer: Arc<Tracer>,
}

impl Registry {
    /// Rules loaded from now on read Device Shadows from `lookups`.
    pub fn with_lookups(mut self, lookups: Arc<dyn Lookups>) -> Registry {
        self.lookups = Some(lookups);
        self
    }

    pub fn new(
        dir: PathBuf,
        ctx: ActionContext,
        bounds: BatchBounds,
        metrics: Arc<Metrics>,
        subscriptions: Option<Arc<Subscriptions>>,
    ) -> Registry {
        Registry {
            dir,
            entries: Mutex::new(BTreeMap::new()),
            groups: Mutex::new(BTreeMap::new()),
            routes: ArcSwap::from_pointee(Routes::default()),
            ctx,
            workers: Workers::start(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
                bounds,
                metrics.clone(),
            ),
            metrics,
            subscriptions,
            lookups: None,
            tracer: Arc::default(),
        }
    }

    /// Live traces of this registry's rules.
    pub fn tracer(&self) -> &Arc<Tracer> {
        &self.tracer
    }

    /// The loaded file of rule `name`, if it loaded.
    pub fn rule_file(&self, name: &str) -> Option<RuleFile> {
        let entries = self.entries.lock().unwrap();
        entries.get(name).and_then(|e| e.file.clone())
    }

    /// The lookups rules read (`get_thing_shadow()`), for rules compiled elsewhere.
    pub fn lookups(&self) -> Option<&Arc<dyn Lookups>> {
        self.lookups.as_ref()
    }

    pub fn dir(&self) -> &PathBuf {
        &self.dir
    }

    /// The current route table (a snapshot; reloads swap in a new one).
    pub fn routes(&self) -> arc_swap::Guard<Arc<Routes>> {
        self.routes.load()
    }

    /// (Re)loads the directory, then updates routes and subscriptions. Errors are logged,
    /// counted, kept as `last_error`, and returned.
    pub async fn reload(&self) -> ReloadReport {
        let mut report = ReloadReport::default();
        let (files, errors) = match rulefile::load_dir(&self.dir, self.lookups.as_ref()) {
            Ok(loaded) => loaded,
            Err(unlisted) => {
                // Not an empty directory: a directory that is remounted or comes back must
                // not have unloaded every rule meanwhile.
                self.metrics.rule_load_errors.inc();
                tracing::error!("{unlisted}; every rule keeps its current version");
                report.errors.push(unlisted);
                return report;
            }
        };
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
                    runtime: None,
                    last_error: None,
                });
                if entry.file.as_ref().is_some_and(|f| f.source == file.source)
                    && entry.last_error.is_none()
                {
                    continue;
                }
                match self.runtime(&file) {
                    Ok(runtime) => {
                        entry.runtime = file.enabled.then_some(runtime);
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
            let routes = self.regroup(&entries);
            let filters: BTreeSet<String> = routes
                .rules
                .iter()
                .filter_map(|r| r.filter.clone())
                .collect();
            self.routes.store(Arc::new(routes));
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

    /// Groups the enabled rules by FROM filter, keeps unchanged groups, builds new or changed
    /// ones, and returns the route table.
    fn regroup(&self, entries: &BTreeMap<String, Entry>) -> Routes {
        let mut wanted: BTreeMap<GroupKey, Vec<Arc<RuleRuntime>>> = BTreeMap::new();
        for (name, entry) in entries {
            let Some(runtime) = &entry.runtime else {
                continue;
            };
            let key = match runtime.rule.topic_filter() {
                Some(filter) => GroupKey::Filter(filter.to_owned()),
                None => GroupKey::Rule(name.clone()),
            };
            wanted.entry(key).or_default().push(runtime.clone());
        }
        let mut groups = self.groups.lock().unwrap();
        groups.retain(|key, _| wanted.contains_key(key));
        let (mut rules, mut group_routes) = (Vec::new(), Vec::new());
        for (key, members) in wanted {
            let unchanged = groups.get(&key).is_some_and(|g| {
                g.rules.len() == members.len()
                    && g.rules.iter().zip(&members).all(|(a, b)| Arc::ptr_eq(a, b))
            });
            if !unchanged {
                let group = Group {
                    runtime: Arc::new(GroupRuntime::new(members.clone())),
                    rules: members,
                    tx: self.workers.queue_for(&key),
                };
                groups.insert(key.clone(), group);
            }
            let group = &groups[&key];
            let first = rules.len();
            for (member, runtime) in group.rules.iter().enumerate() {
                rules.push(Route {
                    name: runtime.name.to_string(),
                    filter: runtime.rule.topic_filter().map(str::to_owned),
                    group: group_routes.len(),
                    member,
                });
            }
            group_routes.push(GroupRoute {
                group: group.runtime.clone(),
                tx: group.tx.clone(),
                rules: (first..rules.len()).collect(),
            });
        }
        Routes::new(rules, group_routes)
    }

    fn note_error(&self, entries: &mut BTreeMap<String, Entry>, e: &RuleFileError) {
        self.metrics.rule_load_errors.inc();
        let Some(name) = name_of(&e.path) else { return };
        let entry = entries.entry(name).or_insert_with(|| Entry {
            path: e.path.clone(),
            file: None,
            runtime: None,
            last_error: None,
        });
        entry.last_error = Some(e.to_string());
        if entry.file.is_some() {
            tracing::warn!(rule = %e.path.display(), "keeping the previously loaded version of this rule");
        }
    }

    /// Builds the actions of a compiled file.
    fn runtime(&self, file: &RuleFile) -> Result<Arc<RuleRuntime>, RuleFileError> {
        let hooks = |error_action| {
            Arc::new(RuleActionHooks::new(
                self.metrics.clone(),
                error_action,
                &file.name,
            ))
        };
        let names = self.ctx.connection_names();
        // The error action first: a disk-buffered action's drain runs it.
        let error_action = match &file.error_action {
            Some(spec) => {
                let ctx = self
                    .ctx
                    .with_metrics(hooks(true))
                    .for_action(ActionBinding {
                        rule: file.name.clone(),
                        slot: slot("error", &kind_of(spec)),
                        error_action: None,
                    });
                Some(build_action_spec(file, spec, &names, &ctx)?)
            }
            None => None,
        };
        let ctx = self.ctx.with_metrics(hooks(false));
        let actions = file
            .actions
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let ctx = ctx.for_action(ActionBinding {
                    rule: file.name.clone(),
                    slot: slot(i, &kind_of(spec)),
                    error_action: error_action.clone(),
                });
                build_action_spec(file, spec, &names, &ctx)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Arc::new(RuleRuntime {
            name: file.name.as_str().into(),
            rule: file.rule.clone(),
            tracer: self.tracer.clone(),
            actions,
            error_action,
            metrics: RuleMetrics::new(&self.metrics, &file.name),
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
                    sql: f.map(|f| f.sql.clone()),
                    actions: f
                        .map(|f| f.actions.iter().map(kind_of).collect())
                        .unwrap_or_default(),
                    error_action: f.and_then(|f| f.error_action.as_ref().map(kind_of)),
                    last_error: e.last_error.clone(),
                    buffers: e
                        .runtime
                        .as_ref()
                        .map(|r| buffers_of(r))
                        .unwrap_or_default(),
                }
            })
            .collect()
    }
}

/// An action's place in its rule (`0-http`, `error-republish`): names its disk buffer.
fn slot(place: impl std::fmt::Display, kind: &str) -> String {
    format!("{place}-{kind}")
}

/// The disk buffers of a loaded rule's actions, by slot.
fn buffers_of(runtime: &RuleRuntime) -> BTreeMap<String, BufferStatus> {
    let actions = runtime
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| (i.to_string(), a));
    let error = runtime.error_action.iter().map(|a| ("error".to_owned(), a));
    actions
        .chain(error)
        .filter_map(|(place, a)| Some((slot(place, a.kind()), a.buffer_status()?)))
        .collect()
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

/// Checks one action of a rule file against the configured connection names (this compiles
/// its templates); errors point at the action's header line. Used by the registry and by
/// `rulewire check`.
pub fn check_action_spec(
    file: &RuleFile,
    spec: &ActionSpec,
    connections: &ConnectionNames,
) -> Result<CheckedAction, RuleFileError> {
    let ctx = CheckContext {
        version: file.sql_version,
        connections,
    };
    check_action(&spec.table, &ctx).map_err(|e| action_error(file, spec, &e))
}

/// Checks and binds one action of a rule file to the service's clients.
fn build_action_spec(
    file: &RuleFile,
    spec: &ActionSpec,
    connections: &ConnectionNames,
    ctx: &ActionContext,
) -> Result<Arc<dyn Action>, RuleFileError> {
    check_action_spec(file, spec, connections)?
        .bind(ctx)
        .map_err(|e| action_error(file, spec, &e))
}

/// `error` of the action `spec` of `file`, at the action's header line.
fn action_error(file: &RuleFile, spec: &ActionSpec, error: &BuildError) -> RuleFileError {
    let kind = spec.table.get("type").and_then(|t| t.as_str());
    RuleFileError {
        path: file.path.clone(),
        line: spec.line,
        col: 4,
        message: match kind {
            Some(kind) => format!("{kind} action: {error}"),
            None => format!("action: {error}"),
        },
    }
}
