//! A small W3C WebDriver client over reqwest, enough to do what a person does: open a page,
//! find, click, type, read text, take a screenshot. (fantoccini 0.22 would add 29 crates to
//! the cold build, among them icu_segmenter and its data, `time` and http 0.2, for these ten
//! endpoints.)
//!
//! [`Driver`] runs `chromedriver` on a free loopback port and Chromium headless with the flags
//! that work on these machines; both stop when it is dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The key W3C WebDriver uses for element references.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long [`Session::wait`] waits by default.
pub const WAIT: Duration = Duration::from_secs(20);

/// An executable on PATH.
fn which(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

/// A child process sent SIGTERM (then killed) when dropped, so it can clean up after itself.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// chromedriver, listening on loopback.
pub struct Driver {
    url: String,
    chromium: PathBuf,
    _process: Process,
}

impl Driver {
    /// Starts chromedriver; panics with what to install when it or Chromium is missing.
    pub fn start() -> Driver {
        let driver = which(&["chromedriver"])
            .expect("chromedriver is not installed: apt-get install chromium chromium-driver");
        let chromium = which(&["chromium", "chromium-browser"])
            .expect("chromium is not installed: apt-get install chromium chromium-driver");
        let mut child = Command::new(driver)
            .args(["--port=0", "--allowed-ips=127.0.0.1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let out = child.stdout.take().expect("piped stdout");
        let process = Process(child);
        let mut lines = BufReader::new(out).lines();
        let port = loop {
            let line = lines
                .next()
                .expect("chromedriver ended before saying its port")
                .expect("read chromedriver's output");
            // "ChromeDriver was started successfully on port 37261."
            if let Some(rest) = line.split("started successfully on port ").nth(1) {
                break rest.trim_end_matches('.').trim().to_owned();
            }
        };
        // Keep reading its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Driver {
            url: format!("http://127.0.0.1:{port}"),
            chromium,
            _process: process,
        }
    }

    /// A new headless browser (its own profile in `profile`).
    pub async fn session(&self, profile: &Path) -> Session {
        let http = serving::http_client()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client");
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--window-size=1280,1600".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": self.chromium, "args": args},
        }}});
        let v = call(
            &http,
            reqwest::Method::POST,
            &format!("{}/session", self.url),
            Some(caps),
        )
        .await
        .unwrap_or_else(|e| panic!("starting a Chromium session: {e}"));
        let id = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no sessionId in {v}"))
            .to_owned();
        Session {
            http,
            base: format!("{}/session/{id}", self.url),
            driver: self.url.trim_start_matches("http://").to_owned(),
            id,
        }
    }
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let mut req = http.request(method, url);
    // WebDriver wants a JSON body on every POST, `{}` when there is nothing to say.
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.map_err(|e| format!("{url}: {e}"))?;
    let status = r.status();
    let v: Value = r.json().await.map_err(|e| format!("{url}: {e}"))?;
    if !status.is_success() {
        return Err(format!(
            "{url}: {status} {}: {}",
            v["value"]["error"],
            v["value"]["message"].as_str().unwrap_or("")
        ));
    }
    Ok(v["value"].clone())
}

/// One browser; closed when dropped, also when a test panics (chromedriver does not stop the
/// browsers it started when it is stopped itself).
pub struct Session {
    http: reqwest::Client,
    base: String,
    /// chromedriver's `host:port`, for the blocking close in `drop`.
    driver: String,
    id: String,
}

impl Drop for Session {
    fn drop(&mut self) {
        use std::io::{Read as _, Write as _};
        // Blocking and plain: a drop cannot await, and a panicking test has no runtime to lend.
        let Ok(mut conn) = std::net::TcpStream::connect(&self.driver) else {
            return;
        };
        let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
        let request = format!(
            "DELETE /session/{} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.id, self.driver
        );
        if conn.write_all(request.as_bytes()).is_ok() {
            let mut answer = Vec::new();
            let _ = conn.read_to_end(&mut answer);
        }
    }
}

/// An element of the page.
#[derive(Clone)]
pub struct Element(String);

impl Session {
    async fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        call(
            &self.http,
            reqwest::Method::POST,
            &format!("{}{path}", self.base),
            Some(body),
        )
        .await
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        call(
            &self.http,
            reqwest::Method::GET,
            &format!("{}{path}", self.base),
            None,
        )
        .await
    }

    /// Opens a URL and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url }))
            .await
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    /// The URL shown.
    pub async fn current_url(&self) -> String {
        self.get("/url")
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// The first element matching a CSS selector, if any.
    pub async fn find(&self, css: &str) -> Option<Element> {
        let v = self
            .post("/element", json!({"using": "css selector", "value": css}))
            .await
            .ok()?;
        v[ELEMENT].as_str().map(|s| Element(s.to_owned()))
    }

    /// Waits until `css` matches an element whose text contains `text` ("" for any).
    pub async fn wait_text(&self, css: &str, text: &str) -> Element {
        let deadline = Instant::now() + WAIT;
        let mut last = String::new();
        loop {
            if let Some(e) = self.find(css).await {
                last = self.text(&e).await;
                if last.contains(text) {
                    return e;
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "after {WAIT:?}, no {css:?} containing {text:?} on {} (last text: {last:?})",
                    self.current_url().await
                );
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// The element, or a panic naming the page.
    pub async fn must(&self, css: &str) -> Element {
        self.wait_text(css, "").await
    }

    /// The element's rendered text.
    pub async fn text(&self, e: &Element) -> String {
        self.get(&format!("/element/{}/text", e.0))
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// A DOM property (`value`, `href`, …).
    pub async fn property(&self, e: &Element, name: &str) -> String {
        self.get(&format!("/element/{}/property/{name}", e.0))
            .await
            .ok()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string())
            })
            .unwrap_or_default()
    }

    /// Clicks the element (an `<option>` is selected in its `<select>`, as a person does).
    pub async fn click(&self, css: &str) {
        let e = self.must(css).await;
        self.post(&format!("/element/{}/click", e.0), json!({}))
            .await
            .unwrap_or_else(|err| panic!("clicking {css}: {err}"));
    }

    /// Clears a text field and types into it.
    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.must(css).await;
        self.post(&format!("/element/{}/clear", e.0), json!({}))
            .await
            .unwrap_or_else(|err| panic!("clearing {css}: {err}"));
        self.post(&format!("/element/{}/value", e.0), json!({ "text": text }))
            .await
            .unwrap_or_else(|err| panic!("typing into {css}: {err}"));
    }

    /// Runs a script in the page and returns its result.
    pub async fn execute(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": []}))
            .await
            .unwrap_or_else(|e| panic!("running a script: {e}"))
    }

    /// The whole page's text.
    pub async fn page_text(&self) -> String {
        match self.find("body").await {
            Some(b) => self.text(&b).await,
            None => String::new(),
        }
    }

    /// Saves a PNG of the window under `target/browser-screenshots/<name>.png`; returns the path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        use base64::Engine as _;
        let v = self.get("/screenshot").await.expect("screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or(""))
            .expect("a base64 PNG");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("create the screenshot directory");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        eprintln!("screenshot: {}", path.display());
        path
    }

    /// Closes the browser.
    pub async fn close(self) {
        drop(self);
    }
}

/// `<target dir>/browser-screenshots`: the test binary is `<target>/<profile>/deps/<name>`.
fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let target = exe
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("browser-screenshots")
}
