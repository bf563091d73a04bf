//! The Kubernetes launcher against written-down API conversations
//! (`kube_replay`): the real client (the `kube` crate) speaks HTTP to a
//! local server that answers as an API server does. No cluster can run
//! where these tests run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cortex_core::config::{KubernetesConfig, PodWorkdir, SecretKey};
use cortex_core::stream::Exit;
use cortex_engine::launcher::kubernetes::KubeLauncher;
use cortex_engine::launcher::slurm::home_id;
use cortex_engine::launcher::{Launch, Launcher, Poll, Signal};
use serde_json::Value;

use crate::kube_replay::Replay;
use crate::util::{cortex_bin, wait_until};

const WORKER: &str = "w-01hz8v4k2m9q3r5t7w0x1y2z3a";

fn config(kubeconfig: String, namespace: Option<&str>, workdir: PodWorkdir) -> KubernetesConfig {
    KubernetesConfig {
        kubeconfig: Some(kubeconfig),
        namespace: namespace.map(str::to_string),
        image: "registry.local/agents:1".into(),
        api_key: Some(SecretKey {
            secret: "anthropic".into(),
            key: "api-key".into(),
            env: "ANTHROPIC_API_KEY".into(),
        }),
        workdir: Some(workdir),
        poll_secs: 1,
        ..KubernetesConfig::default()
    }
}

fn claim() -> PodWorkdir {
    PodWorkdir::Claim {
        name: "agents-work".into(),
        sub_path: None,
    }
}

/// An attempt's folder and launch, as the driver makes them.
fn attempt(home: &Path, n: u32, cwd: &Path) -> Launch {
    let dir = home
        .join("workers")
        .join(WORKER)
        .join(format!("attempt-{n}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(home.join("heartbeats")).unwrap();
    let settings = home.join("hooks-settings.json");
    std::fs::write(
        &settings,
        format!(
            r#"{{"hooks": {{"PostToolUse": [{{"matcher": "*", "hooks": [{{"type": "command", "command": "'/opt/cortex/bin/cortex' heartbeat --home '{}' --hook PostToolUse", "timeout": 10}}]}}]}}}}"#,
            home.display()
        ),
    )
    .unwrap();
    let prompt = dir.join("prompt.txt");
    std::fs::write(
        &prompt,
        "Fix the failing checkout test; `rm -rf /` is text here.",
    )
    .unwrap();
    Launch {
        argv: [
            "/usr/local/bin/claude",
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--settings",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([settings.display().to_string()])
        .collect(),
        env: vec![
            ("CORTEX_WORKER_ID".into(), WORKER.into()),
            ("CORTEX_ATTEMPT".into(), n.to_string()),
            ("CORTEX_HOME".into(), home.display().to_string()),
        ],
        cwd: cwd.to_path_buf(),
        stdout: dir.join("stdout.jsonl"),
        stderr: dir.join("stderr.log"),
        stdin_fifo: None,
        stdin_file: Some(prompt),
        deadline_secs: Some(1800),
    }
}

fn base_of(launch: &Launch) -> PathBuf {
    launch.stdout.parent().unwrap().join("stdout")
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A repository with one commit (and a remote), its commit.
fn repo_with_commit(repo: &Path, remote: Option<&str>) -> String {
    std::fs::create_dir_all(repo).unwrap();
    git(repo, &["init", "-q"]);
    std::fs::write(repo.join("README"), "shop at its commit\n").unwrap();
    git(repo, &["add", "README"]);
    let who = ["-c", "user.name=t", "-c", "user.email=t@t"];
    git(repo, &[&who[..], &["commit", "-qm", "first"]].concat());
    if let Some(url) = remote {
        git(repo, &["remote", "add", "origin", url]);
    }
    git(repo, &["rev-parse", "HEAD"])
}

/// An attempt's files as an earlier owner left them (its log taken in up
/// to `first`, its marker), and the conversation `file` about its Job.
fn taken_in_by_an_earlier_owner(
    home: &Path,
    launch: &Launch,
    first: &str,
    marker: &str,
    file: &str,
) -> Replay {
    let base = base_of(launch);
    std::fs::write(&launch.stdout, first).unwrap();
    let offset = format!("{}.pod.offset", base.display());
    std::fs::write(offset, first.len().to_string()).unwrap();
    std::fs::write(format!("{}.pod.marker", base.display()), marker).unwrap();
    Replay::start(
        file,
        &[
            ("home", &home_id(home)),
            ("worker", WORKER),
            ("output", &base.display().to_string()),
            ("marker", marker),
        ],
    )
}

fn created_body(replay: &Replay) -> Value {
    replay
        .served()
        .into_iter()
        .find(|s| s.exchange.as_deref() == Some("create"))
        .expect("the Job was created")
        .body
}

#[test]
fn a_task_runs_as_a_job_and_its_log_survives_a_broken_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let repo = tmp.path().join("repo");
    let commit = repo_with_commit(&repo, Some("https://git.example/acme/shop.git"));
    let launch = attempt(&home, 1, &repo);
    let base = base_of(&launch).display().to_string();
    let replay = Replay::start(
        "runs.json",
        &[
            ("home", &home_id(&home)),
            ("worker", WORKER),
            ("output", &base),
        ],
    );
    let kubeconfig = replay.kubeconfig(tmp.path(), "agents");
    let clone = PodWorkdir::Clone {
        remote: "origin".into(),
    };
    let l = KubeLauncher::new(&home, config(kubeconfig, None, clone), 10).unwrap();
    l.prune();
    assert_eq!(
        l.check(),
        Ok("Kubernetes v1.33.1, namespace agents: Jobs can be listed".to_string())
    );

    let started = l.launch(&launch, WORKER, Some(1)).unwrap();
    wait_until(
        Duration::from_secs(30),
        "the shim's end through the log",
        || l.poll(started.pid) == Poll::Exited(Exit::Code(0)),
    );

    // Every line once, the one torn by the broken connection whole.
    let out = std::fs::read_to_string(&launch.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[0].contains("\"init\"") && lines[3].contains("\"result\""),
        "{out}"
    );
    assert!(lines[2].contains("cargo test"), "{out}");
    assert!(
        !out.contains("cortex-shim"),
        "no report line reaches the agent's stream"
    );
    assert_eq!(
        std::fs::read_to_string(&launch.stderr).unwrap(),
        "warning: retrying the API request\n"
    );
    let hb =
        std::fs::read_to_string(home.join("heartbeats").join(format!("{WORKER}.jsonl"))).unwrap();
    assert!(hb.contains("\"PostToolUse\""), "{hb}");
    assert!(replay.was_served("log-1") && replay.was_served("log-2"));
    // The handle is kept in the home, so a later owner never gives it again.
    assert_eq!(
        std::fs::read_to_string(home.join("kubernetes-handle")).unwrap(),
        started.pid.to_string()
    );
    assert!(
        replay.was_served("watch"),
        "the pod was watched out of Pending"
    );
    assert_eq!(l.ticks_per_second(), 100);

    // The Job: no retries, the deadline and grace, the key as a Secret file.
    let job = created_body(&replay);
    assert_eq!(job["spec"]["backoffLimit"], 0);
    assert_eq!(job["spec"]["activeDeadlineSeconds"], 1810);
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["terminationGracePeriodSeconds"], 10);
    assert_eq!(job["metadata"]["labels"]["cortex.dev/worker"], WORKER);
    assert_eq!(job["metadata"]["labels"]["cortex.dev/attempt"], "1");
    assert_eq!(
        job["metadata"]["labels"]["cortex.dev/handle"],
        started.pid.to_string()
    );
    assert!(
        job["metadata"]["name"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{WORKER}-a1")),
        "{job}"
    );
    let volumes = pod["volumes"].to_string();
    assert!(
        volumes.contains("\"secretName\":\"anthropic\""),
        "{volumes}"
    );
    let spec: Value =
        serde_json::from_str(pod["containers"][0]["env"][0]["value"].as_str().unwrap()).unwrap();
    let spec_text = spec.to_string();
    assert!(
        !spec_text.contains(&home.display().to_string()),
        "{spec_text}"
    );
    assert!(!spec_text.contains("/opt/cortex"), "{spec_text}");
    assert!(
        spec_text.contains("`rm -rf /` is text here"),
        "the prompt travels as content"
    );
    assert_eq!(
        spec["pod"]["clone"],
        serde_json::json!(["https://git.example/acme/shop.git", commit])
    );
    assert_eq!(spec["launch"]["argv"][0], "claude");

    for s in replay.served() {
        assert_eq!(
            s.authorization.as_deref(),
            Some("Bearer recorded-token-0123"),
            "{} {}",
            s.method,
            s.path
        );
    }
    assert_eq!(replay.unexpected(), Vec::<String>::new());
}

#[test]
fn a_job_an_earlier_owner_started_is_readopted_and_a_stop_deletes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let launch = attempt(&home, 2, tmp.path());
    // What the earlier owner took in before it died.
    let first = "{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b\"}\n";
    let replay = taken_in_by_an_earlier_owner(
        &home,
        &launch,
        first,
        "#cortex-shim-feedfacecafebeef ",
        "readopt.json",
    );
    let kubeconfig = replay.kubeconfig(tmp.path(), "agents");
    let l = KubeLauncher::new(&home, config(kubeconfig, Some("agents"), claim()), 10).unwrap();
    l.prune();

    assert!(l.is_same_process(41, None, WORKER));
    assert!(!l.is_same_process(41, None, "w-0000000000000000000000000a"));
    assert_eq!(l.running(WORKER, Some(2)), vec![41]);
    assert_eq!(l.running(WORKER, Some(1)), Vec::<u32>::new());
    wait_until(
        Duration::from_secs(20),
        "the log resumed after the offset",
        || {
            std::fs::read_to_string(&launch.stdout)
                .unwrap()
                .contains("migration")
        },
    );
    wait_until(Duration::from_secs(20), "its CPU time", || {
        l.sample().tree_cpu_ticks(41) == Some(250)
    });
    let out = std::fs::read_to_string(&launch.stdout).unwrap();
    assert_eq!(out.matches("\"init\"").count(), 1, "no line twice: {out}");
    assert_eq!(l.poll(41), Poll::Running);

    // `cortex extend` moves the cluster's deadline with Cortex's.
    l.extend_deadline(41, 600);
    let patch = replay
        .served()
        .into_iter()
        .find(|s| s.exchange.as_deref() == Some("extend"))
        .expect("the deadline was moved");
    assert_eq!(
        patch.body["spec"]["activeDeadlineSeconds"], 2410,
        "{}",
        patch.body
    );

    l.signal(41, Signal::Kill);
    let delete = replay
        .served()
        .into_iter()
        .find(|s| s.exchange.as_deref() == Some("delete-job"))
        .expect("the Job was deleted");
    assert_eq!(delete.body["gracePeriodSeconds"], 0, "{}", delete.body);
    assert_eq!(delete.body["propagationPolicy"], "Background");
    assert!(replay.was_served("delete-pods"), "its pods went at once");
    wait_until(
        Duration::from_secs(20),
        "the attempt settled as lost",
        || l.poll(41) == Poll::Exited(Exit::Unknown),
    );
    assert_eq!(l.running(WORKER, None), Vec::<u32>::new());
    assert_eq!(replay.unexpected(), Vec::<String>::new());
}

#[test]
fn a_forbidden_namespace_and_an_existing_job_are_said_plainly() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let launch = attempt(&home, 1, tmp.path());
    let replay = Replay::start("refusals.json", &[("home", &home_id(&home))]);
    let kubeconfig = replay.kubeconfig(tmp.path(), "agents");

    let locked = KubeLauncher::new(
        &home,
        config(kubeconfig.clone(), Some("locked"), claim()),
        10,
    )
    .unwrap();
    let why = locked.unreachable().expect("a refused list is said");
    assert!(
        why.contains("403 Forbidden") && why.contains("RBAC") && why.contains("locked"),
        "{why}"
    );
    let e = locked.launch(&launch, WORKER, Some(1)).unwrap_err();
    assert!(e.0.contains("403 Forbidden"), "{e:?}");

    let l = KubeLauncher::new(&home, config(kubeconfig, Some("agents"), claim()), 10).unwrap();
    l.prune();
    let e = l.launch(&launch, WORKER, Some(1)).unwrap_err();
    let name = format!("cortex-{}-{WORKER}-a1", home_id(&home));
    assert!(
        e.0.contains("already exists") && e.0.contains(&name),
        "{e:?}"
    );
    assert!(e.0.contains("never runs a second copy"), "{e:?}");
    assert_eq!(l.running(WORKER, None), Vec::<u32>::new());
    assert!(
        !replay.served().iter().any(|s| s.path.ends_with("/log")),
        "no log is followed for a Job that was not created"
    );
    assert_eq!(replay.unexpected(), Vec::<String>::new());
}

#[test]
fn the_shim_in_a_pod_prepares_the_attempt_and_writes_one_stream_the_owner_splits() {
    use cortex_engine::launcher::kubernetes::manifest::OwnerFiles;
    use cortex_engine::launcher::kubernetes::pump::Demux;
    use cortex_engine::launcher::shim::{PodPlan, ShimSpec};
    let tmp = tempfile::tempdir().unwrap();
    let (pod, owner) = (tmp.path().join("pod"), tmp.path().join("owner"));
    std::fs::create_dir_all(&owner).unwrap();
    let repo = tmp.path().join("repo");
    let commit = repo_with_commit(&repo, None);
    let secret = tmp.path().join("secret-api-key");
    std::fs::write(&secret, "sk-test-not-real\n").unwrap();
    let heartbeats = pod.join("home/heartbeats/w.jsonl");
    // The agent: reads its prompt, checks its key and that the spec is
    // hidden from it, works in the clone, checks in through a hook.
    let script = format!(
        "read -r p; echo \"{{\\\"prompt\\\":\\\"$p\\\"}}\"; \
         [ \"$ANTHROPIC_API_KEY\" = sk-test-not-real ] && echo '{{\"key\":\"ok\"}}'; \
         [ -z \"$CORTEX_SHIM_SPEC\" ] && echo '{{\"spec\":\"hidden\"}}'; \
         cat README >&2; echo '{{\"hook\":\"Stop\"}}' >> {}; exit 4",
        heartbeats.display()
    );
    let marker = "#cortex-shim-0123456789abcdef ".to_string();
    let spec = ShimSpec {
        launch: Launch {
            argv: vec!["sh".into(), "-c".into(), script],
            env: vec![],
            cwd: pod.join("workspace"),
            stdout: pod.join("attempt/stdout.jsonl"),
            stderr: pod.join("attempt/stderr.log"),
            stdin_fifo: None,
            stdin_file: Some(pod.join("attempt/prompt.txt")),
            deadline_secs: None,
        },
        sample_secs: 1,
        report: pod.join("attempt/shim.jsonl"),
        pod: Some(PodPlan {
            files: vec![(pod.join("attempt/prompt.txt"), "fix it\n".into())],
            env_files: vec![("ANTHROPIC_API_KEY".into(), secret)],
            clone: Some((repo.display().to_string(), commit)),
            heartbeats: Some(heartbeats),
            marker: marker.clone(),
        }),
    };
    let out = Command::new(cortex_bin())
        .args(["agent-shim", "--stream"])
        .env("CORTEX_SHIM_SPEC", serde_json::to_string(&spec).unwrap())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stream = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!stream.contains("sk-test-not-real"), "{stream}");

    let files = OwnerFiles::of(
        &owner.join("stdout"),
        owner.join("stdout.jsonl"),
        owner.join("stderr.log"),
    );
    let hb = owner.join("hb.jsonl");
    let mut demux = Demux::resume(files.clone(), hb.clone(), marker);
    // Fed in small pieces, as a log arrives.
    for piece in out.stdout.chunks(7) {
        demux.feed(piece);
    }
    assert!(demux.ended);
    assert_eq!(
        std::fs::read_to_string(&files.stdout).unwrap(),
        "{\"prompt\":\"fix it\"}\n{\"key\":\"ok\"}\n{\"spec\":\"hidden\"}\n"
    );
    assert_eq!(
        std::fs::read_to_string(&files.stderr).unwrap(),
        "shop at its commit\n"
    );
    assert_eq!(
        std::fs::read_to_string(&hb).unwrap(),
        "{\"hook\":\"Stop\"}\n"
    );
    let reports = std::fs::read_to_string(&files.report).unwrap();
    assert!(reports.contains("\"started\""), "{reports}");
    assert!(
        reports.trim_end().ends_with("{\"exited\":{\"code\":4}}"),
        "{reports}"
    );
}

#[test]
fn a_task_submitted_to_an_owner_on_kubernetes_completes_through_the_jobs_log() {
    let h = crate::util::TestHome::new();
    h.use_fake_agent();
    let replay = Replay::start("runs.json", &[("home", &home_id(h.path()))]);
    let kubeconfig = replay.kubeconfig(h.scratch.path(), "agents");
    h.configure(
        serde_json::json!({"launcher": {"kind": "kubernetes", "kubernetes": {
        "kubeconfig": kubeconfig, "image": "registry.local/agents:1",
        "api_key": {"secret": "anthropic"},
        "workdir": {"claim": {"name": "agents-work"}}, "poll_secs": 1}}}),
    );
    let check = h.json(&["config", "check"]);
    assert_eq!(check["launcher_check"]["reachable"], true, "{check}");
    let _owner = h.start_owner();
    let task = h.submit_in("fix the failing checkout test", &h.workdir());
    let done = h.wait_task_done(&task, Duration::from_secs(60));
    assert_eq!(done["status"], "completed", "{done}");
    let worker = crate::util::worker_of(&h, &task);
    assert_eq!(worker["state"], "completed", "{worker}");
    // What the agent said and spent came through the pod's log.
    assert_eq!(worker["result"], "Fixed: the test passes.", "{worker}");
    assert_eq!(worker["cost_usd"], 0.0123, "{worker}");
    assert_eq!(worker["tokens"]["output"], 340, "{worker}");
    assert!(
        replay.was_served("log-2"),
        "the log was resumed after the break"
    );
    assert_eq!(replay.unexpected(), Vec::<String>::new());
    // The cluster's token is in no log.
    for entry in std::fs::read_dir(h.file("logs")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        assert!(!text.contains("recorded-token-0123"), "{text}");
    }
}

#[test]
fn a_job_that_ended_while_no_owner_ran_has_its_whole_log_taken_in_before_it_settles() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let launch = attempt(&home, 3, tmp.path());
    let first = "{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e\"}\n";
    let replay = taken_in_by_an_earlier_owner(
        &home,
        &launch,
        first,
        "#cortex-shim-0badc0de0badc0de ",
        "finished.json",
    );
    let kubeconfig = replay.kubeconfig(tmp.path(), "agents");
    let config = config(kubeconfig, Some("agents"), claim());

    // A view (not the owner) says how it ended once the owner took it in.
    let view = KubeLauncher::new(&home, config.clone(), 10).unwrap();
    assert_eq!(view.poll(52), Poll::Exited(Exit::Unknown));

    let owner = KubeLauncher::new(&home, config.clone(), 10).unwrap();
    owner.prune();
    assert!(
        !owner.is_same_process(52, None, WORKER),
        "it is not running"
    );
    let out = std::fs::read_to_string(&launch.stdout).unwrap();
    assert!(
        out.ends_with("\"result\":\"The flaky test is fixed.\",\"total_cost_usd\":0.02,\"usage\":{\"input_tokens\":900,\"output_tokens\":120}}\n"),
        "the rest of the log was taken in before the answer: {out}"
    );
    assert_eq!(out.matches("\"init\"").count(), 1, "{out}");
    assert_eq!(owner.poll(52), Poll::Exited(Exit::Code(0)));
    let view = KubeLauncher::new(&home, config, 10).unwrap();
    assert_eq!(view.poll(52), Poll::Exited(Exit::Code(0)));
    assert_eq!(replay.unexpected(), Vec::<String>::new());
}
