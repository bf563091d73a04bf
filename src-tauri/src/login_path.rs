//! A GUI app launched from Finder gets launchd's minimal PATH, not the
//! user's: agent CLIs installed by Homebrew, npm or nvm are then "not
//! found". On macOS, before any worker is spawned, the login shell is asked
//! once for its PATH (with a deadline, its process group killed if a dotfile
//! hangs) and the result is merged into ours.

#[cfg(target_os = "macos")]
pub fn merge_login_shell_path() {
    use std::os::unix::process::CommandExt;
    use std::time::{Duration, Instant};

    let shell = std::env::var("SHELL").unwrap_or_else(|_| "/bin/zsh".into());
    let mut child = match std::process::Command::new(&shell)
        .args(["-l", "-c", "printf %s \"$PATH\""])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
    {
        Ok(c) => c,
        Err(_) => return,
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                // SAFETY: SIGKILL to the process group we just created.
                unsafe {
                    libc::kill(-(child.id() as i32), libc::SIGKILL);
                }
                let _ = child.wait();
                return;
            }
        }
    }
    let Ok(out) = child.wait_with_output() else {
        return;
    };
    let login = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if login.is_empty() {
        return;
    }
    let mut parts: Vec<String> = login.split(':').map(str::to_string).collect();
    for p in std::env::var("PATH").unwrap_or_default().split(':') {
        if !p.is_empty() && !parts.iter().any(|x| x == p) {
            parts.push(p.to_string());
        }
    }
    std::env::set_var("PATH", parts.join(":"));
}

#[cfg(not(target_os = "macos"))]
pub fn merge_login_shell_path() {}
