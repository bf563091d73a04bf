//! slurmrestd (`launcher.slurm.rest`): submitting, cancelling and reading
//! the queue over HTTP instead of with the client commands.
//!
//! Each call is one HTTP/1.1 exchange on a new connection (`Connection:
//! close`) with the same time limit as a Slurm command, authenticated as
//! slurmrestd's `rest_auth/jwt` expects: the user's name and a JWT, which
//! the launcher gets from `scontrol token` (or `SLURM_JWT`). The token goes
//! into a header only, never into a log line or an error.
//!
//! May depend on: the queue's types (`super::queue`), the configuration.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use cortex_core::config::SlurmRest;
use serde_json::{json, Map, Value};

use super::queue::Queued;

/// The API version asked for: the one Slurm 22.05 serves without an
/// accounting database.
const API: &str = "/slurm/v0.0.38";

/// slurmrestd as configured: where it listens, who requests act as, and the
/// job fields the configuration adds.
#[derive(Debug, Clone)]
pub(super) struct Client {
    addr: String,
    user: String,
    job: Map<String, Value>,
}

/// One answer: its status code and body.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Vec<u8>,
}

/// What Cortex sets on every job it submits.
pub(super) struct JobSpec<'a> {
    pub(super) name: &'a str,
    pub(super) comment: &'a str,
    pub(super) output: &'a str,
    pub(super) cwd: &'a str,
    pub(super) partition: Option<&'a str>,
    pub(super) script: &'a str,
}

impl Client {
    pub(super) fn new(rest: &SlurmRest) -> Self {
        Self {
            addr: rest.address().unwrap_or(rest.url.as_str()).to_string(),
            user: rest.user.clone().unwrap_or_else(current_user),
            job: rest.job.clone(),
        }
    }

    /// Submits a batch job; its id.
    pub(super) fn submit(&self, token: &str, spec: &JobSpec<'_>) -> Result<u32, String> {
        let mut job = self.job.clone();
        for (k, v) in [
            ("name", spec.name),
            ("comment", spec.comment),
            ("standard_output", spec.output),
            ("current_working_directory", spec.cwd),
        ] {
            job.insert(k.into(), v.into());
        }
        job.insert("requeue".into(), false.into());
        if let Some(p) = spec.partition {
            job.insert("partition".into(), p.into());
        }
        job.insert(
            "environment".into(),
            Value::Object(job_environment(std::env::vars())),
        );
        let body = json!({"script": spec.script, "job": job});
        let v = self.call(token, "POST", &format!("{API}/job/submit"), Some(&body))?;
        v["job_id"]
            .as_u64()
            .and_then(|id| u32::try_from(id).ok())
            .ok_or_else(|| format!("slurmrestd accepted the job but named no job id: {v}"))
    }

    /// Sends `signal` (`TERM`, `KILL`) to the job and everything it runs,
    /// its batch script included; with none, cancels it.
    pub(super) fn cancel(&self, token: &str, id: u32, signal: Option<&str>) -> Result<(), String> {
        let query = signal.map_or(String::new(), |s| format!("?signal={s}"));
        self.call(token, "DELETE", &format!("{API}/job/{id}{query}"), None)
            .map(|_| ())
    }

    /// This home's jobs (names starting with `prefix`) of the configured
    /// user, as the queue has them.
    pub(super) fn queue(&self, token: &str, prefix: &str) -> Result<HashMap<u32, Queued>, String> {
        let v = self.call(token, "GET", &format!("{API}/jobs"), None)?;
        let jobs = v["jobs"]
            .as_array()
            .ok_or_else(|| format!("slurmrestd's job list has no \"jobs\": {v}"))?;
        Ok(jobs
            .iter()
            .filter(|j| j["user_name"].as_str().is_none_or(|u| u == self.user))
            .filter_map(|j| {
                let id = u32::try_from(j["job_id"].as_u64()?).ok()?;
                let name = j["name"].as_str()?;
                // The job was submitted as a script's text: where its files
                // are comes from its output, `<attempt>/<stem>.slurm.out`.
                let out = j["standard_output"].as_str().unwrap_or("");
                let command = out
                    .strip_suffix(".slurm.out")
                    .map_or(String::new(), |stem| format!("{stem}.job.sh"));
                name.starts_with(prefix).then(|| {
                    (
                        id,
                        Queued {
                            name: name.to_string(),
                            state: j["job_state"].as_str().unwrap_or("UNKNOWN").to_string(),
                            command,
                            reason: j["state_reason"].as_str().unwrap_or("").to_string(),
                        },
                    )
                })
            })
            .collect())
    }

    /// Whether slurmrestd and the controller behind it answer: the
    /// partition's state, or the default partition's.
    pub(super) fn check(&self, token: &str, partition: Option<&str>) -> Result<String, String> {
        let v = self.call(token, "GET", &format!("{API}/partitions"), None)?;
        let parts = v["partitions"].as_array().cloned().unwrap_or_default();
        let found = parts.iter().find(|p| match partition {
            Some(name) => p["name"].as_str() == Some(name),
            None => p["flags"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x == "default")),
        });
        let p = found.or(parts.first()).ok_or_else(|| {
            "slurmrestd answered, but lists no partition (is the partition's name right?)"
                .to_string()
        })?;
        Ok(format!(
            "{} {} via slurmrestd at {}",
            p["name"].as_str().unwrap_or("?"),
            p["state"].as_str().unwrap_or("?").to_lowercase(),
            self.addr
        ))
    }

    /// One request; the answer's JSON, or what went wrong in words.
    fn call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, String> {
        let bytes = body.map(|b| b.to_string().into_bytes());
        let answer = exchange(
            &self.addr,
            method,
            path,
            &[
                ("X-SLURM-USER-NAME", self.user.as_str()),
                ("X-SLURM-USER-TOKEN", token),
            ],
            bytes.as_deref(),
            super::COMMAND_LIMIT,
        )?;
        let v: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        let said = v["errors"].as_array().and_then(|e| e.first()).map(|e| {
            e["error"]
                .as_str()
                .or(e["description"].as_str())
                .unwrap_or("an error")
                .to_string()
        });
        match (answer.status, said) {
            (200..=299, None) => Ok(v),
            (s, Some(e)) => {
                Err(format!("slurmrestd answered {s} to {method} {path}: {e}"))
            }
            (401 | 403, None) => Err(format!(
                "slurmrestd refused the token of user {} ({}): is it running with rest_auth/jwt, and the cluster with AuthAltTypes=auth/jwt?",
                self.user, answer.status
            )),
            (s, None) => Err(format!(
                "slurmrestd answered {s} to {method} {path}: {}",
                String::from_utf8_lossy(&answer.body).trim()
            )),
        }
    }
}

/// A job's environment: the submitter's, as `sbatch` passes it by default,
/// less the token Cortex acts with (an agent has no use for it).
fn job_environment(vars: impl Iterator<Item = (String, String)>) -> Map<String, Value> {
    vars.filter(|(k, _)| k != "SLURM_JWT")
        .map(|(k, v)| (k, v.into()))
        .collect()
}

/// The name of the user this process runs as.
fn current_user() -> String {
    if let Some(u) = std::env::var("USER").ok().filter(|u| !u.is_empty()) {
        return u;
    }
    // SAFETY: getpwuid returns a pointer into static storage or null; the
    // name is copied out at once, on the thread that asked.
    unsafe {
        let pw = libc::getpwuid(libc::getuid());
        if pw.is_null() || (*pw).pw_name.is_null() {
            return "root".into();
        }
        std::ffi::CStr::from_ptr((*pw).pw_name)
            .to_string_lossy()
            .into_owned()
    }
}

/// One HTTP/1.1 request on a new connection, read to its end.
fn exchange(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    limit: Duration,
) -> Result<Answer, String> {
    let unreachable = |e: std::io::Error| format!("slurmrestd at {addr} does not answer: {e}");
    let target = addr
        .to_socket_addrs()
        .map_err(unreachable)?
        .next()
        .ok_or_else(|| format!("slurmrestd's address {addr} resolves to nothing"))?;
    let mut stream = TcpStream::connect_timeout(&target, limit).map_err(unreachable)?;
    stream.set_read_timeout(Some(limit)).map_err(unreachable)?;
    stream.set_write_timeout(Some(limit)).map_err(unreachable)?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: application/json\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(body.unwrap_or_default());
    stream.write_all(&request).map_err(unreachable)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(unreachable)?;
    parse_answer(&raw).ok_or_else(|| {
        format!(
            "slurmrestd at {addr} answered something that is not HTTP ({} bytes)",
            raw.len()
        )
    })
}

/// The status and body of a whole HTTP/1.1 response (chunked or not).
fn parse_answer(raw: &[u8]) -> Option<Answer> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let mut chunked = false;
    let mut length = None;
    for l in lines {
        let (k, v) = l.split_once(':')?;
        match k.trim().to_ascii_lowercase().as_str() {
            "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
            "content-length" => length = v.trim().parse::<usize>().ok(),
            _ => {}
        }
    }
    let rest = &raw[end + 4..];
    let body = if chunked {
        let mut body = Vec::new();
        let mut at = 0;
        loop {
            let line_end = at + rest.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
            let size_text = std::str::from_utf8(&rest[at..line_end]).ok()?;
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            at = line_end + 2;
            if size == 0 {
                break;
            }
            body.extend_from_slice(rest.get(at..at + size)?);
            at += size + 2;
        }
        body
    } else {
        let n = length.unwrap_or(rest.len()).min(rest.len());
        rest[..n].to_vec()
    };
    Some(Answer { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A one-shot server: answers the first request with `response`, and
    /// hands back what it received.
    fn serve(
        response: impl AsRef<[u8]> + Send + 'static,
    ) -> (String, std::thread::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            // The request is small: read until its head and body are in.
            loop {
                let n = s.read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                    if got.len() >= end + 4 + len {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            s.write_all(response.as_ref()).unwrap();
            String::from_utf8_lossy(&got).to_string()
        });
        (addr, t)
    }

    /// A whole response with this status line and JSON body.
    fn http(status: &str, body: &str) -> Vec<u8> {
        format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
    }

    fn client(addr: &str) -> Client {
        Client::new(&SlurmRest {
            url: format!("http://{addr}"),
            user: Some("alice".into()),
            job: Map::from_iter([("account".to_string(), Value::from("ml"))]),
        })
    }

    #[test]
    fn a_job_is_submitted_with_cortexs_fields_and_the_token_in_a_header_only() {
        let (addr, got) = serve(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"job\r\nb\r\n_id\": 42, \"\r\nd\r\nerrors\": []}\n\r\n0\r\n\r\n",
        );
        let id = client(&addr)
            .submit(
                "secret-token",
                &JobSpec {
                    name: "cortex-abc-w-1-a1",
                    comment: "cortex home=abc worker=w-1 attempt=1",
                    output: "/h/workers/w-1/attempt-1/stdout.slurm.out",
                    cwd: "/work",
                    partition: Some("agents"),
                    script: "#!/bin/sh\nexec cortex agent-shim --spec '/x'\n",
                },
            )
            .unwrap();
        assert_eq!(id, 42);
        let request = got.join().unwrap();
        assert!(
            request.starts_with("POST /slurm/v0.0.38/job/submit HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(request.contains("X-SLURM-USER-NAME: alice\r\n"));
        assert!(request.contains("X-SLURM-USER-TOKEN: secret-token\r\n"));
        let body: Value =
            serde_json::from_str(&request[request.find("\r\n\r\n").unwrap() + 4..]).unwrap();
        assert_eq!(body["job"]["name"], "cortex-abc-w-1-a1");
        assert_eq!(body["job"]["requeue"], false);
        assert_eq!(body["job"]["partition"], "agents");
        assert_eq!(body["job"]["account"], "ml", "the configuration's fields");
        let env = body["job"]["environment"]
            .as_object()
            .expect("an environment");
        assert!(env.contains_key("PATH"), "{env:?}");
        let given = [("PATH", "/bin"), ("SLURM_JWT", "secret"), ("HOME", "/h")]
            .map(|(k, v)| (k.to_string(), v.to_string()));
        let passed = job_environment(given.into_iter());
        assert_eq!(
            passed.keys().collect::<Vec<_>>(),
            ["HOME", "PATH"],
            "the token stays with Cortex"
        );
        assert!(body["script"].as_str().unwrap().contains("agent-shim"));
    }

    #[test]
    fn slurms_own_words_come_back_and_a_refused_token_says_what_to_check() {
        let (addr, _got) = serve(http(
            "500 Internal Server Error",
            r#"{"errors": [{"error": "Invalid job id specified", "error_number": 2017}]}"#,
        ));
        let e = client(&addr).cancel("t", 7, Some("TERM")).unwrap_err();
        assert!(
            e.contains("500") && e.contains("Invalid job id specified"),
            "{e}"
        );
        let (addr, got) = serve(http("401 Unauthorized", ""));
        let e = client(&addr)
            .queue("secret-token", "cortex-abc-")
            .unwrap_err();
        assert!(
            e.contains("refused the token of user alice") && !e.contains("secret-token"),
            "{e}"
        );
        assert!(got.join().unwrap().starts_with("GET /slurm/v0.0.38/jobs "));
        let e = client("127.0.0.1:1").queue("t", "cortex-").unwrap_err();
        assert!(e.contains("does not answer"), "{e}");
    }

    #[test]
    fn the_queue_holds_this_homes_jobs_of_the_user_with_where_their_files_are() {
        let (addr, _got) = serve(http(
            "200 OK",
            r#"{"jobs": [
{"job_id": 12, "name": "cortex-abc-w-1-a1", "job_state": "RUNNING", "user_name": "alice", "standard_output": "/h/workers/w-1/attempt-1/stdout.slurm.out"},
{"job_id": 13, "name": "cortex-zzz-w-1-a1", "job_state": "RUNNING", "user_name": "alice"},
{"job_id": 14, "name": "cortex-abc-w-2-a1", "job_state": "PENDING", "user_name": "bob"}],
"errors": []}"#,
        ));
        let q = client(&addr).queue("t", "cortex-abc-").unwrap();
        assert_eq!(q.len(), 1, "{q:?}");
        assert_eq!(q[&12].state, "RUNNING");
        assert_eq!(
            super::super::queue::report_of_script(&q[&12].command),
            Some(std::path::PathBuf::from(
                "/h/workers/w-1/attempt-1/stdout.shim.jsonl"
            ))
        );
    }
}
