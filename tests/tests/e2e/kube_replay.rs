//! A Kubernetes API server that answers from a written-down conversation
//! (`tests/data/kubernetes/*.json`): request/response pairs in the shape a
//! real API server gives them, served on 127.0.0.1 over plain HTTP/1.1.
//!
//! Each exchange names a method, a path and the query parameters it needs;
//! a request takes the first exchange (in file order) that matches, is
//! active (`after` was served, `until` was not) and is not used up
//! (`times`, default 1; `repeat` never is). Streams (watch, logs) are sent
//! as chunks; `break` ends one without its last chunk, as a dropped
//! connection does; `hold_until` keeps one open until another exchange was
//! served. `{{name}}` in paths, queries and answers stands for a value the
//! test gives or the Job creation carried (job, handle, marker).
//! A request nothing answers gets a 501 and is kept for the test to fail on.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// One request as served.
#[derive(Debug, Clone)]
pub struct Served {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    pub body: Value,
    pub authorization: Option<String>,
    /// The exchange that answered, if one did.
    pub exchange: Option<String>,
}

#[derive(Default)]
struct Shared {
    exchanges: Vec<Value>,
    used: Vec<u32>,
    vars: HashMap<String, String>,
    served: Vec<Served>,
}

/// A replaying API server; stops accepting when dropped.
pub struct Replay {
    pub url: String,
    shared: Arc<Mutex<Shared>>,
    port: u16,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

fn load(name: &str) -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/kubernetes")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["exchanges"].as_array().unwrap().clone()
}

fn fill(s: &str, vars: &HashMap<String, String>) -> String {
    let mut out = s.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Replay {
    /// Serves the conversation in `file`, with `vars` known from the start.
    pub fn start(file: &str, vars: &[(&str, &str)]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let exchanges = load(file);
        let shared = Arc::new(Mutex::new(Shared {
            used: vec![0; exchanges.len()],
            exchanges,
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            served: Vec::new(),
        }));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s, st) = (shared.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || serve(&s, conn));
            }
        });
        Self {
            url: format!("http://127.0.0.1:{port}"),
            shared,
            port,
            stop,
        }
    }

    /// A kubeconfig for this server, written into `dir`: its path.
    pub fn kubeconfig(&self, dir: &std::path::Path, namespace: &str) -> String {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: replay\n  cluster:\n    server: {}\nusers:\n- name: cortex\n  user:\n    token: recorded-token-0123\ncontexts:\n- name: replay\n  context:\n    cluster: replay\n    user: cortex\n    namespace: {namespace}\ncurrent-context: replay\n",
            self.url
        );
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    /// Every request so far.
    pub fn served(&self) -> Vec<Served> {
        self.shared.lock().unwrap().served.clone()
    }

    /// Whether the exchange `id` was served.
    pub fn was_served(&self, id: &str) -> bool {
        self.served()
            .iter()
            .any(|s| s.exchange.as_deref() == Some(id))
    }

    /// Requests the conversation had no answer for.
    pub fn unexpected(&self) -> Vec<String> {
        self.served()
            .iter()
            .filter(|s| s.exchange.is_none())
            .map(|s| format!("{} {} {:?}", s.method, s.path, s.query))
            .collect()
    }
}

impl Drop for Replay {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wakes the accepting thread so it sees `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

struct Request {
    method: String,
    path: String,
    query: HashMap<String, String>,
    body: Value,
    authorization: Option<String>,
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let (mut length, mut authorization) = (0usize, None);
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        match k.to_ascii_lowercase().as_str() {
            "content-length" => length = v.trim().parse().unwrap_or(0),
            "authorization" => authorization = Some(v.trim().to_string()),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body).ok()?;
    let (path, q) = target.split_once('?').unwrap_or((&target, ""));
    let query = q
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    Some(Request {
        method,
        path: path.to_string(),
        query,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        authorization,
    })
}

/// Learns what the Job creation carried: its name, handle and the shim's marker.
fn learn(vars: &mut HashMap<String, String>, body: &Value) {
    if let Some(name) = body["metadata"]["name"].as_str() {
        vars.insert("job".into(), name.into());
    }
    if let Some(h) = body["metadata"]["labels"]["cortex.dev/handle"].as_str() {
        vars.insert("handle".into(), h.into());
    }
    if let Some(w) = body["metadata"]["labels"]["cortex.dev/worker"].as_str() {
        vars.insert("worker".into(), w.into());
    }
    if let Some(o) = body["metadata"]["annotations"]["cortex.dev/output"].as_str() {
        vars.insert("output".into(), o.into());
    }
    let env = &body["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"];
    if let Some(spec) = env
        .as_str()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
    {
        if let Some(m) = spec["pod"]["marker"].as_str() {
            vars.insert("marker".into(), m.into());
        }
    }
}

fn pick(sh: &mut Shared, req: &Request) -> Option<usize> {
    let served = |id: &str| sh.served.iter().any(|s| s.exchange.as_deref() == Some(id));
    (0..sh.exchanges.len()).find(|&i| {
        let x = &sh.exchanges[i];
        let want = &x["request"];
        let same = want["method"].as_str() == Some(&req.method)
            && fill(want["path"].as_str().unwrap_or(""), &sh.vars) == req.path
            && want["query"].as_object().is_none_or(|q| {
                q.iter().all(|(k, v)| {
                    req.query.get(k).map(String::as_str)
                        == Some(fill(v.as_str().unwrap_or(""), &sh.vars).as_str())
                })
            });
        let active =
            x["after"].as_str().is_none_or(served) && !x["until"].as_str().is_some_and(served);
        let left = x["repeat"].as_bool() == Some(true)
            || sh.used[i] < x["times"].as_u64().unwrap_or(1) as u32;
        same && active && left
    })
}

fn serve(shared: &Arc<Mutex<Shared>>, conn: TcpStream) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut out = conn;
    while let Some(req) = read_request(&mut reader) {
        let (answer, vars) = {
            let mut sh = shared.lock().unwrap();
            let i = pick(&mut sh, &req);
            if req.method == "POST" && i.is_some() {
                learn(&mut sh.vars, &req.body);
            }
            if let Some(i) = i {
                sh.used[i] += 1;
            }
            let id = i.map(|i| sh.exchanges[i]["id"].as_str().unwrap_or("").to_string());
            sh.served.push(Served {
                method: req.method.clone(),
                path: req.path.clone(),
                query: req.query.clone(),
                body: req.body.clone(),
                authorization: req.authorization.clone(),
                exchange: id,
            });
            (
                i.map(|i| sh.exchanges[i]["response"].clone()),
                sh.vars.clone(),
            )
        };
        let Some(answer) = answer else {
            let body = format!(
                "{{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":\"the recorded conversation has no answer for {} {}\",\"code\":501}}",
                req.method, req.path
            );
            let _ = write!(
                out,
                "HTTP/1.1 501 Not Implemented\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            continue;
        };
        let status = answer["status"].as_u64().unwrap_or(200);
        if let Some(chunks) = answer["chunks"].as_array() {
            let _ = write!(
                out,
                "HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            );
            for c in chunks {
                let text = fill(c.as_str().unwrap_or(""), &vars);
                let _ = write!(out, "{:x}\r\n{text}\r\n", text.len());
                let _ = out.flush();
                std::thread::sleep(Duration::from_millis(20));
            }
            if let Some(id) = answer["hold_until"].as_str() {
                let deadline = Instant::now() + Duration::from_secs(20);
                while Instant::now() < deadline
                    && !shared
                        .lock()
                        .unwrap()
                        .served
                        .iter()
                        .any(|s| s.exchange.as_deref() == Some(id))
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            if answer["break"].as_bool() == Some(true) {
                let _ = out.shutdown(std::net::Shutdown::Both);
                return;
            }
            let _ = write!(out, "0\r\n\r\n");
            let _ = out.flush();
            continue;
        }
        let body = fill(&answer["body"].to_string(), &vars);
        let reason = match status {
            200 => "OK",
            201 => "Created",
            403 => "Forbidden",
            404 => "Not Found",
            409 => "Conflict",
            _ => "Status",
        };
        let _ = write!(
            out,
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = out.flush();
    }
}
