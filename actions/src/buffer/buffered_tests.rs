//! Tests of the buffered action and its drain: order, restart with a backlog, the error
//! action, a reload sharing the buffer, and the http action behind a disk buffer against a
//! real HTTP server that fails for a while.

use std::sync::Mutex;

use super::*;
use crate::{
    BufferStore,
    test_util::{NoPublisher, Recorder, build_action, context, fired, table},
};

/// The action a drain delivers to in these tests: records each message's topic, and fails
/// permanently when `fail` is set or never answers when `hang` is.
#[derive(Default)]
struct Target {
    seen: Mutex<Vec<String>>,
    fail: bool,
    hang: bool,
}

impl Action for Target {
    fn kind(&self) -> &'static str {
        "test"
    }
    fn aws_name(&self) -> &'static str {
        "TestAction"
    }
    fn execute<'a>(&'a self, msg: &'a FiredMessage) -> BoxFuture<'a, Result<(), ActionFailure>> {
        Box::pin(async move {
            if self.hang {
                std::future::pending::<()>().await;
            }
            self.seen.lock().unwrap().push(msg.topic.clone());
            if self.fail {
                return Err(ActionFailure {
                    failed_action: "TestAction".into(),
                    failed_resource: "target".into(),
                    error_message: "rejected".into(),
                });
            }
            Ok(())
        })
    }
}

fn disk() -> BufferConfig {
    BufferConfig::Disk {
        max_bytes: 1 << 20,
        when_full: WhenFull::Block,
        max_in_flight: Some(16),
    }
}

fn ctx(store: &Arc<BufferStore>, error_action: Option<Arc<dyn Action>>) -> ActionContext {
    let (mut ctx, _) = context(Arc::new(NoPublisher));
    ctx.buffers = Some(store.clone());
    ctx.for_action(crate::ActionBinding {
        rule: "r".into(),
        slot: "0-test".into(),
        error_action,
    })
}

fn bind(ctx: &ActionContext, target: &Arc<Target>) -> Arc<dyn Action> {
    let target: Arc<dyn Action> = target.clone();
    bind_buffered("test", disk(), ctx, move |_| Ok(target)).unwrap()
}

async fn wait_for(what: &str, f: impl Fn() -> bool) {
    for _ in 0..1000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

fn topics(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("t/{i}")).collect()
}

#[tokio::test]
async fn messages_are_taken_once_on_disk_and_delivered_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(BufferStore::new(dir.path()));
    let target = Arc::new(Target::default());
    let action = bind(&ctx(&store, None), &target);
    assert_eq!(action.kind(), "test");
    for topic in topics(200) {
        action.execute(&fired("r", &topic, b"{}")).await.unwrap();
    }
    wait_for("200 deliveries", || {
        target.seen.lock().unwrap().len() == 200
    })
    .await;
    // Up to 16 run at once, and they start in order; this target finishes at once, so it
    // also finishes them in order.
    assert_eq!(*target.seen.lock().unwrap(), topics(200));
    assert!(
        dir.path().join("r/0-test/cursor").exists() || {
            tokio::time::sleep(COMMIT_EVERY * 3).await;
            dir.path().join("r/0-test/cursor").exists()
        }
    );
}

#[tokio::test]
async fn a_backlog_left_by_a_stopped_action_is_delivered_by_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(BufferStore::new(dir.path()));
    let stuck = Arc::new(Target {
        hang: true,
        ..Default::default()
    });
    let action = bind(&ctx(&store, None), &stuck);
    for topic in topics(50) {
        action.execute(&fired("r", &topic, b"{}")).await.unwrap();
    }
    // The rule goes away (as in a shutdown): its drain stops, the records stay on disk.
    drop(action);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let target = Arc::new(Target::default());
    let action = bind(&ctx(&store, None), &target);
    wait_for("the backlog", || target.seen.lock().unwrap().len() == 50).await;
    assert_eq!(*target.seen.lock().unwrap(), topics(50));
    drop(action);
}

#[tokio::test]
async fn a_permanent_failure_goes_to_the_error_action_with_awss_payload() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(BufferStore::new(dir.path()));
    let errors = Arc::new(Target::default());
    let failing = Arc::new(Target {
        fail: true,
        ..Default::default()
    });
    let error_action: Arc<dyn Action> = errors.clone();
    let action = bind(&ctx(&store, Some(error_action)), &failing);
    assert_eq!(action.aws_name(), "TestAction");
    action.execute(&fired("r", "t/1", b"{}")).await.unwrap();
    wait_for("the error action", || {
        errors.seen.lock().unwrap().len() == 1
    })
    .await;
    assert_eq!(*errors.seen.lock().unwrap(), ["t/1"]);
}

#[tokio::test]
async fn a_reloaded_rule_keeps_its_buffer_and_the_new_version_drains_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(BufferStore::new(dir.path()));
    let first = Arc::new(Target::default());
    let old = bind(&ctx(&store, None), &first);
    for topic in topics(5) {
        old.execute(&fired("r", &topic, b"{}")).await.unwrap();
    }
    wait_for("the first version's deliveries", || {
        first.seen.lock().unwrap().len() == 5
    })
    .await;
    // The new version binds while the old one is still loaded (messages routed to it are
    // still finishing): one buffer, one drain, which now delivers to the new action, also
    // what the old version appends.
    let second = Arc::new(Target::default());
    let new = bind(&ctx(&store, None), &second);
    old.execute(&fired("r", "t/old", b"{}")).await.unwrap();
    drop(old);
    new.execute(&fired("r", "t/new", b"{}")).await.unwrap();
    wait_for("the new version's deliveries", || {
        second.seen.lock().unwrap().len() == 2
    })
    .await;
    assert_eq!(*second.seen.lock().unwrap(), ["t/old", "t/new"]);
    assert_eq!(first.seen.lock().unwrap().len(), 5);
}

#[tokio::test]
async fn an_http_action_behind_a_disk_buffer_retries_until_the_endpoint_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(BufferStore::new(dir.path()));
    // Down for the first 6 requests: 5 open the breaker, the probe a second later fails
    // too, the next probe (two seconds on) succeeds.
    let server =
        Recorder::start(|i, _| (if i < 6 { 503 } else { 200 }, vec![], String::new())).await;
    let ctx = ctx(&store, None);
    let text = format!(
        "type = \"http\"\nurl = \"{}/hook\"\nretry = {{ base_delay_ms = 5, max_delay_ms = 20 }}\n\
         buffer = {{ type = \"disk\", max_bytes = 1048576 }}",
        server.endpoint
    );
    let action = build_action(&table(&text), rulewire_engine::SqlVersion::default(), &ctx).unwrap();
    for topic in topics(10) {
        let started = Instant::now();
        action
            .execute(&fired("r", &topic, b"{\"a\":1}"))
            .await
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(1), "taken at once");
    }
    wait_for("10 deliveries", || server.requests().len() >= 16).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let requests = server.requests();
    assert_eq!(requests.len(), 16, "6 refused, then each of the 10 once");
    assert!(requests.iter().all(|r| r.path == "/hook"));
}
