import { useEffect, useRef, useState } from "react";
import { usePresence, useRelayState } from "@relay/client/react";

// Gifts by id: every change names the gift it changes, so edits made at the same time (or offline) never land on
// another gift, whatever order the server puts them in. The list shows them in the order they were added.
// A gift is { name, reserved, added } and, once reserved by someone who gave a name, reservedBy: a gift written
// before reservedBy existed (or reserved without a name) still shows, as "Reserved".
const initialState = { gifts: {} };

// The page's client id, kept for the tab's session (sessionStorage survives a reload), as a session id would be. A
// reloaded page starts with no state under an id the server already holds patches of: the client then takes a new
// id (onClientId) and rebuilds from the history, so nothing it sent before or after the reload is lost.
const clientIdKey = "relay-gifts.client-id";
function sessionClientId() {
  try {
    const kept = sessionStorage.getItem(clientIdKey);
    if (kept) return kept;
    const fresh = crypto.randomUUID().replaceAll("-", "");
    sessionStorage.setItem(clientIdKey, fresh);
    return fresh;
  } catch {
    return undefined; // no storage: the client picks one for this page
  }
}
function keepClientId(id) {
  try {
    sessionStorage.setItem(clientIdKey, id);
  } catch {
    // not kept: the new id holds for this page
  }
}

// The name this browser reserves under, kept across reloads; storage may be unavailable (private modes).
const nameKey = "relay-gifts.name";
function storedName() {
  try {
    return localStorage.getItem(nameKey) ?? "";
  } catch {
    return "";
  }
}
function storeName(name) {
  try {
    localStorage.setItem(nameKey, name);
  } catch {
    // not kept: the name still holds for this page
  }
}

// Who is looking at the list (presence, docs/protocol.md "Presence and broadcasts"): each page is present with
// { name, hovering } (the gift under its pointer, or null), under the browser's user (a random id kept in
// localStorage, the `user` of its connection), so that one person's tabs show as one avatar.
const userKey = "relay-gifts.user";
export function browserUser() {
  try {
    const kept = localStorage.getItem(userKey);
    if (kept) return kept;
    const fresh = `u${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
    localStorage.setItem(userKey, fresh);
    return fresh;
  } catch {
    return undefined; // no storage: the server names the user after the connection
  }
}

/** A person's name as their newest tab says it. */
const nameOf = (person) => person.clients.at(-1).state.name || "Someone";
/** A steady colour per user. */
const hueOf = (user) => [...user].reduce((hash, c) => (hash * 31 + c.charCodeAt(0)) % 360, 7);

/**
 * Announces this page's presence and hands the others, grouped by user, to the app. usePresence rides on
 * useRelayState's connection (same URL); with shareTabs, where the tabs share one connection that carries no
 * presence, it opens one of its own in each tab (clients/js README), so each tab is present under the browser's user.
 */
function Presence({ relayUrl, state, onOthers }) {
  const [others, setMyPresence] = usePresence(relayUrl);
  const json = JSON.stringify(state);
  useEffect(() => void setMyPresence(JSON.parse(json)), [setMyPresence, json]);
  useEffect(() => onOthers(others), [onOthers, others]);
  return null;
}

/** The others looking at the list: an avatar per person, with how many of their tabs are open when more than one. */
function Viewers({ people }) {
  return (
    <div className="viewers" data-testid="viewers">
      <span className="label">{people.length === 0 ? "Only you are looking" : "Also looking:"}</span>
      {people.map((person) => (
        <span key={person.user} className="viewer" data-testid="viewer" data-user={person.user} title={nameOf(person)}>
          <span className="avatar" aria-hidden="true" style={{ background: `hsl(${hueOf(person.user)} 55% 45%)` }}>
            {nameOf(person).slice(0, 1).toUpperCase()}
          </span>
          <span className="who">{nameOf(person)}</span>
          {person.clients.length > 1 && <span className="tabs">×{person.clients.length}</span>}
        </span>
      ))}
    </div>
  );
}

const badges = {
  open: { label: "Online", hint: "Changes are saved as you make them." },
  connecting: { label: "Connecting…", hint: "Changes show here now and are sent once connected." },
  closed: { label: "Stopped", hint: "The connection stopped: changes are no longer sent." },
};

/** A gift list shared by everyone on the same document: add a gift, reserve one (and take it back). */
export function App({ relayUrl, persist, shareTabs = false }) {
  // The people looking at the list and the gift under this page's pointer.
  const [people, setPeople] = useState([]);
  const [hovering, setHovering] = useState(null);
  const received = useRef(0);
  // Why the client stopped for good (onStop reaches the app only for a stop it did not ask for itself), and whether
  // the last change was refused (update returned false: too many changes waiting to be sent).
  const [stopped, setStopped] = useState(null);
  const [refused, setRefused] = useState(false);
  const [gifts, update, connection] = useRelayState(relayUrl, initialState, {
    onPatch: (_payload, info) => {
      if (!info.own) received.current++;
    },
    onStop: (stop) => setStopped(stop),
    // Persisting, the client keeps its id in IndexedDB with its counter and unsent changes (a tab of its own per
    // id, README "Surviving a closed tab"); otherwise the page keeps only the id, for the tab's session.
    // Sharing one connection between tabs, the leading tab's client keeps the group's id in IndexedDB.
    ...(persist || shareTabs ? { persist, shareTabs } : { clientId: sessionClientId(), onClientId: keepClientId }),
  });
  const [giftName, setGiftName] = useState("");
  const [me, setMe] = useState(storedName);

  const change = (recipe) => {
    const accepted = update(recipe);
    setRefused(!accepted);
    return accepted;
  };
  const add = (event) => {
    event.preventDefault();
    const trimmed = giftName.trim();
    if (!trimmed) return;
    const id = crypto.randomUUID();
    if (change((draft) => void (draft.gifts[id] = { name: trimmed, reserved: false, added: Date.now() }))) setGiftName("");
  };
  const toggle = (id) =>
    change((draft) => {
      const gift = draft.gifts[id];
      if (!gift) return;
      gift.reserved = !gift.reserved;
      const by = me.trim();
      if (gift.reserved && by) gift.reservedBy = by;
      else if ("reservedBy" in gift) delete gift.reservedBy;
    });
  const rename = (event) => {
    setMe(event.target.value);
    storeName(event.target.value);
  };
  const list = Object.entries(gifts.gifts)
    .map(([id, gift]) => ({ id, ...gift }))
    .sort((a, b) => a.added - b.added || a.id.localeCompare(b.id));
  const reservedCount = list.filter((gift) => gift.reserved).length;
  const lookingAt = (id) => people.filter((person) => person.clients.some((c) => c.state.hovering === id)).map(nameOf);

  // How the connection joined, while it is open: `connecting` covers an attempt and a socket whose hello is not
  // in yet, and an earlier join says nothing about the connection to come.
  const join = connection.lastJoin;
  const joined =
    connection.status !== "open" || join === null ? "" : join.resumed ? " · resumed" : join.reset ? " · rebuilt" : " · joined";
  const badge = badges[connection.status] ?? badges.connecting;
  const unsent = connection.pending === 1 ? "1 change was not saved" : `${connection.pending} changes were not saved`;
  const error =
    stopped || connection.status === "closed"
      ? `The connection to this list has stopped${stopped?.detail ? ` (${stopped.detail})` : ""}. ${connection.pending > 0 ? `${unsent}; ` : ""}reload the page to try again.`
      : refused
        ? "That change was not taken: too many changes are still waiting to be sent. Try again once the list is back online."
        : null;
  return (
    <div className="app">
      <header className="bar">
        <div className="title">
          <h1>Gifts</h1>
          <p className="summary">
            {list.length === 1 ? "1 gift" : `${list.length} gifts`} · {reservedCount} reserved
          </p>
        </div>
        <span className="badge" data-testid="status-badge" data-status={connection.status} title={badge.hint}>
          <span className="dot" aria-hidden="true" />
          {badge.label}
          {connection.status !== "closed" && connection.pending > 0 ? ` · ${connection.pending} waiting` : ""}
        </span>
      </header>

      {error && (
        <div className="banner" role="alert" data-testid="error-banner" data-kind={stopped || connection.status === "closed" ? "stopped" : "refused"}>
          <strong>{stopped || connection.status === "closed" ? "Not connected." : "Not saved."}</strong> {error}
          {!stopped && connection.status !== "closed" && (
            <button type="button" className="dismiss" onClick={() => setRefused(false)}>
              Dismiss
            </button>
          )}
        </div>
      )}

      <Presence relayUrl={relayUrl} state={{ name: me.trim(), hovering }} onOthers={setPeople} />
      <Viewers people={people} />

      <main className="card">
        <label className="me">
          <span>Your name</span>
          <input value={me} onChange={rename} placeholder="Shown on the gifts you reserve" autoComplete="name" />
        </label>
        <form className="add" onSubmit={add}>
          <input aria-label="Gift" placeholder="A gift, e.g. a scarf" value={giftName} onChange={(e) => setGiftName(e.target.value)} />
          <button type="submit" className="primary">
            Add
          </button>
        </form>
        {list.length === 0 ? (
          <p className="empty">No gifts yet: add the first one above.</p>
        ) : (
          <ul className="gifts">
            {list.map((gift) => (
              <li
                key={gift.id}
                data-reserved={gift.reserved}
                className={gift.reserved ? "reserved" : ""}
                onMouseEnter={() => setHovering(gift.id)}
                onMouseLeave={() => setHovering((id) => (id === gift.id ? null : id))}
              >
                <div className="gift">
                  <span className="name">{gift.name}</span>
                  {lookingAt(gift.id).length > 0 && (
                    <span className="looking" data-testid="looking">
                      {lookingAt(gift.id).join(", ")} {lookingAt(gift.id).length === 1 ? "is" : "are"} looking at this
                    </span>
                  )}
                  {gift.reserved && (
                    <span className="by" data-testid="reserved-by">
                      {gift.reservedBy ? `Reserved by ${gift.reservedBy}` : "Reserved"}
                    </span>
                  )}
                </div>
                <button type="button" onClick={() => toggle(gift.id)}>
                  {gift.reserved ? "Unreserve" : "Reserve"}
                </button>
              </li>
            ))}
          </ul>
        )}
      </main>

      <footer className="foot">
        <small
          data-testid="connection"
          data-status={connection.status}
          data-resumed={String(join?.resumed ?? false)}
          data-leader={String(connection.leader ?? false)}
        >
          {connection.status}
          {joined} · {connection.pending} pending · {received.current} received
        </small>
      </footer>
    </div>
  );
}
