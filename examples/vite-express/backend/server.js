// An Express API without the cors package: behind devproxy the browser never sees
// another origin. The cookie shows that cookies work as on any single-origin site.
import express from "express";

const app = express();
app.get("/api/hello", (req, res) => {
  const visits = Number((req.headers.cookie || "").match(/visits=(\d+)/)?.[1] || 0) + 1;
  res.cookie("visits", String(visits), { httpOnly: true, sameSite: "lax", path: "/" });
  res.json({ message: "Hello from Express", visits });
});

const port = Number(process.env.PORT || 3000);
app.listen(port, "localhost", () => console.log(`express on ${port}`));
