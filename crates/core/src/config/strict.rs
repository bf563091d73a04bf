//! Reading a settings file strictly: every key known, each problem named by
//! its key path, and, to report them all, reading on past each one.

use serde::de::DeserializeOwned;

use super::ConfigError;

/// Parses JSON strictly, reporting the key path of the first problem.
pub fn parse_strict<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, ConfigError> {
    let whole = |message: String| ConfigError {
        file: file.to_string(),
        key: None,
        message,
        also: Vec::new(),
    };
    // A settings file is one JSON object: not a list whose items would set
    // its fields by position, and nothing after it.
    match text.trim_start().chars().next() {
        Some('{') => {}
        Some(c) => {
            return Err(whole(format!(
                "expected a JSON object (`{{...}}`), found `{c}` at its start"
            )))
        }
        None => return Err(whole("empty, expected a JSON object (`{...}`)".into())),
    }
    let de = &mut serde_json::Deserializer::from_str(text);
    let value: T = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let syntax = inner.is_syntax() || inner.is_eof();
        let key = (!syntax && path != "." && !path.is_empty()).then_some(path);
        let message = if syntax {
            format!("not valid JSON ({inner})")
        } else {
            inner.to_string()
        };
        ConfigError {
            file: file.to_string(),
            key,
            message,
            also: Vec::new(),
        }
    })?;
    de.end()
        .map_err(|e| whole(format!("not valid JSON: more after its object ({e})")))?;
    Ok(value)
}

/// Parses JSON strictly, as `parse_strict`, but goes on past a key with a
/// problem: the key is taken out (its default applies) and the rest read
/// again, so every such problem is found, each named by its key; the value
/// read around them, when the text is JSON at all.
pub fn parse_around<T: DeserializeOwned>(file: &str, text: &str) -> (Option<T>, Vec<ConfigError>) {
    let first = match parse_strict::<T>(file, text) {
        Ok(v) => return (Some(v), Vec::new()),
        Err(e) => e,
    };
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(text) else {
        return (None, vec![first]);
    };
    let mut problems = Vec::new();
    let mut next = first;
    // Each pass takes out one key; a file has far fewer.
    for _ in 0..64 {
        let removed = next
            .key
            .as_deref()
            .is_some_and(|k| remove_key(&mut value, k));
        problems.push(next);
        if !removed {
            return (None, problems);
        }
        match parse_strict::<T>(file, &value.to_string()) {
            Ok(v) => return (Some(v), problems),
            // Its place is in a text rewritten here: the key says where.
            Err(e) => {
                next = ConfigError {
                    message: without_position(&e.message),
                    ..e
                };
            }
        }
    }
    (None, problems)
}

/// Takes the key at a dotted path (`capacity.max_workers`; an array's
/// element, `agent.command[0]`, takes out the array) out of `value`.
fn remove_key(value: &mut serde_json::Value, path: &str) -> bool {
    let path = path.split('[').next().unwrap_or(path);
    let mut parts: Vec<&str> = path.split('.').collect();
    let Some(last) = parts.pop() else {
        return false;
    };
    let mut at = value;
    for p in parts {
        match at.get_mut(p) {
            Some(next) => at = next,
            None => return false,
        }
    }
    at.as_object_mut().is_some_and(|o| o.remove(last).is_some())
}

/// serde's message without its " at line L column C".
fn without_position(message: &str) -> String {
    match message.rsplit_once(" at line ") {
        Some((head, tail)) if tail.contains(" column ") => head.to_string(),
        _ => message.to_string(),
    }
}
