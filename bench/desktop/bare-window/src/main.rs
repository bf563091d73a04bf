//! A Tauri window showing an empty page: the baseline that
//! `bench/desktop/measure.py` compares the Cortex app's memory against.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    if let Err(e) = tauri::Builder::default().run(tauri::generate_context!()) {
        eprintln!("cortex-bare-window: {e}");
        std::process::exit(1);
    }
}
