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
        let message_text = inner.to_string();
        // A field that is missing is named as the key it would have.
        let key = match missing_field(&message_text) {
            Some(field) if !syntax => Some(match path.as_str() {
                "" | "." => field.to_string(),
                at => format!("{at}.{field}"),
            }),
            _ => (!syntax && path != "." && !path.is_empty()).then_some(path),
        };
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

/// The field a "missing field `x`" message names.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// Parses JSON strictly, as `parse_strict`, but goes on past a key with a
/// problem: a stand-in takes its place (the key taken out, so its default
/// applies, or, for a key that must be there, a value of its type) and the
/// rest is read again, so every such problem is found once, each named by
/// its key, and none is made up by a stand-in; the value read around them,
/// when the text is JSON at all (its stood-in keys are the problems' keys:
/// `without_stood_in` leaves out what a rule says of them).
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
    // Each pass stands in for one key; a file has far fewer.
    for _ in 0..64 {
        let key = next.key.clone();
        problems.push(next);
        let Some(stood_in) = key.and_then(|k| stand_in::<T>(file, &value, &k)) else {
            return (None, problems);
        };
        value = stood_in;
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

/// `value` with a stand-in for the key at `path` that reads without a
/// problem at that key: the key taken out, else a value of some JSON type
/// in its place. None when no stand-in does.
fn stand_in<T: DeserializeOwned>(
    file: &str,
    value: &serde_json::Value,
    path: &str,
) -> Option<serde_json::Value> {
    use serde_json::json;
    let key = path.split('[').next().unwrap_or(path);
    let candidates = [
        None,
        Some(json!("")),
        Some(json!(0)),
        Some(json!(false)),
        Some(json!([])),
        Some(json!({})),
    ];
    candidates.into_iter().find_map(|c| {
        let mut v = value.clone();
        let placed = match c {
            None => remove_key(&mut v, key),
            Some(c) => set_key(&mut v, key, c),
        };
        let fine = placed
            && parse_strict::<T>(file, &v.to_string())
                .err()
                .is_none_or(|e| e.key.as_deref().is_none_or(|k| !under(k, key)));
        fine.then_some(v)
    })
}

/// Sets the key at a dotted path to `to`, its parent object being there.
fn set_key(value: &mut serde_json::Value, path: &str, to: serde_json::Value) -> bool {
    parent_of(value, path)
        .map(|(o, last)| o.insert(last.to_string(), to))
        .is_some()
}

/// The object holding the key at a dotted path, and the key's own name.
fn parent_of<'v, 'p>(
    value: &'v mut serde_json::Value,
    path: &'p str,
) -> Option<(&'v mut serde_json::Map<String, serde_json::Value>, &'p str)> {
    let (parents, last) = match path.rsplit_once('.') {
        Some((parents, last)) => (Some(parents), last),
        None => (None, path),
    };
    let mut at = value;
    for p in parents.into_iter().flat_map(|p| p.split('.')) {
        at = at.get_mut(p)?;
    }
    at.as_object_mut().map(|o| (o, last))
}

/// True when key path `k` is `key` or inside it (`key.x`, `key[0]`).
fn under(k: &str, key: &str) -> bool {
    k.strip_prefix(key)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

/// Rules' problems about keys a parse problem already names (keys read
/// around, their stand-ins' values not the file's) are left out: each key
/// is said once, for what the file says.
pub fn without_stood_in(parsed: &[ConfigError], more: Vec<ConfigError>) -> Vec<ConfigError> {
    let stood_in = |k: &str| {
        parsed
            .iter()
            .filter_map(|p| p.key.as_deref())
            .any(|p| under(k, p.split('[').next().unwrap_or(p)))
    };
    more.into_iter()
        .filter(|m| m.key.as_deref().is_none_or(|k| !stood_in(k)))
        .collect()
}

/// Takes the key at a dotted path (`capacity.max_workers`; an array's
/// element, `agent.command[0]`, takes out the array) out of `value`.
fn remove_key(value: &mut serde_json::Value, path: &str) -> bool {
    let path = path.split('[').next().unwrap_or(path);
    parent_of(value, path).is_some_and(|(o, last)| o.remove(last).is_some())
}

/// serde's message without its " at line L column C".
fn without_position(message: &str) -> String {
    match message.rsplit_once(" at line ") {
        Some((head, tail)) if tail.contains(" column ") => head.to_string(),
        _ => message.to_string(),
    }
}
