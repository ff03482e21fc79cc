// Same-origin calls: devproxy forwards /api to FastAPI, so no CORS anywhere.
const list = document.getElementById("items");

function show({ items }) {
  list.replaceChildren(...items.map((name) => Object.assign(document.createElement("li"),
    { textContent: name })));
  document.body.dataset.state = "loaded";
}

document.getElementById("add").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = new FormData(event.target).get("name");
  const response = await fetch("/api/items", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name }),
  });
  show(await response.json());
  event.target.reset();
});

show(await (await fetch("/api/items")).json());
