//! `cortex doctor`: what a home needs to run workers, checked: the agent
//! binary, the settings files, notifications and where workers run.

use cortex_engine::Home;

use crate::commands::print_json;
use crate::Failure;

type Result<T> = std::result::Result<T, Failure>;

pub(crate) fn doctor(home: &Home, json: bool) -> Result<()> {
    // Doctor reports settings that are not valid rather than stopping at
    // them: the agent command is then the one an owner last used, or the
    // default when none did, and says which.
    let read = home.is_initialized().then(|| home.settings_for_reading());
    // Its secrets hidden: a settings file's problem quotes its text.
    let settings_problem = match &read {
        Some(Err(e)) => Some(e.to_string()),
        Some(Ok(s)) => s.not_read.as_ref().map(|n| n.problem.clone()),
        None => None,
    }
    .map(|p| cortex_core::redact::redact(&p));
    let (command, whose) = match (cortex_engine::driver::command_override(), &read) {
        (Err(m), _) => return Err(Failure::bad_input("bad_config", m)),
        (Ok(Some(c)), _) => (c, " (CORTEX_AGENT_COMMAND)"),
        (Ok(None), Some(Ok(s))) if s.not_read.is_some() => (
            s.config.agent.command.clone(),
            " (the one an owner last used: a settings file is not valid)",
        ),
        (Ok(None), Some(Ok(s))) => (s.config.agent.command.clone(), ""),
        (Ok(None), Some(Err(_))) => (
            cortex_engine::home::default_settings().0.agent.command,
            " (the default: a settings file is not valid)",
        ),
        (Ok(None), None) => (cortex_engine::home::default_settings().0.agent.command, ""),
    };
    let d = secrets_hidden(cortex_engine::views::doctor_for(home, command));
    let bus = std::env::var("DBUS_SESSION_BUS_ADDRESS").is_ok();
    let notifications = if cfg!(target_os = "macos") {
        "delivered by the desktop app (needs the bundled, signed app)"
    } else if bus {
        "a D-Bus session is present: the desktop app can notify"
    } else {
        "no D-Bus session: desktop notifications cannot be delivered from here"
    };
    if json {
        let mut v = serde_json::to_value(&d).unwrap_or_default();
        v["notifications"] = notifications.into();
        v["initialized"] = home.is_initialized().into();
        v["settings_problem"] = settings_problem.clone().into();
        print_json(&v);
        return Ok(());
    }
    println!(
        "home:          {}{}",
        d.home,
        if home.is_initialized() {
            ""
        } else {
            " (not initialized)"
        }
    );
    match &settings_problem {
        Some(p) => say!("settings:      NOT VALID: {p}"),
        None if home.is_initialized() => println!("settings:      valid"),
        None => {}
    }
    println!("agent command: {}{whose}", command_words(&d.agent_command));
    match (&d.agent_resolved, &d.agent_version) {
        // Found from here, yet not as workers would find it (a relative path).
        (Some(p), _) if d.agent_problem.is_some() => say!(
            "agent binary:  {p} from here, but: {}",
            d.agent_problem.as_deref().unwrap_or_default()
        ),
        // Its version is what the binary printed: shown, not acted on.
        (Some(p), Some(v)) => println!(
            "agent binary:  {p} ({})",
            cortex_core::terminal::one_line(v)
        ),
        (Some(p), None) => println!("agent binary:  {p} (no version reported)"),
        (None, _) => say!(
            "agent binary:  NOT FOUND: {}",
            d.agent_problem.as_deref().unwrap_or("unknown")
        ),
    }
    println!("notifications: {notifications}");
    match &d.launcher_check {
        None => println!("workers run:   {}", d.launcher),
        Some(c) if c.reachable => println!(
            "workers run:   {} (the cluster answers: {})",
            d.launcher, c.detail
        ),
        Some(c) => println!(
            "workers run:   {} (CANNOT RUN WORKERS: {})",
            d.launcher, c.detail
        ),
    }
    println!("PATH:          {}", d.path);
    if d.agent_resolved.is_none() {
        return Err(Failure::runtime(
            "agent_missing",
            "the agent binary was not found",
        ));
    }
    if let Some(problem) = &d.agent_problem {
        return Err(Failure::runtime("agent_unusable", problem.clone()));
    }
    if let Some(c) = d.launcher_check.as_ref().filter(|c| !c.reachable) {
        return Err(Failure::runtime(
            "cluster_unreachable",
            format!("the {} cluster does not answer: {}", d.launcher, c.detail),
        ));
    }
    settings_problem.map_or(Ok(()), |p| Err(doctor_settings_failure(&p)))
}

/// The agent command as doctor says it: its words joined, so a secret
/// given as an option's next word is seen as one, and hidden; its control
/// characters escaped (it is read from a settings file).
fn command_words(command: &[String]) -> String {
    cortex_core::terminal::one_line(&cortex_core::redact::redact(&command.join(" "))).into_owned()
}

/// Doctor's report with the agent command's secrets hidden: an API key may
/// be set on it (`env ANTHROPIC_API_KEY=... claude`).
fn secrets_hidden(mut d: cortex_engine::views::Doctor) -> cortex_engine::views::Doctor {
    for word in &mut d.agent_command {
        *word = cortex_core::redact::redact(word);
    }
    d
}

/// Doctor's failure for settings files that are not valid (exit code 2, as
/// `cortex config check` gives).
fn doctor_settings_failure(problem: &str) -> Failure {
    Failure::bad_input(
        "bad_config",
        format!(
            "the settings are not valid: {problem} (`cortex config check` lists every problem)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_command_is_shown_with_its_secrets_hidden() {
        let d: cortex_engine::views::Doctor = serde_json::from_value(serde_json::json!({
            "agent_command": ["env", "ANTHROPIC_API_KEY=sk-ant-api03-CMDSECRET0123456789abcd", "claude"],
            "agent_resolved": null, "agent_version": null, "home": "/h", "path": "/bin"
        }))
        .expect("a report");
        assert_eq!(
            secrets_hidden(d).agent_command,
            ["env", "ANTHROPIC_API_KEY=[redacted]", "claude"]
        );
    }

    #[test]
    fn the_agent_command_is_said_on_one_line_with_its_secrets_hidden() {
        let command = ["claude\u{1b}[2J", "--api-key", "abcdef123456zz"];
        let command: Vec<String> = command.iter().map(|w| (*w).to_string()).collect();
        assert_eq!(
            command_words(&command),
            "claude\\u{1b}[2J --api-key [redacted]"
        );
    }
}
