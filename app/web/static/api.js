// The JSON API as the dashboard calls it. The key lives in sessionStorage: asked for once on
// a 401, sent as a Bearer header, forgotten when the browser tab closes.
"use strict";
const Api = (() => {
  const KEY = "kalmanac.key";

  function headers(extra) {
    const key = sessionStorage.getItem(KEY);
    return { ...(key ? { Authorization: `Bearer ${key}` } : {}), ...extra };
  }

  // detail: the uniform 4xx body's items ({field, msg, ...}), or [] for other errors.
  class ApiError extends Error {
    constructor(status, body) {
      const items = Array.isArray(body.detail) ? body.detail : [];
      super(typeof body.detail === "string" ? body.detail
        : items.map((d) => `${d.field}: ${d.msg}`).join("; ") || `HTTP ${status}`);
      this.status = status;
      this.detail = items;
    }
  }

  // Shows the key form and resolves once a key has been entered.
  function askKey() {
    const dialog = document.getElementById("key-dialog");
    dialog.hidden = false;
    return new Promise((resolve) => {
      dialog.querySelector("form").onsubmit = (ev) => {
        ev.preventDefault();
        sessionStorage.setItem(KEY, dialog.querySelector("input").value.trim());
        dialog.hidden = true;
        resolve();
      };
    });
  }

  async function request(method, path, body) {
    for (;;) {
      const r = await fetch(path, {
        method,
        headers: headers(body ? { "Content-Type": "application/json" } : {}),
        body: body ? JSON.stringify(body) : undefined,
      });
      if (r.status === 401) { await askKey(); continue; }
      if (!r.ok) throw new ApiError(r.status, await r.json().catch(() => ({})));
      return r;
    }
  }

  const get = async (path) => (await request("GET", path)).json();
  const post = async (path, body) => (await request("POST", path, body)).json();
  const blob = async (path) => (await request("GET", path)).blob();

  // Server-sent events read through fetch (EventSource cannot send an Authorization header).
  // Calls onEvent(name, data) per event until the stream ends or signal aborts.
  async function events(path, onEvent, signal) {
    const r = await fetch(path, { headers: headers(), signal });
    if (!r.ok) throw new ApiError(r.status, await r.json().catch(() => ({})));
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let name = "message", data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) name = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (data) onEvent(name, JSON.parse(data));
      }
    }
  }

  return { get, post, blob, events, askKey, ApiError };
})();
