import { text } from "./message.js";

function render(message) {
  document.getElementById("msg").textContent = message;
}

render(text);

// An HMR boundary: a new message.js replaces the text without reloading the page.
if (import.meta.hot) {
  import.meta.hot.accept("./message.js", (module) => render(module.text));
}

// Same-origin API call through devproxy (the /api route of the test's config).
fetch("/api/hello")
  .then((response) => response.text())
  .then((body) => { document.getElementById("api").textContent = "api: " + body; })
  .catch((error) => { document.getElementById("api").textContent = "api failed: " + error; });
