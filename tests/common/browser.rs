//! A real browser for console tests: Debian's headless Chromium driven through chromedriver's
//! WebDriver protocol (JSON over HTTP, spoken here with reqwest). `scripts/test.sh` installs
//! both; a missing chromedriver fails the test, it is never skipped.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use super::{free_port, wait_until};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    base: String,
    http: reqwest::Client,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session.
    pub async fn start() -> Browser {
        let port = free_port();
        // Its own process group: the Chromium it starts is in it too, and goes with it.
        let driver = Command::new("chromedriver")
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; scripts/test.sh installs it)");
        rulewire::mqtt::install_crypto_provider();
        let http = reqwest::Client::new();
        let root = format!("http://127.0.0.1:{port}");
        wait_until("chromedriver", Duration::from_secs(20), async || {
            http.get(format!("{root}/status")).send().await.is_ok()
        })
        .await;
        let mut browser = Browser {
            driver,
            base: root.clone(),
            http,
        };
        let session = browser
            .call(
                reqwest::Method::POST,
                "/session",
                json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": "/usr/bin/chromium",
                        "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                                 "--disable-dev-shm-usage", "--window-size=1280,800"]
                    }
                }}}),
            )
            .await;
        let id = session["sessionId"].as_str().expect("a session").to_owned();
        browser.base = format!("{root}/session/{id}");
        browser
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url);
        if !body.is_null() {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let text = req.send().await.unwrap().text().await.unwrap();
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        if let Some(error) = v["value"]["error"].as_str() {
            panic!("WebDriver {path}: {error}: {}", v["value"]["message"]);
        }
        v["value"].clone()
    }

    pub async fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", json!({ "url": url }))
            .await;
    }

    /// The element `css` selects, waiting up to 10 s for it to exist.
    pub async fn find(&self, css: &str) -> String {
        let mut found = None;
        wait_until(css, Duration::from_secs(10), async || {
            let r = self
                .http
                .post(format!("{}/element", self.base))
                .header("content-type", "application/json")
                .body(json!({"using": "css selector", "value": css}).to_string())
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let v: Value = serde_json::from_str(&r).unwrap();
            found = v["value"][ELEMENT].as_str().map(str::to_owned);
            found.is_some()
        })
        .await;
        found.unwrap()
    }

    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{e}/click"),
            json!({}),
        )
        .await;
    }

    /// Replaces the text of an input or textarea.
    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{e}/clear"),
            json!({}),
        )
        .await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{e}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    pub async fn text(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.call(
            reqwest::Method::GET,
            &format!("/element/{e}/text"),
            Value::Null,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Waits until the text of `css` contains `needle`; returns the text.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let mut last = String::new();
        let what = format!("{css} to show {needle:?}");
        wait_until(&what, Duration::from_secs(15), async || {
            last = self.text(css).await;
            last.contains(needle)
        })
        .await;
        last
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        let b64 = self
            .call(reqwest::Method::GET, "/screenshot", Value::Null)
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group: killing chromedriver alone left its Chromium running.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
