// Production entry: inside the Tauri webview, talk to the engine; anywhere
// else, say that this page only works inside Cortex.
import "./style.css";
import { createTauriApi, insideTauri } from "./api";
import { boot } from "./app/boot";

void boot(insideTauri() ? createTauriApi() : null);
