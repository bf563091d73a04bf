//! The pod's log, taken into the attempt's files on the owner's side.
//!
//! Theory of operation: the shim in the pod writes one stream (the agent's
//! lines, and its own reports behind the attempt's marker). `Demux` splits
//! it: the agent's lines go to `stdout.jsonl` as they are, its stderr to
//! `stderr.log`, the hooks' check-ins to the home's `heartbeats/`, the rest
//! of the reports to `shim.jsonl` (read as for a Slurm job). Only whole
//! lines are taken; how many bytes of the log were taken is kept in
//! `pod.offset`, the point a reconnect (or a later owner) resumes from: the
//! log is read again from its start and that many bytes are skipped. A
//! crash between writing lines and the offset repeats at most those lines.
//!
//! `follow` is the loop on the launcher's runtime: it waits (watch) for the
//! Job's pod to leave `Pending`, streams its log, and reconnects until the
//! shim's end has been read or the pod is gone.
//!
//! May depend on: the shim's reports, the manifest's file names.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{AsyncBufReadExt, StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job as KubeJob;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams, WatchEvent, WatchParams};

use super::cluster::phase;
use super::manifest::OwnerFiles;
use crate::launcher::shim::ShimReport;

/// Splits the pod's stream into the attempt's files (see the module doc).
#[derive(Debug)]
pub struct Demux {
    files: OwnerFiles,
    /// The home's check-ins of this worker.
    heartbeats: PathBuf,
    marker: String,
    /// Bytes of the log taken in so far.
    pub offset: u64,
    /// A line not yet complete.
    partial: Vec<u8>,
    /// The shim's end was read.
    pub ended: bool,
}

fn append(path: &Path, bytes: &[u8]) {
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(bytes);
    }
}

impl Demux {
    /// A demux resuming where `pod.offset` says the last one stopped.
    pub fn resume(files: OwnerFiles, heartbeats: PathBuf, marker: String) -> Self {
        let offset = std::fs::read_to_string(&files.offset)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let ended = crate::launcher::shim::read_reports(&files.report)
            .iter()
            .any(|r| r.exit().is_some());
        Self {
            files,
            heartbeats,
            marker,
            offset,
            partial: Vec::new(),
            ended,
        }
    }

    /// Forgets a torn line: the log is read again from `offset`.
    pub fn reconnect(&mut self) {
        self.partial.clear();
    }

    /// Takes in the bytes of the log that follow `offset + partial`.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.partial.extend_from_slice(bytes);
        let mut taken = 0usize;
        let (mut out, mut err, mut hb, mut rep) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        while let Some(i) = self.partial[taken..].iter().position(|b| *b == b'\n') {
            let line = &self.partial[taken..taken + i + 1];
            taken += i + 1;
            let report = line
                .strip_prefix(self.marker.as_bytes())
                .and_then(|json| serde_json::from_slice::<ShimReport>(json).ok());
            match report {
                None => out.extend_from_slice(line),
                Some(ShimReport::Stderr { line }) => {
                    err.extend_from_slice(line.as_bytes());
                    err.push(b'\n');
                }
                Some(ShimReport::Heartbeat { line }) => {
                    hb.extend_from_slice(line.as_bytes());
                    hb.push(b'\n');
                }
                Some(r) => {
                    self.ended |= r.exit().is_some();
                    if let Ok(json) = serde_json::to_string(&r) {
                        rep.extend_from_slice(json.as_bytes());
                        rep.push(b'\n');
                    }
                }
            }
        }
        if taken == 0 {
            return;
        }
        self.partial.drain(..taken);
        for (path, bytes) in [
            (&self.files.stdout, &out),
            (&self.files.stderr, &err),
            (&self.heartbeats, &hb),
            // Last: an end is read only after the lines before it.
            (&self.files.report, &rep),
        ] {
            if !bytes.is_empty() {
                append(path, bytes);
            }
        }
        self.offset += taken as u64;
        let _ = std::fs::write(&self.files.offset, self.offset.to_string());
    }
}

/// Waits until the Job `job`'s pod has left `Pending`: its name and
/// whether it has ended already; None when the Job is gone and left no
/// pod. Errors are the API's, for a retry.
async fn pod_started(
    pods: &Api<Pod>,
    jobs: &Api<KubeJob>,
    job: &str,
) -> Result<Option<(String, bool)>, kube::Error> {
    let selector = format!("job-name={job}");
    let found = |pod: &Pod| {
        let p = phase(pod);
        (p != "Pending").then(|| {
            let name = pod.metadata.name.clone().unwrap_or_default();
            (name, p == "Succeeded" || p == "Failed")
        })
    };
    loop {
        let list = pods.list(&ListParams::default().labels(&selector)).await?;
        if let Some(started) = list.items.iter().find_map(found) {
            return Ok(Some(started));
        }
        if list.items.is_empty() && jobs.get_opt(job).await?.is_none() {
            return Ok(None);
        }
        let version = list.metadata.resource_version.clone().unwrap_or_default();
        let wp = WatchParams::default().labels(&selector).timeout(60);
        let mut events = pods.watch(&wp, &version).await?.boxed();
        while let Some(event) = events.try_next().await? {
            match event {
                WatchEvent::Added(pod) | WatchEvent::Modified(pod) => {
                    if let Some(started) = found(&pod) {
                        return Ok(Some(started));
                    }
                }
                // Listed again: the Job may be gone with it.
                WatchEvent::Deleted(_) => break,
                WatchEvent::Bookmark(_) => {}
                WatchEvent::Error(e) => return Err(kube::Error::Api(e)),
            }
        }
    }
}

/// Streams the pod's log into `demux` once; true when the log ended (the
/// container is gone), false when the connection broke.
async fn stream_once(pods: &Api<Pod>, pod: &str, demux: &mut Demux) -> Result<bool, kube::Error> {
    let lp = LogParams {
        follow: true,
        ..LogParams::default()
    };
    let mut reader = pods.log_stream(pod, &lp).await?;
    let mut skip = demux.offset;
    demux.reconnect();
    loop {
        let buf = match reader.fill_buf().await {
            Ok([]) => return Ok(true),
            Ok(b) => b,
            Err(_) => return Ok(false),
        };
        let n = buf.len();
        let drop = usize::try_from(skip.min(n as u64)).unwrap_or(n);
        skip -= drop as u64;
        if drop < n {
            demux.feed(&buf[drop..]);
        }
        reader.consume_unpin(n);
    }
}

/// Follows the Job `job`'s pod until the shim's end was read, the pod is
/// gone, or `stop` is set (see the module doc).
pub async fn follow(
    pods: Api<Pod>,
    jobs: Api<KubeJob>,
    job: String,
    mut demux: Demux,
    stop: Arc<AtomicBool>,
) {
    let mut wait = Duration::from_millis(250);
    while !demux.ended && !stop.load(Ordering::SeqCst) {
        let step = async {
            let Some((pod, ended)) = pod_started(&pods, &jobs, &job).await? else {
                // The Job is gone and left no pod: nothing more will come.
                return Ok(true);
            };
            let complete = stream_once(&pods, &pod, &mut demux).await?;
            Ok::<bool, kube::Error>(complete && ended)
        };
        match step.await {
            // The log of an ended pod was read to its end: nothing follows.
            Ok(true) => break,
            Ok(false) => wait = Duration::from_millis(250),
            Err(kube::Error::Api(s)) if s.code == 404 => break,
            Err(e) => {
                tracing::debug!(job, "the pod's log broke off: {e}");
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
        if !demux.ended {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_split_by_the_marker_and_torn_lines_wait() {
        let d = tempfile::tempdir().unwrap();
        let files = OwnerFiles::of(
            &d.path().join("stdout"),
            d.path().join("stdout.jsonl"),
            d.path().join("stderr.log"),
        );
        let hb = d.path().join("hb.jsonl");
        let mut m = Demux::resume(files.clone(), hb.clone(), "@k1 ".into());
        m.feed(b"{\"type\":\"system\"}\n@k1 {\"started\":{\"pid\":1,\"node\":\"n\",\"ticks_per_second\":100}}\n@k1 {\"stderr\":{\"line\":\"warn\"}}\n{\"type\":");
        assert_eq!(
            std::fs::read_to_string(&files.stdout).unwrap(),
            "{\"type\":\"system\"}\n"
        );
        assert_eq!(std::fs::read_to_string(&files.stderr).unwrap(), "warn\n");
        assert!(!m.ended);
        // A forged end without the marker is the agent's own line.
        m.feed(b"\"result\"}\n{\"exited\":{\"code\":0}}\n@k1 {\"heartbeat\":{\"line\":\"{}\"}}\n@k1 {\"exited\":{\"code\":3}}\n");
        assert!(m.ended);
        let out = std::fs::read_to_string(&files.stdout).unwrap();
        assert!(
            out.ends_with("{\"type\":\"result\"}\n{\"exited\":{\"code\":0}}\n"),
            "{out}"
        );
        assert_eq!(std::fs::read_to_string(&hb).unwrap(), "{}\n");
        let reports = crate::launcher::shim::read_reports(&files.report);
        assert_eq!(reports.last(), Some(&ShimReport::Exited { code: 3 }));
        // The offset counts whole lines only, and a later owner resumes there.
        let again = Demux::resume(files.clone(), hb, "@k1 ".into());
        assert_eq!(again.offset, m.offset);
        assert!(again.ended);
    }
}
