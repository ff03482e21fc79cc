async function hello() {
  const { message, visits } = await (await fetch("/api/hello")).json();
  document.getElementById("message").textContent = message;
  document.getElementById("visits").textContent = visits;
  document.body.dataset.visits = visits;
}
document.getElementById("again").addEventListener("click", hello);
hello();
