// Production entry: inside the Tauri webview, talk to the engine; anywhere
// else, say that this page only works inside Cortex.
import "./style.css";
import { createTauriApi, insideTauri } from "./api";
import { boot } from "./app/boot";

// Set by the shell when it opens the window on a worker (a tray entry or a
// notification clicked while the window was closed).
const openWorker = (window as { __CORTEX_OPEN_WORKER__?: unknown }).__CORTEX_OPEN_WORKER__;

void boot(insideTauri() ? createTauriApi() : null, typeof openWorker === "string" ? { workerId: openWorker } : {});
