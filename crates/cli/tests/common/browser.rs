//! A browser without JavaScript, as the console's tests drive it: one request per
//! connection over HTTP/1.0, cookies kept by hand, no redirect followed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nightshift_core::{IncidentId, State};
use nightshift_store::{IncidentFilter, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the agent answered.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `Set-Cookie` header that sets `name`.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .find(|v| v.starts_with(&format!("{name}=")))
    }

    /// The value `name` is set to.
    pub fn cookie_value(&self, name: &str) -> Option<String> {
        self.set_cookie(name)
            .and_then(|v| v.split(';').next())
            .and_then(|kv| kv.split_once('='))
            .map(|(_, v)| v.to_string())
    }

    /// The value of the hidden field `name` (the first one).
    pub fn hidden(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let at = self.body.find(&marker)? + marker.len();
        let end = self.body[at..].find('"')?;
        Some(self.body[at..at + end].to_string())
    }
}

/// One request over HTTP/1.0 with `headers` and a raw body.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Page {
    let mut head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if method == "POST" {
        head.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw.as_str(), ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {raw:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Page {
        status,
        headers,
        body: body.to_string(),
    }
}

/// A browser: one agent, its cookies.
pub struct Browser {
    pub addr: SocketAddr,
    pub cookies: HashMap<String, String>,
}

impl Browser {
    pub fn new(addr: SocketAddr) -> Self {
        Browser {
            addr,
            cookies: HashMap::new(),
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn keep(&mut self, page: &Page) {
        for (k, v) in &page.headers {
            if !k.eq_ignore_ascii_case("set-cookie") {
                continue;
            }
            let pair = v.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || v.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let cookie = self.cookie_header();
        let page = send(self.addr, "GET", path, &[("Cookie", &cookie)], b"").await;
        self.keep(&page);
        page
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(form).unwrap();
        self.post_raw(path, body.as_bytes()).await
    }

    pub async fn post_raw(&mut self, path: &str, body: &[u8]) -> Page {
        let cookie = self.cookie_header();
        let page = send(self.addr, "POST", path, &[("Cookie", &cookie)], body).await;
        self.keep(&page);
        page
    }

    /// Signs in with `token` through the form; the answer to the form's POST.
    pub async fn sign_in(&mut self, token: &str, next: &str) -> Page {
        let form = self
            .get(&format!(
                "/console/sign-in?{}",
                serde_urlencoded::to_string([("next", next)]).unwrap()
            ))
            .await;
        assert_eq!(form.status, 200, "{}", form.body);
        let csrf = form
            .hidden("csrf")
            .expect("the sign-in form has a csrf field");
        assert_eq!(form.cookie_value("nightshift_sign_in"), Some(csrf.clone()));
        self.post(
            "/console/sign-in",
            &[("csrf", &csrf), ("next", next), ("token", token)],
        )
        .await
    }

    /// The CSRF token of the session, from the sign-out form every page carries.
    pub async fn csrf(&mut self, path: &str) -> String {
        let page = self.get(path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        page.hidden("csrf").expect("a page with a csrf field")
    }
}

/// The first incident of `store` that waits for approval, waited for up to 150 seconds.
pub async fn awaiting(store: &Store) -> IncidentId {
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        let list = store.list(&IncidentFilter::default()).await.unwrap();
        if let Some(i) = list
            .into_iter()
            .find(|i| i.incident.state == State::AwaitingApproval)
        {
            return i.incident.id;
        }
        assert!(Instant::now() < deadline, "no approval was asked for");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A lab running the deadlocked-worker scenario at 60× with `auth`: its plan (a pod restart)
/// waits for an approval when `approve` puts the lab's policy in approve mode.
pub async fn deadlock_lab(
    db: std::path::PathBuf,
    auth: nightshift_agent::http::Auth,
    approve: bool,
) -> nightshift::lab::Lab {
    use nightshift::lab::{LAB_POLICY, Lab, LabOptions};
    let mut opts = LabOptions::new(db);
    opts.speed = 60.0;
    if approve {
        opts.policy = nightshift_core::policy::Policy::parse(
            &LAB_POLICY.replace("\nmode: auto\n", "\nmode: approve\n"),
            "policy.yaml",
        )
        .unwrap();
    }
    opts.engine = nightshift_agent::engine::EngineConfig {
        settle: Duration::from_secs(5),
        ..Default::default()
    };
    opts.auth = auth;
    let scenario =
        nightshift_scenario::load_file(&super::scenario_path("hang-orders-worker-deadlock"))
            .unwrap();
    Lab::start(&scenario, opts).await.unwrap()
}
