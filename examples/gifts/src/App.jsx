import { useRef, useState } from "react";
import { useRelayState } from "@relay/client/react";

// Gifts by id: every change names the gift it changes, so edits made at the same time (or offline) never land on
// another gift, whatever order the server puts them in. The list shows them in the order they were added.
const initialState = { gifts: {} };

/** A gift list shared by everyone on the same document: add a gift, reserve one (and take it back). */
export function App({ relayUrl }) {
  const received = useRef(0);
  const [gifts, update, connection] = useRelayState(relayUrl, initialState, {
    onPatch: (_payload, info) => {
      if (!info.own) received.current++;
    },
  });
  const [name, setName] = useState("");

  const add = (event) => {
    event.preventDefault();
    const trimmed = name.trim();
    if (!trimmed) return;
    const id = crypto.randomUUID();
    if (update((draft) => void (draft.gifts[id] = { name: trimmed, reserved: false, added: Date.now() }))) setName("");
  };
  const toggle = (id) =>
    update((draft) => {
      const gift = draft.gifts[id];
      if (gift) gift.reserved = !gift.reserved;
    });
  const list = Object.entries(gifts.gifts)
    .map(([id, gift]) => ({ id, ...gift }))
    .sort((a, b) => a.added - b.added || a.id.localeCompare(b.id));

  // How the connection joined, while it is open: `connecting` covers an attempt and a socket whose hello is not
  // in yet, and an earlier join says nothing about the connection to come.
  const join = connection.lastJoin;
  const joined =
    connection.status !== "open" || join === null ? "" : join.resumed ? " · resumed" : join.reset ? " · rebuilt" : " · joined";
  return (
    <main>
      <h1>Gifts</h1>
      <form onSubmit={add}>
        <input aria-label="Gift" placeholder="A gift" value={name} onChange={(e) => setName(e.target.value)} />
        <button type="submit">Add</button>
      </form>
      <ul>
        {list.map((gift) => (
          <li key={gift.id} data-reserved={gift.reserved}>
            <span className="name">{gift.name}</span>{" "}
            <button onClick={() => toggle(gift.id)}>{gift.reserved ? "Unreserve" : "Reserve"}</button>
            {gift.reserved ? " reserved" : ""}
          </li>
        ))}
      </ul>
      <footer>
        <small data-testid="connection" data-status={connection.status} data-resumed={String(join?.resumed ?? false)}>
          {connection.status}
          {joined} · {connection.pending} pending · {received.current} received
        </small>
      </footer>
    </main>
  );
}
