import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App.jsx";
import "./styles.css";

// The document lives on the Relay the page names with ?relay=, else on the one `dotnet run --project src/Gateway`
// starts (port 5001), under gifts/family.
const relayUrl = new URLSearchParams(location.search).get("relay") ?? `ws://${location.hostname}:5001/gifts/family`;

createRoot(document.getElementById("root")).render(
  <StrictMode>
    <App relayUrl={relayUrl} />
  </StrictMode>,
);
