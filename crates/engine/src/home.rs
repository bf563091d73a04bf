//! The coordination home: where it is, what lives in it, and its defaults.

use std::fs;
use std::path::{Path, PathBuf};

use cortex_core::config::{Config, ConfigError, ExpertProfile, ExpertSet};

use crate::error::EngineError;

mod init;

/// macOS bundle identifier; also names the data folder there.
pub const BUNDLE_ID: &str = "dev.cortex.desktop";

/// Shipped defaults, embedded so an installed binary can initialize a home
/// without the repository.
pub const DEFAULT_CONFIG: &str = include_str!("../../../coordination/config.json");
/// Shipped expert profiles, as (name, `experts/<name>.json` text), embedded like the config.
pub const DEFAULT_EXPERTS: [(&str, &str); 5] = [
    (
        "cicd",
        include_str!("../../../coordination/experts/cicd.json"),
    ),
    (
        "coordinator",
        include_str!("../../../coordination/experts/coordinator.json"),
    ),
    (
        "development",
        include_str!("../../../coordination/experts/development.json"),
    ),
    (
        "inventory",
        include_str!("../../../coordination/experts/inventory.json"),
    ),
    (
        "security",
        include_str!("../../../coordination/experts/security.json"),
    ),
];

/// Paths inside one coordination home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// A home at `root`; nothing is read or created until asked.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `--home` beats `CORTEX_HOME`, which beats the platform data folder.
    pub fn resolve(flag: Option<&Path>) -> Result<Self, EngineError> {
        if let Some(p) = flag {
            return Ok(Self::new(absolute(p)));
        }
        if let Some(p) = std::env::var_os("CORTEX_HOME").filter(|v| !v.is_empty()) {
            return Ok(Self::new(absolute(Path::new(&p))));
        }
        let base = dirs::data_dir().ok_or_else(|| EngineError::HomeUnusable {
            path: PathBuf::from("<platform data dir>"),
            message:
                "no platform data folder is known for this user: set CORTEX_HOME or pass --home"
                    .into(),
        })?;
        let leaf = if cfg!(target_os = "macos") {
            BUNDLE_ID
        } else {
            "cortex"
        };
        Ok(Self::new(base.join(leaf)))
    }

    /// The home's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `config.json`: the home's settings.
    pub fn config_file(&self) -> PathBuf {
        self.root.join("config.json")
    }
    /// `experts/`: one profile file per expert.
    pub fn experts_dir(&self) -> PathBuf {
        self.root.join("experts")
    }
    /// `journal.jsonl`: every change, in order; the truth the rest is rebuilt from.
    pub fn journal(&self) -> PathBuf {
        self.root.join("journal.jsonl")
    }
    /// `task-queue.json`: the task snapshot.
    pub fn task_snapshot(&self) -> PathBuf {
        self.root.join("task-queue.json")
    }
    /// `worker-pool.json`: the worker snapshot.
    pub fn worker_snapshot(&self) -> PathBuf {
        self.root.join("worker-pool.json")
    }
    /// The Claude Code settings every worker's agent gets: hooks that report
    /// to this home.
    pub fn hook_settings_file(&self) -> PathBuf {
        self.root.join("hooks-settings.json")
    }

    /// `pm-state.json`: the PM's picture of each worker and its metrics.
    pub fn pm_snapshot(&self) -> PathBuf {
        self.root.join("pm-state.json")
    }
    /// `routing-decisions.jsonl`: every routing decision in full.
    pub fn routing_log(&self) -> PathBuf {
        self.root.join("routing-decisions.jsonl")
    }
    /// `pm-activity.jsonl`: the PM's transitions and interventions, one per line.
    pub fn pm_activity(&self) -> PathBuf {
        self.root.join("pm-activity.jsonl")
    }
    /// `router-examples.jsonl`: what the router's learned layer is trained on.
    pub fn router_examples(&self) -> PathBuf {
        self.root.join("router-examples.jsonl")
    }
    /// Written by a long-running owner (`cortex run`, the app) while it waits
    /// for the lock: short CLI commands then queue in the inbox instead of
    /// taking the home themselves, so the owner gets its turn.
    pub fn owner_wanted_file(&self) -> PathBuf {
        self.root.join("cortex.lock.wanted")
    }
    /// True when a live long-running owner is waiting for the lock.
    pub fn owner_wanted(&self) -> bool {
        std::fs::read_to_string(self.owner_wanted_file())
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .is_some_and(crate::lock::pid_alive)
    }
    /// `cortex.lock`: the owner's lock, naming the owner while held.
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("cortex.lock")
    }
    /// `inbox/`: requests from processes that do not own the home.
    pub fn inbox(&self) -> PathBuf {
        self.root.join("inbox")
    }
    /// `inbox/processing/`: requests the owner has claimed and not yet answered.
    pub fn inbox_processing(&self) -> PathBuf {
        self.root.join("inbox").join("processing")
    }
    /// `inbox/acks/`: the owner's answers, one per request.
    pub fn inbox_acks(&self) -> PathBuf {
        self.root.join("inbox").join("acks")
    }
    /// `heartbeats/`: each worker's check-ins, in `<worker>.jsonl`.
    pub fn heartbeats(&self) -> PathBuf {
        self.root.join("heartbeats")
    }
    /// `workers/`: one folder per worker, one below it per attempt.
    pub fn workers_dir(&self) -> PathBuf {
        self.root.join("workers")
    }
    /// `logs/`: the log files of `cortex` commands and the owner.
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    /// `quarantine/`: files set aside as unreadable or foreign, kept for people to look at.
    pub fn quarantine(&self) -> PathBuf {
        self.root.join("quarantine")
    }

    /// Creates the folders and copies any missing default file: the
    /// shipped config, and the shipped expert profiles when the experts
    /// folder holds none (a person's own set of experts, or one they took
    /// a shipped expert out of, is theirs: nothing is added to it). Existing
    /// files are never overwritten. Returns the files it wrote.
    pub fn init(&self) -> Result<Vec<PathBuf>, EngineError> {
        let unusable = |e: std::io::Error, p: &Path| EngineError::HomeUnusable {
            path: p.to_path_buf(),
            message: e.to_string(),
        };
        // Something that is not a folder where the home belongs: said so,
        // as the person's mistake it is.
        if let Some(file) = self.root.ancestors().find(|a| a.exists() && !a.is_dir()) {
            return Err(EngineError::BadValue(format!(
                "{} is a file, not a folder: give --home (or CORTEX_HOME) a folder for the coordination home",
                file.display()
            )));
        }
        for d in [
            self.root.clone(),
            self.inbox(),
            self.inbox_processing(),
            self.inbox_acks(),
            self.heartbeats(),
            self.workers_dir(),
            self.logs(),
        ] {
            crate::files::create_dir_all(&d).map_err(|e| unusable(e, &d))?;
        }
        probe_writable(&self.root).map_err(|e| unusable(e, &self.root))?;
        let mut written = self.init_experts()?;
        let config = self.config_file();
        if !config.exists() {
            crate::snapshot::write_atomic(&config, DEFAULT_CONFIG.as_bytes())?;
            written.insert(0, config);
        }
        Ok(written)
    }

    /// Writes the shipped text of the expert profile at `path` when it is
    /// one of the shipped ones and nothing is there (after what stood there
    /// was set aside). Nothing for any other path.
    pub fn restore_shipped_expert(&self, path: &Path) -> Result<(), EngineError> {
        match self.shipped_expert_text(path) {
            Some(text) if fs::symlink_metadata(path).is_err() => {
                crate::snapshot::write_atomic(path, text.as_bytes())
            }
            _ => Ok(()),
        }
    }

    /// The shipped text of the expert file at `path`, if it is one of the
    /// shipped profiles' files.
    pub fn shipped_expert_text(&self, path: &Path) -> Option<&'static str> {
        DEFAULT_EXPERTS
            .iter()
            .find(|(name, _)| path == self.experts_dir().join(format!("{name}.json")).as_path())
            .map(|(_, text)| *text)
    }

    /// True once `init` has run (a config file exists).
    pub fn is_initialized(&self) -> bool {
        self.config_file().exists()
    }

    /// Reads and validates `config.json` and every `experts/*.json`.
    pub fn load_settings(&self) -> Result<(Config, ExpertSet), EngineError> {
        let texts = self.settings_texts()?;
        Ok(settings_of(&texts)?)
    }

    /// The settings files' texts: `config.json` first, then each expert's
    /// file by name.
    fn settings_texts(&self) -> Result<Vec<SettingsFile>, EngineError> {
        let mut texts = vec![SettingsFile {
            file: "config.json".into(),
            text: read_text(&self.config_file(), "config.json")?,
        }];
        let dir = self.experts_dir();
        let files = expert_files(&dir).map_err(|e| EngineError::io("cannot list", &dir, e))?;
        for f in files {
            match f.text {
                Ok(text) => texts.push(SettingsFile { file: f.rel, text }),
                Err(e) => return Err(read_error(&f.path, &f.rel, e)),
            }
        }
        Ok(texts)
    }

    /// `settings-in-use.json`: the settings an owner uses, written as it
    /// starts using them, so the views of other processes can still count
    /// costs and time limits while a file on disk is not valid.
    pub fn settings_in_use_file(&self) -> PathBuf {
        self.root.join("settings-in-use.json")
    }

    /// Records `in_use` as the settings an owner uses now: written as
    /// settings files would be (one text per file), and read back with the
    /// same rules, so a record that would not read back as `in_use` is not
    /// written.
    /// Unless `fresh` (an owner that runs on starts using them), a record
    /// of the same settings is kept as it is, with the time it was read.
    pub fn record_settings_in_use(
        &self,
        in_use: &(Config, ExpertSet),
        fresh: bool,
    ) -> Result<(), EngineError> {
        let mut files = vec![SettingsFile {
            file: "config.json".into(),
            text: json_text(&in_use.0)?,
        }];
        for p in in_use.1.iter() {
            files.push(SettingsFile {
                file: format!("experts/{}.json", p.name),
                text: json_text(p)?,
            });
        }
        if settings_of(&files).ok().as_ref() != Some(in_use) {
            return Err(EngineError::System(
                "the settings in use do not read back as themselves: not recorded".into(),
            ));
        }
        let path = self.settings_in_use_file();
        let same = self
            .recorded_in_use()
            .is_ok_and(|r| r.is_some_and(|r| r.files == files));
        if same && !fresh {
            return Ok(());
        }
        let record = InUse {
            read_at: chrono::Utc::now(),
            files,
        };
        let bytes = serde_json::to_vec_pretty(&record)
            .map_err(|e| EngineError::System(format!("cannot encode the settings in use: {e}")))?;
        crate::snapshot::replace(&path, &bytes).inspect_err(|_| {
            // An older record would be shown as what is in use: none is
            // better than that.
            let _ = fs::remove_file(&path);
        })
    }

    /// `settings-in-use.json` as recorded: none when there is no record,
    /// why not when there is one that cannot be read.
    fn recorded_in_use(&self) -> Result<Option<InUse>, String> {
        let bytes = match fs::read(self.settings_in_use_file()) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot be read: {e}")),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("cannot be read: {e}"))
    }

    /// The settings a view of the home counts with: the files on disk when
    /// they are valid; when one is not, the ones an owner last used (the
    /// owner keeps them while it runs, a later owner would refuse to start),
    /// said as such. With no such record the files' error is returned, and
    /// with one that cannot be used, that error naming the record too.
    pub fn settings_for_reading(&self) -> Result<ReadSettings, EngineError> {
        let problem = match self.load_settings() {
            Ok((config, experts)) => {
                return Ok(ReadSettings {
                    config,
                    experts,
                    not_read: None,
                })
            }
            // A home with no config.json is not one to read (`init`).
            Err(e) if !self.is_initialized() => return Err(e),
            // Invalid, or not readable at all (a settings folder moved
            // away, a file made unreadable): the settings in use stand.
            Err(e) => e,
        };
        let last = self.recorded_in_use().and_then(|r| {
            r.map(|r| {
                settings_of(&r.files)
                    .map(|s| (s, r.read_at))
                    .map_err(|e| format!("what it holds is not valid ({e})"))
            })
            .transpose()
        });
        match last {
            Ok(Some(((config, experts), read_at))) => Ok(ReadSettings {
                config,
                experts,
                not_read: Some(NotRead {
                    problem: problem.to_string(),
                    in_use_read_at: read_at,
                }),
            }),
            Ok(None) => Err(problem),
            Err(why) => Err(EngineError::NoUsableSettings {
                problem: Box::new(problem),
                why,
            }),
        }
    }
}

/// A settings value as a settings file's text.
fn json_text<T: serde::Serialize>(value: &T) -> Result<String, EngineError> {
    serde_json::to_string_pretty(value)
        .map_err(|e| EngineError::System(format!("cannot encode the settings in use: {e}")))
}

/// One settings file's text, by its name in the home.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct SettingsFile {
    file: String,
    text: String,
}

/// `settings-in-use.json`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct InUse {
    read_at: chrono::DateTime<chrono::Utc>,
    files: Vec<SettingsFile>,
}

/// Parses and validates settings files' texts (`config.json` first): the
/// one set of rules for what is on disk and what an owner last used.
fn settings_of(texts: &[SettingsFile]) -> Result<(Config, ExpertSet), ConfigError> {
    let (first, experts) = texts.split_first().ok_or_else(|| {
        ConfigError::new(
            "config.json",
            None,
            "file is missing: run `cortex init` to write the defaults",
        )
    })?;
    let config = Config::parse(&first.text)?;
    let profiles = experts
        .iter()
        .map(|f| Ok((f.file.clone(), ExpertProfile::parse(&f.file, &f.text)?)))
        .collect::<Result<Vec<_>, ConfigError>>()?;
    let experts = ExpertSet::new(profiles)?;
    config.validate_against(&experts)?;
    Ok((config, experts))
}

/// The settings a view counts with, and whether they are not the files on
/// disk.
#[derive(Debug, Clone)]
pub struct ReadSettings {
    /// `config.json`'s settings.
    pub config: Config,
    /// The expert profiles.
    pub experts: ExpertSet,
    /// Set when a file on disk is not valid and these are the ones an owner
    /// last used.
    pub not_read: Option<NotRead>,
}

/// Why the files on disk were not read, and when the settings used instead
/// were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRead {
    /// The first problem, as `cortex config check` names it.
    pub problem: String,
    /// When an owner read the settings used instead.
    pub in_use_read_at: chrono::DateTime<chrono::Utc>,
}

/// The shipped settings, for commands run without a home (a dry-run route,
/// an evaluation).
pub fn default_settings() -> (Config, ExpertSet) {
    let config = Config::parse(DEFAULT_CONFIG)
        .unwrap_or_else(|e| panic!("shipped config.json is invalid: {e}"));
    let profiles = DEFAULT_EXPERTS
        .iter()
        .map(|(name, text)| {
            let file = format!("experts/{name}.json");
            let p = ExpertProfile::parse(&file, text)
                .unwrap_or_else(|e| panic!("shipped expert file is invalid: {e}"));
            (file, p)
        })
        .collect();
    let experts =
        ExpertSet::new(profiles).unwrap_or_else(|e| panic!("shipped experts are invalid: {e}"));
    (config, experts)
}

fn read_text(path: &Path, rel: &str) -> Result<String, EngineError> {
    crate::files::read_regular_text(path).map_err(|e| read_error(path, rel, e))
}

/// Why a settings file could not be read, said as the file's problem when
/// it is one (missing, not text).
fn read_error(path: &Path, rel: &str, e: std::io::Error) -> EngineError {
    match e.kind() {
        std::io::ErrorKind::NotFound => ConfigError::new(
            rel,
            None,
            "file is missing: run `cortex init` to write the defaults",
        )
        .into(),
        std::io::ErrorKind::InvalidData => {
            ConfigError::new(rel, None, "not valid UTF-8 text, expected a JSON file").into()
        }
        // A folder or a FIFO in its place (`files::read_regular_text`).
        std::io::ErrorKind::InvalidInput => ConfigError::new(
            rel,
            None,
            format!("{e}: move it away (`cortex run` moves it to quarantine/)"),
        )
        .into(),
        _ => EngineError::io("cannot read", path, e),
    }
}

/// One expert profile file of a folder: where it is, its name as errors
/// give it (`experts/<file>`), and its text or why it could not be read.
#[derive(Debug)]
pub struct ExpertFile {
    /// Where it is.
    pub path: PathBuf,
    /// `experts/<file name>`.
    pub rel: String,
    /// Its text.
    pub text: std::io::Result<String>,
}

/// The `*.json` files of an experts folder, sorted by name, read: the one
/// place that lists and names expert profiles (the home's loader, `cortex
/// config check`, an evaluation on another folder).
pub fn expert_files(dir: &Path) -> std::io::Result<Vec<ExpertFile>> {
    Ok(expert_paths(dir)?
        .into_iter()
        .map(|path| {
            let rel = format!(
                "experts/{}",
                path.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            );
            let text = crate::files::read_regular_text(&path);
            ExpertFile { path, rel, text }
        })
        .collect())
}

/// The expert profiles' paths in `dir`, sorted, without reading them.
pub fn expert_paths(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        // An editor's lock or backup (`.#cicd.json`) is not a profile.
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();
    Ok(paths)
}

fn probe_writable(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".write-probe-{}", crate::files::unique_suffix()));
    fs::write(&probe, b"")?;
    fs::remove_file(&probe)
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_defaults_parse_and_cover_five_experts() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let written = home.init().unwrap();
        assert_eq!(written.len(), 6);
        let (config, experts) = home.load_settings().unwrap();
        assert_eq!(
            experts.names(),
            vec![
                "cicd",
                "coordinator",
                "development",
                "inventory",
                "security"
            ]
        );
        assert_eq!(config.routing.fallback_expert, "development");
    }

    #[test]
    fn a_home_made_by_many_at_once_is_read_whole_by_each() {
        // A command that finds some profiles written and not others took
        // the fallback expert for a wrong setting.
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("home");
            let readers: Vec<_> = (0..6)
                .map(|_| {
                    let home = Home::new(&root);
                    std::thread::spawn(move || {
                        home.init()?;
                        home.load_settings().map(|(_, e)| e.names().len())
                    })
                })
                .collect();
            for r in readers {
                assert_eq!(r.join().unwrap().expect("read whole"), 5);
            }
            let left: Vec<_> = fs::read_dir(&root)
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with(".experts-"))
                .collect();
            assert!(left.is_empty(), "no staging folder is left behind");
        }
        // An empty experts folder (made by hand, or by an older build) is
        // filled, and so is one that holds other files but no profile.
        for other in [None, Some(".gitkeep")] {
            let dir = tempfile::tempdir().unwrap();
            let home = Home::new(dir.path());
            fs::create_dir_all(home.experts_dir()).unwrap();
            if let Some(name) = other {
                fs::write(home.experts_dir().join(name), "").unwrap();
            }
            assert_eq!(home.init().unwrap().len(), 6, "{other:?}");
            assert_eq!(home.load_settings().unwrap().1.names().len(), 5);
            let staged = fs::read_dir(dir.path())
                .unwrap()
                .filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().starts_with(".experts-"));
            assert!(!staged, "no staging folder is left behind");
        }
    }

    #[test]
    fn init_never_overwrites_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        home.init().unwrap();
        fs::write(home.config_file(), r#"{"capacity": {"max_workers": 9}}"#).unwrap();
        assert!(home.init().unwrap().is_empty());
        assert_eq!(home.load_settings().unwrap().0.capacity.max_workers, 9);
    }

    #[test]
    fn a_view_counts_with_the_settings_an_owner_last_used_while_a_file_is_not_valid() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        home.init().unwrap();
        fs::write(home.config_file(), r#"{"capacity": {"max_workerz": 9}}"#).unwrap();
        let err = home.settings_for_reading().unwrap_err().to_string();
        assert!(
            err.contains("max_workerz"),
            "no record: the files' error: {err}"
        );

        // What the owner uses, whatever the files said since (an edit it
        // refused, a save while another file was refused).
        let mut in_use = default_settings();
        in_use.0.capacity.max_workers = 7;
        in_use.0.pricing.clear();
        home.record_settings_in_use(&in_use, true).unwrap();
        let read = home.settings_for_reading().unwrap();
        assert_eq!((read.config, read.experts), in_use);
        let n = read.not_read.unwrap();
        assert!(
            n.problem
                .starts_with("config.json: key `capacity.max_workerz`"),
            "{}",
            n.problem
        );
        // Valid files are read as they are.
        fs::write(home.config_file(), r#"{"capacity": {"max_workers": 9}}"#).unwrap();
        let read = home.settings_for_reading().unwrap();
        assert!(read.not_read.is_none());
        assert_eq!(read.config.capacity.max_workers, 9);
        // No config.json: not a home to read, whatever was recorded.
        fs::remove_file(home.config_file()).unwrap();
        assert!(home.settings_for_reading().is_err());
        // A record that cannot be used is no fallback, and the error names
        // it beside the file's problem, as bad a configuration as before.
        fs::write(home.config_file(), r#"{"capacity": {"max_workerz": 9}}"#).unwrap();
        fs::write(home.settings_in_use_file(), b"{").unwrap();
        let err = home.settings_for_reading().unwrap_err();
        let said = err.to_string();
        assert!(
            said.starts_with("config.json: key `capacity.max_workerz`")
                && said.contains("settings-in-use.json, the settings an owner last used, cannot stand in for them: cannot be read: EOF"),
            "{said}"
        );
        assert_eq!((err.code(), err.is_bad_input()), ("bad_config", true));
        // So is a record whose settings are not valid.
        let record = serde_json::json!({
            "read_at": "2026-01-01T00:00:00Z",
            "files": [{"file": "config.json", "text": "{\"capacity\": {\"max_workers\": 0}}"}]
        });
        fs::write(home.settings_in_use_file(), record.to_string()).unwrap();
        let said = home.settings_for_reading().unwrap_err().to_string();
        assert!(
            said.contains("cannot stand in for them: what it holds is not valid (config.json: key `capacity.max_workers`"),
            "{said}"
        );
    }

    #[test]
    fn a_fifo_or_a_folder_in_a_settings_file_s_place_is_refused_at_once_never_waited_on() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        home.init().unwrap();
        let fifo = home.experts_dir().join("zzz.json");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // Read on a thread: a reader that waited for a writer would hang.
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = home.clone();
        std::thread::spawn(move || {
            let _ = tx.send(
                reader
                    .load_settings()
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            );
        });
        let got = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("reading the settings waited on a FIFO");
        let why = got.expect_err("a FIFO is no expert file");
        assert!(
            why.contains("experts/zzz.json") && why.contains("not a regular file"),
            "{why}"
        );
        fs::remove_file(&fifo).unwrap();
        // A folder at config.json: a problem of that file, not an I/O failure.
        fs::remove_file(home.config_file()).unwrap();
        fs::create_dir(home.config_file()).unwrap();
        let why = home.load_settings().unwrap_err();
        assert!(matches!(why, EngineError::Config(_)), "{why:?}");
        assert!(why.to_string().contains("config.json: a folder"), "{why}");
    }

    #[test]
    fn a_bad_expert_file_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        home.init().unwrap();
        let p = home.experts_dir().join("security.json");
        let text = fs::read_to_string(&p)
            .unwrap()
            .replace("\"boosters\"", "\"boosterz\"");
        fs::write(&p, text).unwrap();
        let err = home.load_settings().unwrap_err().to_string();
        assert!(
            err.starts_with("experts/security.json: key `boosterz`: unknown field"),
            "{err}"
        );
    }
}
