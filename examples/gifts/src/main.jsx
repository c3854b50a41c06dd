import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App, browserUser } from "./App.jsx";
import "./styles.css";

// The document lives on the Relay the page names with ?relay=, else on the one `dotnet run --project src/Gateway`
// starts (port 5001), under gifts/family.
const query = new URLSearchParams(location.search);
const relayUrl = new URL(query.get("relay") ?? `ws://${location.hostname}:5001/gifts/family`);
// The browser's user, for presence: its tabs show as one person.
const user = browserUser();
if (user) relayUrl.searchParams.set("user", user);
// ?persist=indexeddb keeps the page's unsent changes (and its last list) in IndexedDB: a tab closed offline loses
// nothing, and shows its list again when reopened, before it is back online.
const persist = query.get("persist") === "indexeddb" ? "indexeddb" : undefined;
// ?tabs=share: the page's tabs share one connection (one holds the socket, the others go through it).
const shareTabs = query.get("tabs") === "share";

createRoot(document.getElementById("root")).render(
  <StrictMode>
    <App relayUrl={relayUrl.toString()} persist={persist} shareTabs={shareTabs} />
  </StrictMode>,
);
