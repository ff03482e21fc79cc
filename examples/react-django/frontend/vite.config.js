import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// No server.proxy here: devproxy is the one origin.
export default defineConfig({ plugins: [react()] });
