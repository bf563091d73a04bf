// Calls the core's `greet` command once at load and on each submit.
const invoke = (cmd, args) => window.__TAURI_INTERNALS__.invoke(cmd, args);

async function ask() {
  const out = document.getElementById("answer");
  try {
    out.textContent = await invoke("greet", { name: document.getElementById("name").value });
  } catch (e) {
    out.textContent = `The core did not answer: ${e}`;
  }
}

document.getElementById("ask").addEventListener("submit", (e) => {
  e.preventDefault();
  void ask();
});
void ask();
