//! The baselines that `bench/desktop/measure.py` compares the Cortex app's
//! memory against: a Tauri window (same Tauri version and features as the
//! app) showing either an empty page (`empty`, the default) or the smallest
//! page that does what every Tauri app does (`hello`: some text, a form, one
//! script that calls a command of the core and shows the answer).

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use tauri::{WebviewUrl, WebviewWindowBuilder};

#[tauri::command]
fn greet(name: &str) -> String {
    format!("Hello, {name}! The core answered.")
}

fn page(arg: Option<&str>) -> Result<&'static str, String> {
    match arg {
        None | Some("empty") => Ok("index.html"),
        Some("hello") => Ok("hello.html"),
        Some(other) => Err(format!(
            "unknown page {other:?}: expected `empty` or `hello`"
        )),
    }
}

fn main() {
    let arg = std::env::args().nth(1);
    let page = match page(arg.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cortex-bare-window: {e}");
            std::process::exit(2);
        }
    };
    let result = tauri::Builder::default()
        .invoke_handler(tauri::generate_handler![greet])
        .setup(move |app| {
            WebviewWindowBuilder::new(app, "main", WebviewUrl::App(page.into()))
                .title("bare")
                .inner_size(1280.0, 800.0)
                .build()?;
            Ok(())
        })
        .run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!("cortex-bare-window: {e}");
        std::process::exit(1);
    }
}
