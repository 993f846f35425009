import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { app } from "./store";
import { App } from "./ui/App";
import "./styles.css";

const root = createRoot(document.getElementById("root")!);
root.render(
  <StrictMode>
    <App />
  </StrictMode>,
);

void app.start().catch((error) => {
  console.error("IronPath failed to start", error);
  document.getElementById("root")!.textContent = "IronPath could not start in this browser.";
});

// The app shell is cached by a service worker so a reload without a connection still opens it.
if ("serviceWorker" in navigator && location.protocol !== "file:") {
  window.addEventListener("load", () => {
    navigator.serviceWorker.register("sw.js").catch((error) => console.warn("no offline shell", error));
  });
}
